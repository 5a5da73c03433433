//! `symbology.*`: every table of SPEC §4, extending the built-ins, each entry checked with its
//! key path. Lists extend the built-in lists; scalars given for a built-in entry replace its.

use std::collections::BTreeSet;

use mts1b_inbound_core::symbology::{
    ContractCalendar, Exchange, ExchangeCalendar, ExchangeClass, LastTradingDay, ListedMonths,
    MAX_QUOTE_LEN, Override, override_key, parse_date,
};
use mts1b_inbound_core::{CanonicalSymbol, InstrumentClass, SymbolTable, VenueHint};

use super::{Check, join};
use crate::raw::*;

/// An exchange name or a root: 1-16 of `A-Z 0-9 _`, read in upper case.
fn code(text: &str, what: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    if upper.is_empty()
        || upper.len() > 16
        || !upper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!("{text:?} is not {what} (1-16 of A-Z 0-9 _)"));
    }
    Ok(upper)
}

/// A currency or asset code: letters and digits, at least one letter, read in upper case.
fn asset(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    let ok = !upper.is_empty()
        && upper.len() <= MAX_QUOTE_LEN
        && upper.bytes().all(|b| b.is_ascii_alphanumeric())
        && upper.bytes().any(|b| b.is_ascii_alphabetic());
    if ok {
        Ok(upper)
    } else {
        Err(format!(
            "{text:?} is not an asset code (1-{MAX_QUOTE_LEN} of A-Z 0-9, at least one letter)"
        ))
    }
}

fn venue(c: &mut Check, path: &str, raw: Option<&Text>) -> Option<VenueHint> {
    let raw = raw?;
    c.get(path, Some(raw), "", |s| {
        VenueHint::parse(s).map_err(|e| format!("{s:?} is not a venue hint: {e}"))
    })
}

pub(super) fn symbology(c: &mut Check, raw: &RawSymbology) -> SymbolTable {
    // The renamed key says what it became, once, instead of also being an unknown key.
    let mut unknown = raw.unknown.clone();
    if unknown.remove("quote_aliases").is_some() {
        c.fail(
            "symbology.quote_aliases",
            "renamed: write each quote under symbology.quotes (CODE = its meaning on spot) and list it in symbology.exchanges.<EXCHANGE>.quotes",
        );
    }
    c.unknown("symbology", &unknown);
    let mut table = SymbolTable::default();
    for (quote, meaning) in &raw.quotes {
        let path = format!("symbology.quotes.{quote}");
        let q = asset(quote).map_err(|e| c.fail(&path, e)).ok();
        let to = c.get(&path, Some(meaning), "", asset);
        if let (Some(q), Some(to)) = (q, to) {
            let spot = (to != q).then_some(to);
            table.quotes.insert(q, spot);
        }
    }
    for (alias, to) in &raw.base_aliases {
        let path = format!("symbology.base_aliases.{alias}");
        let a = asset(alias).map_err(|e| c.fail(&path, e)).ok();
        let to = c.get(&path, Some(to), "", asset);
        if let (Some(a), Some(to)) = (a, to) {
            table.base_aliases.insert(a, to);
        }
    }
    let fx = c.list("symbology.fx_currencies", raw.fx_currencies.as_ref(), |s| {
        let upper = s.to_ascii_uppercase();
        if upper.len() == 3 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(upper)
        } else {
            Err(format!("{s:?} is not a three-letter currency code"))
        }
    });
    table.fx_currencies.extend(fx);
    exchanges(c, raw, &mut table);
    exchange_calendars(c, raw, &mut table);
    calendars(c, raw, &mut table);
    overrides(c, raw, &mut table);
    table
}

