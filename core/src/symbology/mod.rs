//! Symbology (SPEC §4): a TradingView `EXCHANGE:TICKER` to a canonical MTS1B symbol, its
//! instrument class and a venue hint, or a refusal that says what to send instead.
//!
//! Everything that varies is data in [`SymbolTable`]: the exchanges and their classes, the
//! quote currencies (longest match first) and their spot aliases, base aliases, FX currency
//! codes, exchange holiday calendars, futures contract calendars and per-symbol overrides. The
//! built-ins live in `tables.rs`; operators extend every table in config. The code only applies
//! the tables, and refuses whatever they cannot map without a guess.

mod calendar;
mod crypto;
mod futures;
mod refusal;
mod tables;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::Date;

pub use calendar::{
    Anchor, ContractCalendar, ContractDates, ExchangeCalendar, LastTradingDay, ListedMonths,
    MONTH_CODES, Uncovered, code_of_month, month_of_code, utc_date,
};
pub use refusal::SymbolRefusal;
pub use tables::AS_OF;

use crate::ids::{CanonicalSymbol, VenueHint};
use crate::instrument::InstrumentClass;
use crate::time::UnixMillis;

/// How an exchange's tickers are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeClass {
    /// Crypto pairs `BASEQUOTE` (spot) and perpetual swaps `BASEQUOTE.P` / `BASEQUOTEPERP`.
    Crypto,
    /// Listed equities and ETFs: the ticker is the symbol.
    Equity,
    /// Currency pairs and metals: six letters, two currency codes.
    Fx,
    /// Futures: explicit contracts `ESM2026` and continuous symbols `ES1!`.
    Futures,
}

impl ExchangeClass {
    /// Reads a class name as written in config (`crypto`, `equity`, `fx`, `futures`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "crypto" => Some(Self::Crypto),
            "equity" => Some(Self::Equity),
            "fx" => Some(Self::Fx),
            "futures" => Some(Self::Futures),
            _ => None,
        }
    }
}

/// One exchange prefix: its class, the venue hint its orders carry and, for crypto
/// exchanges, the quote currencies it lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// How the exchange's tickers are read.
    pub class: ExchangeClass,
    /// The OMS routing hint, where the venue matters (crypto exchanges, FX brokers, the CME).
    pub venue: Option<VenueHint>,
    /// The quotes of its spot pairs: a ticker is split at the longest of these (each one of
    /// [`SymbolTable::quotes`]).
    pub quotes: BTreeSet<String>,
    /// The margin currencies of its perpetual swaps; empty when it lists none.
    pub perpetual_quotes: BTreeSet<String>,
}

impl Exchange {
    /// An exchange of `class` listing no crypto quotes (equity, FX and futures exchanges).
    pub fn new(class: ExchangeClass, venue: Option<VenueHint>) -> Self {
        Self {
            class,
            venue,
            quotes: BTreeSet::new(),
            perpetual_quotes: BTreeSet::new(),
        }
    }
}

/// A per-symbol mapping that wins over every rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Override {
    /// The canonical symbol to use.
    pub symbol: CanonicalSymbol,
    /// Its class (the symbol has that class's shape; config checks it).
    pub class: InstrumentClass,
    /// The venue hint to use.
    pub venue: Option<VenueHint>,
}

/// The outcome of a successful mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapped {
    /// The canonical MTS1B symbol.
    pub symbol: CanonicalSymbol,
    /// What kind of instrument it is.
    pub class: InstrumentClass,
    /// Where the OMS should route it, when that matters.
    pub venue_hint: Option<VenueHint>,
    /// The rule that made the mapping, in words: written only for [`SymbolTable::explain`]
    /// (formatting it costs more than the mapping itself on the hot path).
    #[serde(skip)]
    rule: String,
}

/// The rule text, formatted only when the caller asked for an explanation.
macro_rules! rule {
    ($explain:expr, $($arg:tt)*) => {
        if $explain { format!($($arg)*) } else { String::new() }
    };
}
pub(crate) use rule;

