//! Futures exchanges: explicit contracts (`ESM2026`) and continuous symbols (`ES1!`, `ES2!`)
//! resolved through the root's contract calendar.

use super::{
    ContractCalendar, Exchange, ExchangeCalendar, Mapped, SymbolRefusal, SymbolTable, Timing,
    Uncovered, alnum, canonical, code_of_month, month_of_code, rule, utc_date,
};
use crate::instrument::InstrumentClass;

impl SymbolTable {
    pub(super) fn futures(
        &self,
        exchange: &str,
        found: &Exchange,
        ticker: &str,
        timing: Timing,
        explain: bool,
    ) -> Result<Mapped, SymbolRefusal> {
        let not_futures = || SymbolRefusal::NotAFuturesTicker {
            ticker: ticker.to_owned(),
        };
        if let Some(rest) = ticker.strip_suffix('!') {
            let root = rest.trim_end_matches(|c: char| c.is_ascii_digit());
            let n = match rest[root.len()..].parse::<u8>() {
                Ok(n @ 1..=9) if alnum(root) => n,
                _ => return Err(not_futures()),
            };
            return self.continuous(exchange, found, root, n, timing, explain);
        }
        let Some(contract) = ExplicitContract::parse(ticker) else {
            if let Some(suggestion) = ExplicitContract::two_digit_year(ticker) {
                return Err(SymbolRefusal::TwoDigitYear {
                    ticker: ticker.to_owned(),
                    suggestion,
                });
            }
            return Err(not_futures());
        };
        self.explicit(exchange, found, ticker, contract, timing, explain)
    }

    fn calendars_of(&self, root: &str) -> Option<(&ContractCalendar, &ExchangeCalendar, &str)> {
        let calendar = self.calendars.get(root)?;
        let name = calendar.exchange_calendar.as_str();
        Some((calendar, self.exchange_calendars.get(name)?, name))
    }

    fn continuous(
        &self,
        exchange: &str,
        found: &Exchange,
        root: &str,
        n: u8,
        timing: Timing,
        explain: bool,
    ) -> Result<Mapped, SymbolRefusal> {
        let Some((calendar, days, name)) = self.calendars_of(root) else {
            return Err(SymbolRefusal::NoCalendar {
                root: root.to_owned(),
                n,
            });
        };
        let uncovered = |u: Uncovered| SymbolRefusal::CalendarNotCovered {
            calendar: name.to_owned(),
            year: u.year,
        };
        let chart_day = days.trade_date(timing.chart());
        let dates = calendar.continuous(n, chart_day, days).map_err(uncovered)?;
        let contract = tradingview_contract(root, dates.year, dates.month);
        // An alert_time far in the past resolves to what the chart showed then; that contract
        // must still trade now.
        if dates.last_trading_day < days.trade_date(timing.received_at) {
            return Err(SymbolRefusal::Expired {
                contract,
                root: root.to_owned(),
                last_trading_day: dates.last_trading_day.to_string(),
            });
        }
        let at = if timing.alert_time.is_some() {
            "alert_time"
        } else {
            "receipt"
        };
        Ok(Mapped {
            symbol: canonical(&format!("{root}-{}{:02}", dates.year, dates.month))?,
            class: InstrumentClass::Future,
            venue_hint: found.venue.clone(),
            rule: rule!(
                explain,
                "{exchange} continuous {root}{n}!: {contract} on trade date {chart_day} (at {at}); \
                 it stops trading on {}, and {root}1! shows the next contract from {} \
                 ({} business days before, {name} holidays)",
                dates.last_trading_day,
                dates.switch,
                calendar.roll_business_days
            ),
        })
    }