fn exchanges(c: &mut Check, raw: &RawSymbology, table: &mut SymbolTable) {
    for (name, x) in &raw.exchanges {
        let path = format!("symbology.exchanges.{name}");
        c.unknown(&path, &x.unknown);
        let Ok(key) = code(name, "an exchange prefix").map_err(|e| c.fail(&path, e)) else {
            continue;
        };
        let built_in = table.exchanges.get(&key).cloned();
        let class = match (&x.class, &built_in) {
            (Some(t), _) => c.get(&join(&path, "class"), Some(t), "", |s| {
                ExchangeClass::parse(s)
                    .ok_or_else(|| format!("{s:?} is not crypto, equity, fx or futures"))
            }),
            (None, Some(b)) => Some(b.class),
            (None, None) => {
                c.fail(
                    join(&path, "class"),
                    "required: crypto, equity, fx or futures",
                );
                None
            }
        };
        let Some(class) = class else { continue };
        let mut exchange = match built_in {
            Some(b) if b.class == class => b,
            _ => Exchange::new(class, None),
        };
        if x.venue.is_some() {
            exchange.venue = venue(c, &join(&path, "venue"), x.venue.as_ref());
        }
        let mut quote_list = |key: &str, raw: Option<&TextList>| -> BTreeSet<String> {
            let list_path = join(&path, key);
            let list = c.list(&list_path, raw, asset);
            for (i, q) in list.iter().enumerate() {
                if !table.quotes.contains_key(q) {
                    c.fail(
                        format!("{list_path}[{i}]"),
                        format!("{q} is not a quote currency: add it under symbology.quotes"),
                    );
                }
            }
            list.into_iter().collect()
        };
        let quotes = quote_list("quotes", x.quotes.as_ref());
        let perpetual_quotes = quote_list("perpetual_quotes", x.perpetual_quotes.as_ref());
        if class != ExchangeClass::Crypto && !(quotes.is_empty() && perpetual_quotes.is_empty()) {
            c.fail(
                &path,
                "quotes and perpetual_quotes belong to crypto exchanges only",
            );
        }
        exchange.quotes.extend(quotes);
        exchange.perpetual_quotes.extend(perpetual_quotes);
        // A crypto exchange split with another exchange's quotes could misread its tickers
        // (COINBASE:BATUSD is not BA/TUSD): each lists its own.
        if class == ExchangeClass::Crypto && exchange.quotes.is_empty() {
            c.fail(
                join(&path, "quotes"),
                "required for a crypto exchange: the quote currencies it lists spot pairs in (e.g. [\"USDT\", \"USDC\", \"BTC\"])",
            );
        }
        if class == ExchangeClass::Crypto
            && !exchange.perpetual_quotes.is_empty()
            && exchange.venue.is_none()
        {
            c.fail(
                join(&path, "venue"),
                "required for an exchange with perpetual_quotes: a perpetual is one venue's contract",
            );
        }
        table.exchanges.insert(key, exchange);
    }
}

fn exchange_calendars(c: &mut Check, raw: &RawSymbology, table: &mut SymbolTable) {
    for (name, x) in &raw.exchange_calendars {
        let path = format!("symbology.exchange_calendars.{name}");
        c.unknown(&path, &x.unknown);
        let Ok(key) = code(name, "a calendar name").map_err(|e| c.fail(&path, e)) else {
            continue;
        };
        let mut calendar =
            table
                .exchange_calendars
                .get(&key)
                .cloned()
                .unwrap_or(ExchangeCalendar {
                    holidays: BTreeSet::new(),
                    trade_date_starts: None,
                });
        let holidays = c.list(&join(&path, "holidays"), x.holidays.as_ref(), parse_date);
        calendar.holidays.extend(holidays);
        if let Some(t) = &x.trade_date_starts {
            calendar.trade_date_starts = c
                .get(
                    &join(&path, "trade_date_starts"),
                    Some(t),
                    "",
                    ExchangeCalendar::parse_trade_date_starts,
                )
                .flatten();
        }
        if calendar.holidays.is_empty() {
            c.fail(
                join(&path, "holidays"),
                "required: the exchange's holidays (a year counts as known once one of its holidays is listed)",
            );
        }
        table.exchange_calendars.insert(key, calendar);
    }
}