/// The times a mapping depends on: continuous futures resolve at the alert's time when it says
/// one (what TradingView's chart showed when the alert fired), else at receipt; expiry is
/// judged at receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// `alert_time`, when the alert carries one.
    pub alert_time: Option<UnixMillis>,
    /// When the bridge received it.
    pub received_at: UnixMillis,
}

impl Timing {
    /// Both times the same instant (the `symbol` command's `--at`).
    pub fn at(at: UnixMillis) -> Self {
        Self {
            alert_time: None,
            received_at: at,
        }
    }

    fn chart(self) -> UnixMillis {
        self.alert_time.unwrap_or(self.received_at)
    }
}

/// The symbology tables: built-in defaults ([`SymbolTable::default`]), extended by config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolTable {
    /// Exchange prefixes in upper case (`BINANCE`), without delayed-feed suffixes.
    pub exchanges: BTreeMap<String, Exchange>,
    /// The crypto class's quote currencies, each with the currency it is on spot when that
    /// differs (`USDT` → `USD`). Exchanges list which of them they use.
    pub quotes: BTreeMap<String, Option<String>>,
    /// Other spellings of one asset (`XBT` → `BTC`), applied to both sides of a pair.
    pub base_aliases: BTreeMap<String, String>,
    /// The codes an FX ticker's halves may be.
    pub fx_currencies: BTreeSet<String>,
    /// Holidays and trade-date boundaries, by calendar name (`CME`).
    pub exchange_calendars: BTreeMap<String, ExchangeCalendar>,
    /// Contract calendars, by futures root (`ES`).
    pub calendars: BTreeMap<String, ContractCalendar>,
    /// Overrides keyed by the upper-cased input, delay suffix stripped (`BYBIT:ETHUSDT.P`).
    pub overrides: BTreeMap<String, Override>,
}

/// The longest input mapped: the schema's limit for `symbol`.
const MAX_INPUT: usize = 64;

/// The longest quote currency the tables may hold.
pub const MAX_QUOTE_LEN: usize = 10;

