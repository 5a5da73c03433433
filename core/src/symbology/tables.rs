//! The built-in symbology data (SPEC §4), as of [`AS_OF`]. Operators extend every table in
//! config (`symbology.*`); nothing here is consulted except through [`super::SymbolTable`].

use super::ExchangeClass;

/// The date this data was checked against the exchanges' listings.
pub const AS_OF: &str = "2026-12-01";

/// How an exchange's venue hint is derived.
#[derive(Clone, Copy)]
pub(super) enum Venue {
    /// The exchange name in lower case (crypto exchanges and FX brokers).
    OwnName,
    /// `cme`, for the CME Group's exchanges.
    Cme,
    /// No hint: equities (routed by the OMS) and data feeds that are not venues.
    None,
}

/// A built-in exchange: name, class, venue hint, the quotes of its spot pairs and the quotes
/// (margin currencies) of its perpetual swaps, each list space-separated.
pub(super) type BuiltinExchange = (
    &'static str,
    ExchangeClass,
    Venue,
    &'static str,
    &'static str,
);

/// Perpetual swaps' margin currencies on the exchanges that list them: linear (USDT, USDC) and
/// coin-margined (USD: `BINANCE:BTCUSD.P`).
const PERPS: &str = "USDT USDC USD";

/// The built-in exchanges (SPEC §4), with the quote currencies each lists pairs in.
///
/// A ticker is split at the longest quote its own exchange lists, never at one of another
/// exchange: `COINBASE:BATUSD` is BAT/USD, although `TUSD` is a quote on Binance, and
/// `KRAKEN:ADAEUR` is ADA/EUR, although `AEUR` is one too. Within one exchange's list no quote
/// ends in another, except where the exchange lists both (Gemini: `GUSD` and `USD`, where the
/// longest match reads `BTCGUSD` as BTC/GUSD), so a split can only yield a pair that exchange
/// could list. Spot and perpetual lists are apart because they differ: Binance lists no USD spot
/// pairs, but coin-margined `BNBUSD.P`, which a spot list holding `BUSD` would misread.
pub(super) const EXCHANGES: &[BuiltinExchange] = &[
    (
        "BINANCE",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC FDUSD TUSD BUSD USDP PAX DAI USD1 BTC ETH BNB XRP TRX DOGE DOT EUR EURI GBP \
         AUD BRL TRY JPY MXN PLN RON UAH ZAR ARS COP CZK NGN RUB IDRT BIDR BKRW BVND",
        PERPS,
    ),
    (
        "BINANCEUS",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USD USDT USDC BTC ETH BNB",
        "",
    ),
    (
        "COINBASE",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USD USDC USDT EUR GBP BTC ETH DAI",
        "",
    ),
    (
        "KRAKEN",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USD EUR GBP CAD JPY CHF AUD USDT USDC DAI XBT ETH",
        "",
    ),
    (
        "BITSTAMP",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USD EUR GBP USDT USDC BTC ETH",
        "",
    ),
    (
        "GEMINI",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USD GUSD EUR GBP SGD BTC ETH DAI",
        "",
    ),
    (
        "BYBIT",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC USDE BTC ETH EUR BRL TRY DAI",
        PERPS,
    ),
    (
        "OKX",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC USD BTC ETH EUR TRY BRL AED SGD AUD OKB",
        PERPS,
    ),
    (
        "BITGET",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC BTC ETH EUR BRL BGB",
        PERPS,
    ),
    (
        "KUCOIN",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC BTC ETH KCS TRX EUR BRL DAI",
        PERPS,
    ),
    (
        "MEXC",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC USDE BTC ETH EUR",
        PERPS,
    ),
    (
        "GATEIO",
        ExchangeClass::Crypto,
        Venue::OwnName,
        "USDT USDC BTC ETH TRY",
        PERPS,
    ),
    ("NASDAQ", ExchangeClass::Equity, Venue::None, "", ""),
    ("NYSE", ExchangeClass::Equity, Venue::None, "", ""),
    ("AMEX", ExchangeClass::Equity, Venue::None, "", ""),
    ("NYSEARCA", ExchangeClass::Equity, Venue::None, "", ""),
    ("BATS", ExchangeClass::Equity, Venue::None, "", ""),
    ("OANDA", ExchangeClass::Fx, Venue::OwnName, "", ""),
    ("FX", ExchangeClass::Fx, Venue::None, "", ""),
    ("FX_IDC", ExchangeClass::Fx, Venue::None, "", ""),
    ("FOREXCOM", ExchangeClass::Fx, Venue::OwnName, "", ""),
    ("FXCM", ExchangeClass::Fx, Venue::OwnName, "", ""),
    ("PEPPERSTONE", ExchangeClass::Fx, Venue::OwnName, "", ""),
    ("SAXO", ExchangeClass::Fx, Venue::OwnName, "", ""),
    ("CME", ExchangeClass::Futures, Venue::Cme, "", ""),
    ("CME_MINI", ExchangeClass::Futures, Venue::Cme, "", ""),
    ("CBOT", ExchangeClass::Futures, Venue::Cme, "", ""),
    ("CBOT_MINI", ExchangeClass::Futures, Venue::Cme, "", ""),
    ("NYMEX", ExchangeClass::Futures, Venue::Cme, "", ""),
    ("COMEX", ExchangeClass::Futures, Venue::Cme, "", ""),
];

