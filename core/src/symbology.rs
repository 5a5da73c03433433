//! Symbology: TradingView-style `EXCHANGE:TICKER` to a canonical MTS1B symbol and a venue hint.
//!
//! Everything that varies is data in [`SymbolTable`]: which exchange prefixes exist and their
//! asset class and venue, which quote currencies are recognised and how they are aliased, and
//! per-symbol overrides. Operators extend the table in config; the code only applies it.
//! Anything that cannot be mapped safely is refused: perpetuals (`.P`, `PERP`), continuous
//! futures (`ES1!`), bare tickers without an exchange, share classes with a dot, unknown
//! exchanges. A clear rejection beats a guess.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::{CanonicalSymbol, VenueHint};

/// The asset class of an exchange, which decides how its tickers are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetClass {
    /// Spot crypto pairs written `BASEQUOTE` (`BTCUSDT`): split at a recognised quote currency.
    Crypto,
    /// Listed equities and ETFs (`AAPL`): the ticker is the symbol.
    Equity,
    /// Currency pairs written `EURUSD`: three letters each side.
    Fx,
}

impl AssetClass {
    /// Reads a class name as written in config (`crypto`, `equity`, `fx`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "crypto" => Some(Self::Crypto),
            "equity" => Some(Self::Equity),
            "fx" => Some(Self::Fx),
            _ => None,
        }
    }
}

/// One exchange prefix: its asset class and the venue hint its orders carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// How the exchange's tickers are read.
    pub class: AssetClass,
    /// The OMS routing hint, if the venue matters for routing (crypto and FX venues do).
    pub venue: Option<VenueHint>,
}

/// A per-symbol mapping that wins over the rules (`BYBIT:ETHUSDT.P` → `ETH-USD-PERP` on `bybit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Override {
    /// The canonical symbol to use.
    pub symbol: CanonicalSymbol,
    /// The venue hint to use.
    pub venue: Option<VenueHint>,
}

/// The outcome of a successful mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapped {
    /// The canonical MTS1B symbol.
    pub symbol: CanonicalSymbol,
    /// Where the OMS should route it, when that matters.
    pub venue_hint: Option<VenueHint>,
}

/// Why a symbol was refused; the caller answers `unknown_symbol` whatever the reason, and the
/// reason goes to logs and to `validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymbolRefusal {
    /// `.P` or `PERP`: a perpetual swap, not the spot instrument.
    #[error("perpetual contracts are not mapped (add an override to trade one)")]
    Perpetual,
    /// `ES1!`: a continuous futures series, not a tradable contract.
    #[error("continuous futures are not mapped (add an override to trade one)")]
    ContinuousFuture,
    /// No `EXCHANGE:` prefix and not already canonical (`BTC-USD`).
    #[error("no exchange prefix: write EXCHANGE:TICKER or a canonical BASE-QUOTE symbol")]
    NoExchange,
    /// The exchange prefix is not in the table.
    #[error("exchange is not configured")]
    UnknownExchange,
    /// The ticker does not have the shape its asset class needs.
    #[error("ticker does not fit the exchange's asset class")]
    UnreadableTicker,
    /// A crypto ticker that ends in no recognised quote currency.
    #[error("no recognised quote currency at the end of the ticker")]
    UnknownQuote,
    /// A canonical-looking symbol whose quote is an alias (`BTC-USDT`): write the canonical quote.
    #[error("the quote currency is an alias: write the canonical symbol (BTC-USD, not BTC-USDT)")]
    AliasedQuote,
}

/// The symbology table: built-in defaults, extended by config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolTable {
    /// Exchange prefixes in upper case (`BINANCE`), without delayed-feed suffixes.
    pub exchanges: BTreeMap<String, Exchange>,
    /// Recognised quote currencies and what each means canonically (`USDT` → `USD`, `EUR` → `EUR`).
    pub quote_aliases: BTreeMap<String, String>,
    /// Overrides keyed by the upper-cased input, delay suffix stripped (`BYBIT:ETHUSDT.P`, or a
    /// bare `BTCUSDT`).
    pub overrides: BTreeMap<String, Override>,
}

/// Built-in exchanges: (prefix, class, venue).
const DEFAULT_EXCHANGES: &[(&str, AssetClass, Option<&str>)] = &[
    ("BINANCE", AssetClass::Crypto, Some("binance")),
    ("BINANCEUS", AssetClass::Crypto, Some("binanceus")),
    ("COINBASE", AssetClass::Crypto, Some("coinbase")),
    ("KRAKEN", AssetClass::Crypto, Some("kraken")),
    ("BITSTAMP", AssetClass::Crypto, Some("bitstamp")),
    ("GEMINI", AssetClass::Crypto, Some("gemini")),
    ("NASDAQ", AssetClass::Equity, None),
    ("NYSE", AssetClass::Equity, None),
    ("AMEX", AssetClass::Equity, None),
    ("NYSEARCA", AssetClass::Equity, None),
    ("BATS", AssetClass::Equity, None),
    ("OANDA", AssetClass::Fx, Some("oanda")),
    ("FX", AssetClass::Fx, None),
];