fn calendars(c: &mut Check, raw: &RawSymbology, table: &mut SymbolTable) {
    for (root, x) in &raw.calendars {
        let path = format!("symbology.calendars.{root}");
        c.unknown(&path, &x.unknown);
        let key = code(root, "a futures root")
            .map_err(|e| c.fail(&path, e))
            .ok();
        let required = |c: &mut Check, key: &str, what: &str| {
            c.fail(join(&path, key), format!("required: {what}"));
        };
        let months = match &x.months {
            Some(t) => c.get(&join(&path, "months"), Some(t), "", ListedMonths::parse),
            None => {
                required(c, "months", "the listed month codes, e.g. \"HMUZ\"");
                None
            }
        };
        let last_trading_day = match &x.last_trading_day {
            Some(t) => c.get(
                &join(&path, "last_trading_day"),
                Some(t),
                "",
                LastTradingDay::parse,
            ),
            None => {
                required(c, "last_trading_day", "a rule such as \"3rd friday\"");
                None
            }
        };
        let roll = match &x.roll_business_days {
            Some(t) => Some(c.number(&join(&path, "roll_business_days"), Some(t), 0u8, 0..=30)),
            None => {
                required(
                    c,
                    "roll_business_days",
                    "how many business days before the last trading day 1! shows the next contract",
                );
                None
            }
        };
        let exchange_calendar = x
            .exchange_calendar
            .as_ref()
            .map_or("CME".to_owned(), |t| t.0.to_ascii_uppercase());
        if !table.exchange_calendars.contains_key(&exchange_calendar) {
            c.fail(
                join(&path, "exchange_calendar"),
                format!("no exchange calendar {exchange_calendar}: add symbology.exchange_calendars.{exchange_calendar}"),
            );
        }
        if let (Some(key), Some(months), Some(last_trading_day), Some(roll_business_days)) =
            (key, months, last_trading_day, roll)
        {
            table.calendars.insert(
                key,
                ContractCalendar {
                    months,
                    last_trading_day,
                    roll_business_days,
                    exchange_calendar,
                },
            );
        }
    }
}

fn overrides(c: &mut Check, raw: &RawSymbology, table: &mut SymbolTable) {
    for (input, o) in &raw.overrides {
        let path = format!("symbology.overrides.{input}");
        c.unknown(&path, &o.unknown);
        if input.is_empty() || input.chars().count() > 64 {
            c.fail(&path, "the key must be the symbol as sent, 1-64 characters");
        }
        let symbol = match &o.symbol {
            Some(t) => c.get(&join(&path, "symbol"), Some(t), "", |s| {
                CanonicalSymbol::parse(s)
                    .map_err(|e| format!("{s:?} is not a canonical symbol: {e}"))
            }),
            None => {
                c.fail(join(&path, "symbol"), "required");
                None
            }
        };
        let class = o.class.as_ref().map(|t| {
            c.get(&join(&path, "class"), Some(t), "", |s| {
                InstrumentClass::parse(s)
                    .ok_or_else(|| format!("{s:?} is not spot, perpetual, future, equity or fx"))
            })
        });
        let venue = venue(c, &join(&path, "venue"), o.venue.as_ref());
        let Some(symbol) = symbol else { continue };
        let class = match class {
            Some(Some(class)) => class,
            Some(None) => continue,
            None => InstrumentClass::infer(&symbol, |code| table.fx_currencies.contains(code)),
        };
        if let Err(e) = class.check_shape(&symbol) {
            c.fail(join(&path, "symbol"), e);
            continue;
        }
        if class == InstrumentClass::Perpetual && venue.is_none() {
            c.fail(
                join(&path, "venue"),
                "required for a perpetual: it is one venue's contract",
            );
        }
        table.overrides.insert(
            override_key(input),
            Override {
                symbol,
                class,
                venue,
            },
        );
    }
}