/// The crypto class's quote currencies (SPEC §4's list and every quote an exchange above
/// lists), each with the currency it means in a canonical spot symbol when that differs: USD
/// stablecoins are `USD` on spot; derivative quotes are never aliased. Other tokens named after
/// a currency (`EURC`, `BIDR`) keep their name: a guess about a peg is not the bridge's to make.
pub(super) const QUOTES: &[(&str, Option<&str>)] = &[
    // Fiat.
    ("USD", None),
    ("EUR", None),
    ("GBP", None),
    ("JPY", None),
    ("TRY", None),
    ("BRL", None),
    ("AUD", None),
    ("CAD", None),
    ("CHF", None),
    ("MXN", None),
    ("ARS", None),
    ("COP", None),
    ("CZK", None),
    ("PLN", None),
    ("RON", None),
    ("UAH", None),
    ("ZAR", None),
    ("NGN", None),
    ("RUB", None),
    ("SGD", None),
    ("AED", None),
    // USD stablecoins: USD on spot.
    ("USDT", Some("USD")),
    ("USDC", Some("USD")),
    ("BUSD", Some("USD")),
    ("FDUSD", Some("USD")),
    ("TUSD", Some("USD")),
    ("USDP", Some("USD")),
    ("PAX", Some("USD")),
    ("GUSD", Some("USD")),
    ("PYUSD", Some("USD")),
    ("RLUSD", Some("USD")),
    ("USD1", Some("USD")),
    ("DAI", Some("USD")),
    ("USDE", Some("USD")),
    // Tokens named after a currency, kept as they are.
    ("EURC", None),
    ("AEUR", None),
    ("EURI", None),
    ("IDRT", None),
    ("BIDR", None),
    ("BKRW", None),
    ("BVND", None),
    // Crypto.
    ("BTC", None),
    ("XBT", None),
    ("ETH", None),
    ("BNB", None),
    ("XRP", None),
    ("TRX", None),
    ("DOGE", None),
    ("DOT", None),
    ("OKB", None),
    ("KCS", None),
    ("BGB", None),
];

/// Other spellings of one asset (Kraken's): applied to both sides of a pair, in every class.
pub(super) const BASE_ALIASES: &[(&str, &str)] = &[("XBT", "BTC"), ("XDG", "DOGE")];

/// Codes an FX ticker's halves may be: ISO 4217 currencies, offshore yuan and the precious
/// metals brokers quote as currencies.
pub(super) const FX_CURRENCIES: &str = "\
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN \
    BWP BYN BZD CAD CDF CHF CLP CNH CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR \
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD \
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT \
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG \
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS \
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR \
    ZMW ZWL XAU XAG XPT XPD";

/// The built-in exchange calendars: name, the UTC time of day a new trade date begins, and the
/// weekdays without a trade date.
///
/// `CME`: the days the New York Stock Exchange is closed. The CME's equity-index contracts
/// settle on the index, so these days have no trade date of their own (Globex trades on some of
/// them with an early halt, for the next trade date). Globex's trade date begins at 17:00
/// Chicago time; 22:00 UTC is that in summer and the daily halt in winter, so it is exact all
/// year.
pub(super) const EXCHANGE_CALENDARS: &[(&str, Option<u16>, &[&str])] = &[(
    "CME",
    Some(22 * 60),
    &[
        "2024-01-01",
        "2024-01-15",
        "2024-02-19",
        "2024-03-29",
        "2024-05-27",
        "2024-06-19",
        "2024-07-04",
        "2024-09-02",
        "2024-11-28",
        "2024-12-25", //
        "2025-01-01",
        "2025-01-09",
        "2025-01-20",
        "2025-02-17",
        "2025-04-18",
        "2025-05-26",
        "2025-06-19",
        "2025-07-04",
        "2025-09-01",
        "2025-11-27",
        "2025-12-25", //
        "2026-01-01",
        "2026-01-19",
        "2026-02-16",
        "2026-04-03",
        "2026-05-25",
        "2026-06-19",
        "2026-07-03",
        "2026-09-07",
        "2026-11-26",
        "2026-12-25", //
        "2027-01-01",
        "2027-01-18",
        "2027-02-15",
        "2027-03-26",
        "2027-05-31",
        "2027-06-18",
        "2027-07-05",
        "2027-09-06",
        "2027-11-25",
        "2027-12-24",
    ],
)];

/// The built-in contract calendars: roots, listed months, last-trading-day rule, roll offset in
/// business days, exchange calendar.
///
/// The CME equity-index roots list March, June, September and December and stop trading on the
/// third Friday (the business day before when it is a holiday, as on 2026-06-19). TradingView
/// does not publish its per-root offsets; 5 business days puts the switch on the Friday before
/// expiry week when that week has no holiday. TradersPost saw NQ1! switch "around June 14" 2024
/// ("Trading continuous futures contracts from TradingView", 2024-06-18), an expiry week with
/// the Juneteenth holiday, where these 5 business days give Thursday 13 June: a day apart, which
/// is as close as public figures allow. Users who need exactness send the explicit contract.
pub(super) const CONTRACT_CALENDARS: &[(&[&str], &str, &str, u8, &str)] = &[(
    &["ES", "MES", "NQ", "MNQ", "YM", "MYM", "RTY", "M2K"],
    "HMUZ",
    "3rd friday",
    5,
    "CME",
)];

/// Delayed-feed suffixes TradingView appends to exchange names (`NYMEX_DL`).
pub(super) const DELAY_SUFFIXES: &[&str] = &["_DLY", "_DL"];