    fn explicit(
        &self,
        exchange: &str,
        found: &Exchange,
        ticker: &str,
        contract: ExplicitContract<'_>,
        timing: Timing,
        explain: bool,
    ) -> Result<Mapped, SymbolRefusal> {
        let ExplicitContract { root, year, month } = contract;
        let symbol = canonical(&format!("{root}-{year}{month:02}"))?;
        let mapped = |rule: String| Mapped {
            symbol: symbol.clone(),
            class: InstrumentClass::Future,
            venue_hint: found.venue.clone(),
            rule,
        };
        let month_index = year * 12 + i32::from(month);
        // A contract whose month is over has stopped trading, whatever its calendar says.
        let utc_today = utc_date(timing.received_at);
        if month_index < utc_today.year() * 12 + i32::from(u8::from(utc_today.month())) {
            let end = calendar_month_end(year, month);
            return Err(SymbolRefusal::Expired {
                contract: ticker.to_owned(),
                root: root.to_owned(),
                last_trading_day: format!("no later than {end}"),
            });
        }
        let Some((calendar, days, name)) = self.calendars_of(root) else {
            return Ok(mapped(rule!(
                explain,
                "{exchange} futures contract {ticker} (no calendar for {root}: only its month is checked)"
            )));
        };
        if !calendar.months.contains(month) {
            return Err(SymbolRefusal::MonthNotListed {
                root: root.to_owned(),
                code: code_of_month(month),
                months: calendar.months.codes(),
            });
        }
        let today = days.trade_date(timing.received_at);
        match calendar.contract(year, month, days) {
            Ok(dates) if dates.last_trading_day < today => Err(SymbolRefusal::Expired {
                contract: ticker.to_owned(),
                root: root.to_owned(),
                last_trading_day: dates.last_trading_day.to_string(),
            }),
            Ok(dates) => Ok(mapped(rule!(
                explain,
                "{exchange} futures contract {ticker}: last trading day {} ({name} holidays)",
                dates.last_trading_day
            ))),
            // Its last trading day falls in a year without a holiday list: fine only when even
            // the earliest month the rule can anchor in is after this one.
            Err(u) => {
                let anchor_index = month_index - i32::from(calendar.last_trading_day.months_before);
                let today_index = today.year() * 12 + i32::from(u8::from(today.month()));
                if anchor_index > today_index {
                    Ok(mapped(rule!(
                        explain,
                        "{exchange} futures contract {ticker}: trades beyond the {name} holiday list, so not expired"
                    )))
                } else {
                    Err(SymbolRefusal::CalendarNotCovered {
                        calendar: name.to_owned(),
                        year: u.year,
                    })
                }
            }
        }
    }
}

/// An explicit futures contract as TradingView writes it: root, month code, four-digit year
/// (2000 to 2099).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExplicitContract<'a> {
    root: &'a str,
    year: i32,
    month: u8,
}

impl<'a> ExplicitContract<'a> {
    fn parse(ticker: &'a str) -> Option<Self> {
        let split = ticker.len().checked_sub(5)?;
        let (head, year) = ticker.split_at(split + 1);
        let (root, code) = head.split_at(split);
        let month = month_of_code(code.chars().next()?)?;
        if !alnum(root) || year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Contracts listed this century; `0026` is not a year TradingView writes.
        let year: i32 = year.parse().ok()?;
        (2000..=2099)
            .contains(&year)
            .then_some(Self { root, year, month })
    }

    /// `ESM26` → `ESM2026`, when the ticker reads as a contract with a two-digit year.
    fn two_digit_year(ticker: &str) -> Option<String> {
        let split = ticker.len().checked_sub(3)?;
        let (head, yy) = ticker.split_at(split + 1);
        let (root, code) = head.split_at(split);
        month_of_code(code.chars().next()?)?;
        (alnum(root) && yy.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("{root}{code}20{yy}"))
    }
}

/// A contract as TradingView writes it (`ESM2026`).
fn tradingview_contract(root: &str, year: i32, month: u8) -> String {
    format!("{root}{}{year}", code_of_month(month))
}

fn calendar_month_end(year: i32, month: u8) -> String {
    let month = time::Month::try_from(month).unwrap_or(time::Month::December);
    time::Date::from_calendar_date(year, month, month.length(year)).map_or_else(
        |_| format!("{year}-{:02}", u8::from(month)),
        |d| d.to_string(),
    )
}
