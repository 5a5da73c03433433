//! Crypto exchanges: spot pairs `BASEQUOTE` and perpetual swaps `BASEQUOTE.P` / `BASEQUOTEPERP`,
//! split at the longest quote the exchange itself lists.

use std::collections::BTreeSet;

use super::{
    Exchange, MAX_QUOTE_LEN, Mapped, SymbolRefusal, SymbolTable, alnum, canonical, month_of_code,
    rule,
};
use crate::instrument::InstrumentClass;

impl SymbolTable {
    /// Splits `BASEQUOTE` at the longest of `quotes` that leaves a base.
    fn split<'a>(pair: &'a str, quotes: &BTreeSet<String>) -> Option<(&'a str, &'a str)> {
        let longest = MAX_QUOTE_LEN.min(pair.len().saturating_sub(1));
        (1..=longest).rev().find_map(|len| {
            let (base, quote) = pair.split_at(pair.len() - len);
            quotes.contains(quote).then_some((base, quote))
        })
    }

    pub(super) fn crypto(
        &self,
        exchange: &str,
        found: &Exchange,
        ticker: &str,
        explain: bool,
    ) -> Result<Mapped, SymbolRefusal> {
        if ticker.contains('!') {
            return Err(SymbolRefusal::ContinuousNotHere {
                ticker: ticker.to_owned(),
                exchange: exchange.to_owned(),
            });
        }
        let (pair, suffix) = match (ticker.strip_suffix(".P"), ticker.strip_suffix("PERP")) {
            (Some(pair), _) => (pair, Some(".P")),
            (None, Some(pair)) if !pair.is_empty() => (pair, Some("PERP")),
            _ => (ticker, None),
        };
        if !alnum(pair) {
            return Err(SymbolRefusal::BadTicker {
                ticker: ticker.to_owned(),
                exchange: exchange.to_owned(),
                expected: "letters and digits, base then quote (BTCUSDT), with .P for a perpetual (BTCUSDT.P)",
            });
        }
        if looks_dated(pair) {
            return Err(SymbolRefusal::DatedCryptoFuture {
                ticker: ticker.to_owned(),
            });
        }
        let quotes = if suffix.is_some() {
            &found.perpetual_quotes
        } else {
            &found.quotes
        };
        if quotes.is_empty() {
            return Err(SymbolRefusal::NotListedHere {
                exchange: exchange.to_owned(),
                what: if suffix.is_some() {
                    "perpetual swaps"
                } else {
                    "spot pairs"
                },
            });
        }
        let (base, quote) =
            Self::split(pair, quotes).ok_or_else(|| SymbolRefusal::UnknownQuote {
                ticker: ticker.to_owned(),
                exchange: exchange.to_owned(),
                quotes: quotes
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            })?;
        let base = self.asset(base);
        let Some(suffix) = suffix else {
            let spot = self.spot_quote(quote);
            let aliased = if spot == quote {
                String::new()
            } else {
                format!("; {quote} is {spot} on spot")
            };
            return Ok(Mapped {
                symbol: canonical(&format!("{base}-{spot}"))?,
                class: InstrumentClass::Spot,
                venue_hint: found.venue.clone(),
                rule: rule!(
                    explain,
                    "{exchange} crypto spot: {base} + {quote} (the longest quote {exchange} lists{aliased})"
                ),
            });
        };
        let venue = found
            .venue
            .clone()
            .ok_or(SymbolRefusal::PerpetualWithoutVenue)?;
        let quote = self.asset(quote);
        Ok(Mapped {
            symbol: canonical(&format!("{base}-{quote}-PERP"))?,
            class: InstrumentClass::Perpetual,
            venue_hint: Some(venue),
            rule: rule!(
                explain,
                "{exchange} perpetual swap ({suffix} suffix): {base} + {quote}, margined in {quote} (derivative quotes are never aliased)"
            ),
        })
    }
}

/// A dated crypto future: a month code and a four-digit year (`BTCUSDTH2026`), or six digits of
/// date (`BTCUSDT250328`). Spot and perpetual tickers end in a quote, which is never digits.
fn looks_dated(pair: &str) -> bool {
    let b = pair.as_bytes();
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    digits >= 6
        || (digits == 4
            && b.len() > 5
            && b[b.len() - 4..].starts_with(b"20")
            && month_of_code(char::from(b[b.len() - 5])).is_some())
}
