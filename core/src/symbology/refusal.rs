//! Why a symbol was refused. The text of each refusal is the `detail` of the `unknown_symbol`
//! answer (SPEC §2, §4): it says what is wrong and what to send instead, naming only what the
//! sender sent or what the configuration publishes (exchange names, quote lists).

/// Why a TradingView symbol cannot be mapped to one instrument without guessing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymbolRefusal {
    /// Text no exchange writes: a symbol is ASCII.
    #[error("not an exchange symbol: symbols are ASCII letters and digits with . : ! _ -")]
    NotAscii,
    /// A ticker with no `EXCHANGE:` prefix that is not a canonical pair (`AAPL`, `BTCUSDT`).
    #[error(
        "no exchange: send {{{{exchange}}}}:{{{{ticker}}}} (e.g. NASDAQ:AAPL, BINANCE:BTCUSDT), or a canonical pair such as BTC-USD"
    )]
    NoExchange,
    /// The exchange prefix is not in the table.
    #[error(
        "unknown exchange {exchange}: send the exchange TradingView shows ({{{{exchange}}}}), or add it under symbology.exchanges"
    )]
    UnknownExchange {
        /// The exchange as sent, upper-cased, delay suffix stripped.
        exchange: String,
    },
    /// A crypto ticker that ends in no quote currency its exchange lists.
    #[error(
        "{ticker} ends in no quote currency {exchange} lists ({quotes}): send a pair with one of them, or add the quote to symbology.exchanges.{exchange}"
    )]
    UnknownQuote {
        /// The ticker.
        ticker: String,
        /// The exchange.
        exchange: String,
        /// The quotes it lists, space-separated.
        quotes: String,
    },
    /// A crypto exchange whose table lists no pairs of this kind (`KRAKEN:XBTUSD.P`).
    #[error(
        "{exchange} lists no {what} in the symbology table: add their quotes under symbology.exchanges.{exchange}, or an override"
    )]
    NotListedHere {
        /// The exchange.
        exchange: String,
        /// `spot pairs` or `perpetual swaps`.
        what: &'static str,
    },
    /// A ticker with characters or a shape its exchange's class never uses.
    #[error("{ticker} is not a ticker of {exchange}: {expected}")]
    BadTicker {
        /// The ticker.
        ticker: String,
        /// The exchange.
        exchange: String,
        /// What the exchange's tickers look like.
        expected: &'static str,
    },
    /// An FX-class ticker that is not six letters (`SPX500USD`, `US30`): a CFD or an index.
    #[error(
        "{ticker} is not a six-letter currency pair: CFDs and indices are not mapped; trade the future (e.g. CME_MINI:ES1!) or add an override"
    )]
    NotACurrencyPair {
        /// The ticker.
        ticker: String,
    },
    /// An FX-class ticker of six letters whose halves are not both known currency codes.
    #[error(
        "{code} in {ticker} is not a known currency code: CFDs are not mapped; if it is a currency, add it under symbology.fx_currencies"
    )]
    UnknownCurrency {
        /// The ticker.
        ticker: String,
        /// The half that is not a currency.
        code: String,
    },
    /// A dated crypto future (`BTCUSDTH2026`, `BTCUSDT250328`).
    #[error(
        "{ticker} is a dated crypto future: not mapped; send the perpetual (e.g. BTCUSDT.P) or add an override"
    )]
    DatedCryptoFuture {
        /// The ticker.
        ticker: String,
    },
    /// A continuous futures symbol on an exchange that lists no futures.
    #[error(
        "{ticker}: continuous futures are listed on futures exchanges (CME_MINI:ES1!); on {exchange} send the spot pair or the perpetual (.P)"
    )]
    ContinuousNotHere {
        /// The ticker.
        ticker: String,
        /// The exchange.
        exchange: String,
    },
    /// A continuous futures symbol of a root without a contract calendar.
    #[error(
        "no contract calendar for {root}: {root}{n}! cannot be resolved; send the explicit contract (e.g. {root}Z2026) or add symbology.calendars.{root}"
    )]
    NoCalendar {
        /// The root (`CL`).
        root: String,
        /// Which continuous contract (`1` for `1!`).
        n: u8,
    },
    /// A futures ticker that is neither an explicit contract nor a continuous symbol.
    #[error(
        "{ticker} is not a futures contract (root, month code, four-digit year: ESM2026) or a continuous symbol (ES1!, ES2!)"
    )]
    NotAFuturesTicker {
        /// The ticker.
        ticker: String,
    },
    /// A contract written with a two-digit year (`ESM26`).
    #[error("{ticker}: write the year in four digits, as TradingView does ({suggestion})")]
    TwoDigitYear {
        /// The ticker.
        ticker: String,
        /// The same contract, written as TradingView writes it.
        suggestion: String,
    },
    /// An explicit contract in a month its root does not list (`ESF2026`).
    #[error("{root} lists no contract in month {code}: its months are {months}")]
    MonthNotListed {
        /// The root.
        root: String,
        /// The month code sent.
        code: char,
        /// The listed month codes.
        months: String,
    },
    /// An explicit contract whose last trading day has passed, or a continuous symbol resolved
    /// at a past `alert_time` to one.
    #[error(
        "{contract} expired: its last trading day was {last_trading_day}; send {root}1! or a live contract"
    )]
    Expired {
        /// The contract, as TradingView writes it (`ESH2024`).
        contract: String,
        /// The root.
        root: String,
        /// Its last trading day (`YYYY-MM-DD`).
        last_trading_day: String,
    },
    /// The exchange calendar lists no holidays for a year a resolution needs.
    #[error(
        "the {calendar} holiday calendar does not cover {year}: add that year's holidays under symbology.exchange_calendars.{calendar}.holidays, or send the explicit contract"
    )]
    CalendarNotCovered {
        /// The exchange calendar (`CME`).
        calendar: String,
        /// The year it would need.
        year: i32,
    },
    /// A perpetual with no venue to name: a bare canonical `BTC-USDT-PERP`, or a perpetual on
    /// an exchange configured without a venue.
    #[error(
        "a perpetual is one venue's contract: send the exchange's symbol (e.g. BYBIT:BTCUSDT.P) on an exchange with a venue"
    )]
    PerpetualWithoutVenue,
    /// A bare canonical futures symbol (`ES-202606`): the contract's exchange is unknown.
    #[error(
        "a canonical futures symbol needs its exchange: send the TradingView contract (e.g. CME_MINI:ESM2026)"
    )]
    CanonicalFuture,
    /// A canonical-looking pair written with an alias (`BTC-USDT`, `XBT-USD`).
    #[error("{sent} is not canonical: send {canonical}")]
    NotCanonical {
        /// The pair as sent.
        sent: String,
        /// The same pair, canonical.
        canonical: String,
    },
    /// Longer than a TradingView symbol (64 characters) or, once mapped, a canonical one (32).
    #[error("too long: {what} has at most {max} characters")]
    TooLong {
        /// What would be too long: the symbol as sent, or the canonical symbol it maps to.
        what: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A canonical pair of two currency codes with no exchange (`EUR-USD`): FX or crypto?
    #[error(
        "{sent} could be an FX pair or a crypto pair: send the exchange's symbol (e.g. OANDA:EURUSD)"
    )]
    CurrencyPairWithoutExchange {
        /// The pair as sent.
        sent: String,
    },
    /// A canonical-looking pair with a quote that is not a known currency (`FOO-BAR`).
    #[error(
        "{quote} is not a known quote currency: send EXCHANGE:TICKER, or a canonical pair such as BTC-USD"
    )]
    UnknownCanonicalQuote {
        /// The quote as sent.
        quote: String,
    },
}