impl Default for SymbolTable {
    fn default() -> Self {
        let venue = |name: &str, v: tables::Venue| match v {
            tables::Venue::OwnName => VenueHint::parse(&name.to_ascii_lowercase()).ok(),
            tables::Venue::Cme => VenueHint::parse("cme").ok(),
            tables::Venue::None => None,
        };
        let list = |codes: &str| codes.split_whitespace().map(str::to_owned).collect();
        let exchanges = tables::EXCHANGES
            .iter()
            .map(|&(name, class, v, quotes, perpetual_quotes)| {
                let exchange = Exchange {
                    class,
                    venue: venue(name, v),
                    quotes: list(quotes),
                    perpetual_quotes: list(perpetual_quotes),
                };
                (name.to_owned(), exchange)
            })
            .collect();
        let quotes = tables::QUOTES
            .iter()
            .map(|&(q, spot)| (q.to_owned(), spot.map(str::to_owned)))
            .collect();
        let base_aliases = tables::BASE_ALIASES
            .iter()
            .map(|&(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        let fx_currencies = tables::FX_CURRENCIES
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let exchange_calendars = tables::EXCHANGE_CALENDARS
            .iter()
            .map(|&(name, starts, holidays)| {
                let holidays = holidays
                    .iter()
                    .map(|d| parse_date(d).expect("built-in holiday is a date"))
                    .collect();
                let calendar = ExchangeCalendar {
                    holidays,
                    trade_date_starts: starts,
                };
                (name.to_owned(), calendar)
            })
            .collect();
        let mut calendars = BTreeMap::new();
        for &(roots, months, last, roll, exchange_calendar) in tables::CONTRACT_CALENDARS {
            let calendar = ContractCalendar {
                months: ListedMonths::parse(months).expect("built-in months are month codes"),
                last_trading_day: LastTradingDay::parse(last).expect("built-in rule parses"),
                roll_business_days: roll,
                exchange_calendar: exchange_calendar.to_owned(),
            };
            for root in roots {
                calendars.insert((*root).to_owned(), calendar.clone());
            }
        }
        Self {
            exchanges,
            quotes,
            base_aliases,
            fx_currencies,
            exchange_calendars,
            calendars,
            overrides: BTreeMap::new(),
        }
    }
}

/// Whether `code` is one of the built-in FX currency codes (for records that predate the
/// recorded instrument class).
pub fn is_builtin_fx_currency(code: &str) -> bool {
    tables::FX_CURRENCIES.split_whitespace().any(|c| c == code)
}

/// Reads a `YYYY-MM-DD` date, with the `time` crate's parser.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let format = time::format_description::parse_borrowed::<2>("[year]-[month]-[day]")
        .expect("the format description is valid");
    Date::parse(text, &format).map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

fn alnum(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl SymbolTable {
    /// Maps a TradingView symbol (any letter case) to its canonical symbol, class and venue
    /// hint, or says why it cannot.
    pub fn map(&self, input: &str, timing: Timing) -> Result<Mapped, SymbolRefusal> {
        self.resolve(input, timing, false)
    }

    /// Maps like [`SymbolTable::map`], and says in words which rule made the mapping.
    pub fn explain(&self, input: &str, timing: Timing) -> Result<(Mapped, String), SymbolRefusal> {
        let mut mapped = self.resolve(input, timing, true)?;
        let rule = std::mem::take(&mut mapped.rule);
        Ok((mapped, rule))
    }

    fn resolve(&self, input: &str, timing: Timing, explain: bool) -> Result<Mapped, SymbolRefusal> {
        if input.len() > MAX_INPUT {
            return Err(SymbolRefusal::TooLong {
                what: "a TradingView symbol",
                max: MAX_INPUT,
            });
        }
        let key = override_key(input);
        if let Some(o) = self.overrides.get(&key) {
            return Ok(Mapped {
                symbol: o.symbol.clone(),
                class: o.class,
                venue_hint: o.venue.clone(),
                rule: rule!(explain, "override for {key}"),
            });
        }
        // Every rule below reads ASCII (and slices it by byte); no exchange writes other text.
        if !key.is_ascii() {
            return Err(SymbolRefusal::NotAscii);
        }
        let Some((exchange, ticker)) = key.split_once(':') else {
            return self.bare(&key, explain);
        };
        let Some(found) = self.exchanges.get(exchange) else {
            return Err(SymbolRefusal::UnknownExchange {
                exchange: exchange.to_owned(),
            });
        };
        match found.class {
            ExchangeClass::Crypto => self.crypto(exchange, found, ticker, explain),
            ExchangeClass::Equity => equity(exchange, ticker, explain),
            ExchangeClass::Fx => self.fx(exchange, found, ticker, explain),
            ExchangeClass::Futures => self.futures(exchange, found, ticker, timing, explain),
        }
    }

    /// What an operator should know at start: exchange calendars whose known holidays end
    /// within 90 days of `now` (continuous futures of their roots will then be refused until
    /// the next year's holidays are added).
    pub fn calendar_warnings(&self, now: UnixMillis) -> Vec<String> {
        let soon = UnixMillis(now.as_millis() + 90 * 86_400_000);
        let (today, later) = (utc_date(now), utc_date(soon));
        self.exchange_calendars
            .iter()
            .filter(|(name, _)| self.calendars.values().any(|c| &c.exchange_calendar == *name))
            .filter_map(|(name, calendar)| {
                let (_, last) = calendar.coverage()?;
                (later.year() > last).then(|| {
                    format!(
                        "the {name} holiday calendar ends with {last} (today is {today}): continuous futures that need a later year will be refused; add its holidays under symbology.exchange_calendars.{name}.holidays"
                    )
                })
            })
            .collect()
    }

    /// A symbol without an exchange: only a canonical pair written without aliases passes.
    fn bare(&self, key: &str, explain: bool) -> Result<Mapped, SymbolRefusal> {
        let parts: Vec<&str> = key.split('-').collect();
        let (base, quote) = match parts.as_slice() {
            [base, quote] if alnum(base) && alnum(quote) => (*base, *quote),
            [base, quote, "PERP"] if alnum(base) && alnum(quote) => {
                return Err(SymbolRefusal::PerpetualWithoutVenue);
            }
            _ => return Err(SymbolRefusal::NoExchange),
        };
        if quote.len() == 6 && quote.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SymbolRefusal::CanonicalFuture);
        }
        let known_quote = self.quotes.contains_key(quote)
            || self.fx_currencies.contains(quote)
            || self.quotes.values().flatten().any(|q| q == quote);
        if !known_quote {
            return Err(SymbolRefusal::UnknownCanonicalQuote {
                quote: quote.to_owned(),
            });
        }
        let canonical_base = self.asset(base);
        let canonical_quote = self.spot_quote(quote);
        if canonical_base != base || canonical_quote != quote {
            return Err(SymbolRefusal::NotCanonical {
                sent: key.to_owned(),
                canonical: format!("{canonical_base}-{canonical_quote}"),
            });
        }
        // Two currency codes could be an FX pair or a crypto pair (SOS is a shilling and a
        // token): without an exchange the class would be a guess.
        if self.fx_currencies.contains(base) && self.fx_currencies.contains(quote) {
            return Err(SymbolRefusal::CurrencyPairWithoutExchange {
                sent: key.to_owned(),
            });
        }
        Ok(Mapped {
            symbol: canonical(key)?,
            class: InstrumentClass::Spot,
            venue_hint: None,
            rule: rule!(
                explain,
                "already canonical: a crypto spot pair (no exchange, no venue hint)"
            ),
        })
    }

    /// A base asset under its canonical name.
    fn asset<'a>(&'a self, code: &'a str) -> &'a str {
        self.base_aliases.get(code).map_or(code, String::as_str)
    }

    /// A quote on spot: its stablecoin alias, else its canonical asset name.
    fn spot_quote<'a>(&'a self, quote: &'a str) -> &'a str {
        match self.quotes.get(quote) {
            Some(Some(alias)) => alias,
            _ => self.asset(quote),
        }
    }

    fn fx(
        &self,
        exchange: &str,
        found: &Exchange,
        ticker: &str,
        explain: bool,
    ) -> Result<Mapped, SymbolRefusal> {
        if ticker.len() != 6 || !ticker.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(SymbolRefusal::NotACurrencyPair {
                ticker: ticker.to_owned(),
            });
        }
        let (base, quote) = ticker.split_at(3);
        if let Some(code) = [base, quote]
            .into_iter()
            .find(|c| !self.fx_currencies.contains(*c))
        {
            return Err(SymbolRefusal::UnknownCurrency {
                ticker: ticker.to_owned(),
                code: code.to_owned(),
            });
        }
        Ok(Mapped {
            symbol: canonical(&format!("{base}-{quote}"))?,
            class: InstrumentClass::Fx,
            venue_hint: found.venue.clone(),
            rule: rule!(explain, "{exchange} FX: currency pair {base}/{quote}"),
        })
    }
}