/// Built-in quote currencies and their canonical meaning.
const DEFAULT_QUOTES: &[(&str, &str)] = &[
    ("USD", "USD"),
    ("USDT", "USD"),
    ("USDC", "USD"),
    ("EUR", "EUR"),
    ("GBP", "GBP"),
    ("JPY", "JPY"),
    ("BTC", "BTC"),
    ("ETH", "ETH"),
];

/// Delayed-feed suffixes TradingView appends to exchange names (`NYMEX_DL`).
const DELAY_SUFFIXES: &[&str] = &["_DLY", "_DL"];

impl Default for SymbolTable {
    fn default() -> Self {
        let exchanges = DEFAULT_EXCHANGES
            .iter()
            .map(|&(name, class, venue)| {
                let venue = venue.map(|v| VenueHint::parse(v).expect("built-in venue is valid"));
                (name.to_owned(), Exchange { class, venue })
            })
            .collect();
        let quote_aliases = DEFAULT_QUOTES
            .iter()
            .map(|&(q, c)| (q.to_owned(), c.to_owned()))
            .collect();
        Self {
            exchanges,
            quote_aliases,
            overrides: BTreeMap::new(),
        }
    }
}

impl SymbolTable {
    /// Maps a TradingView symbol (any letter case) to its canonical symbol and venue hint.
    pub fn map(&self, input: &str) -> Result<Mapped, SymbolRefusal> {
        let key = override_key(input);
        let (exchange, ticker) = match key.split_once(':') {
            Some((exchange, ticker)) => (Some(exchange), ticker),
            None => (None, key.as_str()),
        };
        if let Some(o) = self.overrides.get(&key) {
            return Ok(Mapped {
                symbol: o.symbol.clone(),
                venue_hint: o.venue.clone(),
            });
        }
        if ticker.ends_with(".P") || ticker.ends_with("PERP") {
            return Err(SymbolRefusal::Perpetual);
        }
        if ticker.contains('!') {
            return Err(SymbolRefusal::ContinuousFuture);
        }
        let Some(exchange) = exchange else {
            return self.already_canonical(ticker);
        };
        let venue = self
            .exchanges
            .get(exchange)
            .ok_or(SymbolRefusal::UnknownExchange)?;
        if ticker.is_empty() || !ticker.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SymbolRefusal::UnreadableTicker);
        }
        let symbol = match venue.class {
            AssetClass::Equity => CanonicalSymbol::parse(ticker).ok(),
            AssetClass::Fx => self.fx_pair(ticker),
            AssetClass::Crypto => Some(self.crypto_pair(ticker)?),
        }
        .ok_or(SymbolRefusal::UnreadableTicker)?;
        Ok(Mapped {
            symbol,
            venue_hint: venue.venue.clone(),
        })
    }

    /// `BTC-USD` passes through if both sides are plain and the quote is not an alias of another
    /// currency (`BTC-USDT` is refused rather than silently re-quoted).
    fn already_canonical(&self, ticker: &str) -> Result<Mapped, SymbolRefusal> {
        let (base, quote) = ticker.split_once('-').ok_or(SymbolRefusal::NoExchange)?;
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !plain(base) || !plain(quote) {
            return Err(SymbolRefusal::UnreadableTicker);
        }
        if self
            .quote_aliases
            .get(quote)
            .is_some_and(|canonical| canonical != quote)
        {
            return Err(SymbolRefusal::AliasedQuote);
        }
        let symbol =
            CanonicalSymbol::pair(base, quote).map_err(|_| SymbolRefusal::UnreadableTicker)?;
        Ok(Mapped {
            symbol,
            venue_hint: None,
        })
    }

    fn fx_pair(&self, ticker: &str) -> Option<CanonicalSymbol> {
        if ticker.len() != 6 || !ticker.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        CanonicalSymbol::pair(&ticker[..3], &ticker[3..]).ok()
    }

    /// Splits at the longest recognised quote currency that leaves a non-empty base.
    fn crypto_pair(&self, ticker: &str) -> Result<CanonicalSymbol, SymbolRefusal> {
        let (base, canonical_quote) = self
            .quote_aliases
            .iter()
            .filter(|(quote, _)| ticker.len() > quote.len() && ticker.ends_with(quote.as_str()))
            .max_by_key(|(quote, _)| quote.len())
            .map(|(quote, canonical)| (&ticker[..ticker.len() - quote.len()], canonical))
            .ok_or(SymbolRefusal::UnknownQuote)?;
        CanonicalSymbol::pair(base, canonical_quote).map_err(|_| SymbolRefusal::UnreadableTicker)
    }
}

/// The form symbols are matched in, and overrides keyed by: upper case, delayed-feed suffix
/// stripped from the exchange (`nymex_dl:cl1!` → `NYMEX:CL1!`).
pub fn override_key(input: &str) -> String {
    let upper = input.to_ascii_uppercase();
    match upper.split_once(':') {
        Some((exchange, ticker)) => format!("{}:{ticker}", strip_delay(exchange)),
        None => upper,
    }
}