fn canonical(text: &str) -> Result<CanonicalSymbol, SymbolRefusal> {
    CanonicalSymbol::parse(text).map_err(|_| SymbolRefusal::TooLong {
        what: "a canonical symbol",
        max: CanonicalSymbol::MAX_CHARS,
    })
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
    tables::DELAY_SUFFIXES
        .iter()
        .find_map(|suffix| exchange.strip_suffix(suffix))
        .unwrap_or(exchange)
}

fn equity(exchange: &str, ticker: &str, explain: bool) -> Result<Mapped, SymbolRefusal> {
    let bad = |expected| SymbolRefusal::BadTicker {
        ticker: ticker.to_owned(),
        exchange: exchange.to_owned(),
        expected,
    };
    if ticker.contains('!') {
        return Err(bad(
            "an equity ticker; continuous futures are listed on futures exchanges (CME_MINI:ES1!)",
        ));
    }
    let symbol = CanonicalSymbol::parse(ticker)
        .ok()
        .filter(|s| InstrumentClass::Equity.check_shape(s).is_ok())
        .ok_or_else(|| bad("letters and digits, with a dot for a share class (BRK.B)"))?;
    Ok(Mapped {
        symbol,
        class: InstrumentClass::Equity,
        venue_hint: None,
        rule: rule!(
            explain,
            "{exchange} equity: the ticker is the symbol (the OMS routes equities)"
        ),
    })
}