fn strip_delay(exchange: &str) -> &str {
    DELAY_SUFFIXES
        .iter()
        .find_map(|suffix| exchange.strip_suffix(suffix))
        .unwrap_or(exchange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(s: &str) -> Result<(String, Option<String>), SymbolRefusal> {
        SymbolTable::default()
            .map(s)
            .map(|m| (m.symbol.to_string(), m.venue_hint.map(|v| v.to_string())))
    }

    fn ok(symbol: &str, venue: Option<&str>) -> Result<(String, Option<String>), SymbolRefusal> {
        Ok((symbol.to_owned(), venue.map(str::to_owned)))
    }

    #[test]
    fn maps_every_row_of_the_spec_table() {
        assert_eq!(map("BINANCE:BTCUSDT"), ok("BTC-USD", Some("binance")));
        assert_eq!(map("COINBASE:BTCUSD"), ok("BTC-USD", Some("coinbase")));
        assert_eq!(map("NASDAQ:AAPL"), ok("AAPL", None));
        assert_eq!(map("BATS:SPY"), ok("SPY", None));
        assert_eq!(map("OANDA:EURUSD"), ok("EUR-USD", Some("oanda")));
        assert_eq!(map("BTC-USD"), ok("BTC-USD", None));
    }

    #[test]
    fn every_mapped_pair_maps_to_itself() {
        let table = SymbolTable::default();
        for input in [
            "OANDA:EURCHF",
            "BINANCE:BTCUSDT",
            "KRAKEN:USDTUSD",
            "BINANCE:1INCHUSDC",
        ] {
            let mapped = table.map(input).unwrap().symbol;
            assert_eq!(
                table.map(mapped.as_str()).unwrap().symbol,
                mapped,
                "{input}"
            );
        }
    }

    #[test]
    fn ignores_case_and_delay_suffixes() {
        assert_eq!(map("binance:btcusdt"), ok("BTC-USD", Some("binance")));
        assert_eq!(map("NASDAQ_DL:AAPL"), ok("AAPL", None));
        assert_eq!(map("nasdaq_dly:aapl"), ok("AAPL", None));
        assert_eq!(map("btc-usd"), ok("BTC-USD", None));
    }

    #[test]
    fn splits_at_the_longest_quote() {
        assert_eq!(map("BINANCE:ETHBTC"), ok("ETH-BTC", Some("binance")));
        assert_eq!(map("BINANCE:SOLUSDC"), ok("SOL-USD", Some("binance")));
        assert_eq!(map("KRAKEN:USDTUSD"), ok("USDT-USD", Some("kraken")));
        assert_eq!(map("BINANCE:USDT"), Err(SymbolRefusal::UnknownQuote));
    }

    #[test]
    fn refuses_what_it_cannot_map_safely() {
        assert_eq!(map("BYBIT:ETHUSDT.P"), Err(SymbolRefusal::Perpetual));
        assert_eq!(map("BINANCE:BTCUSDT.P"), Err(SymbolRefusal::Perpetual));
        assert_eq!(map("BINANCE:BTCUSDTPERP"), Err(SymbolRefusal::Perpetual));
        assert_eq!(map("CME_MINI:ES1!"), Err(SymbolRefusal::ContinuousFuture));
        assert_eq!(map("NQ1!"), Err(SymbolRefusal::ContinuousFuture));
        assert_eq!(map("BTCUSDT"), Err(SymbolRefusal::NoExchange));
        assert_eq!(map("AAPL"), Err(SymbolRefusal::NoExchange));
        assert_eq!(map("FOO:BAR"), Err(SymbolRefusal::UnknownExchange));
        assert_eq!(map("NYSE:BRK.B"), Err(SymbolRefusal::UnreadableTicker));
        assert_eq!(map("OANDA:SPX500USD"), Err(SymbolRefusal::UnreadableTicker));
        assert_eq!(map("BINANCE:"), Err(SymbolRefusal::UnreadableTicker));
        assert_eq!(map("BTC-USDT"), Err(SymbolRefusal::AliasedQuote));
        assert_eq!(map("BTC-"), Err(SymbolRefusal::UnreadableTicker));
        assert_eq!(map(""), Err(SymbolRefusal::NoExchange));
    }

    #[test]
    fn config_extends_the_table() {
        let mut table = SymbolTable::default();
        table.exchanges.insert(
            "BYBIT".into(),
            Exchange {
                class: AssetClass::Crypto,
                venue: Some(VenueHint::parse("bybit").unwrap()),
            },
        );
        table.quote_aliases.insert("FDUSD".into(), "USD".into());
        table.overrides.insert(
            "BYBIT:ETHUSDT.P".into(),
            Override {
                symbol: CanonicalSymbol::parse("ETH-USD-PERP").unwrap(),
                venue: Some(VenueHint::parse("bybit").unwrap()),
            },
        );
        let m = |s: &str| table.map(s).map(|m| m.symbol.to_string());
        assert_eq!(m("BYBIT:ETHUSDT"), Ok("ETH-USD".into()));
        assert_eq!(m("bybit:ethusdt.p"), Ok("ETH-USD-PERP".into()));
        assert_eq!(m("BINANCE:BTCFDUSD"), Ok("BTC-USD".into()));
    }
}
