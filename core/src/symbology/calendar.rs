//! Contract calendars: which months a futures root lists, when each contract stops trading, and
//! which contract TradingView's continuous symbols (`ES1!`, `ES2!`) show on a given day.
//!
//! TradingView switches a continuous symbol to the next contract a fixed number of business days
//! before the current one's last trading day, a number it sets per root from volume statistics
//! and applies to the root's whole history (TradingView support, "How is the switching date of
//! contracts determined in continuous futures"). That number is `roll_business_days` here: data,
//! per root, like the listed months, the last-trading-day rule and the exchange's holidays.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use time::{Date, Month, OffsetDateTime, Weekday};

use crate::time::UnixMillis;

/// The futures month codes, January to December.
pub const MONTH_CODES: [char; 12] = ['F', 'G', 'H', 'J', 'K', 'M', 'N', 'Q', 'U', 'V', 'X', 'Z'];

/// Returns the month (1–12) of a month code.
pub fn month_of_code(code: char) -> Option<u8> {
    MONTH_CODES
        .iter()
        .position(|&c| c == code)
        .map(|i| i as u8 + 1)
}

/// Returns the code of a month (1–12).
pub fn code_of_month(month: u8) -> char {
    MONTH_CODES[usize::from(month - 1)]
}

/// The months in which a root lists contracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedMonths(u16);

impl ListedMonths {
    /// Reads month codes (`HMUZ`), in any order, each at most once.
    pub fn parse(codes: &str) -> Result<Self, String> {
        let mut bits = 0u16;
        for c in codes.chars() {
            let month = month_of_code(c.to_ascii_uppercase()).ok_or_else(|| {
                format!("{c:?} is not a month code (F G H J K M N Q U V X Z, January to December)")
            })?;
            let bit = 1 << (month - 1);
            if bits & bit != 0 {
                return Err(format!("month code {c} is listed twice"));
            }
            bits |= bit;
        }
        if bits == 0 {
            return Err("must list at least one month code (e.g. HMUZ)".into());
        }
        Ok(Self(bits))
    }

    /// Whether the root lists a contract in `month` (1–12).
    pub fn contains(self, month: u8) -> bool {
        (1..=12).contains(&month) && self.0 & (1 << (month - 1)) != 0
    }

    /// The month codes, January first.
    pub fn codes(self) -> String {
        (1..=12)
            .filter(|&m| self.contains(m))
            .map(code_of_month)
            .collect()
    }
}

impl Serialize for ListedMonths {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.codes())
    }
}

/// A day the calendar cannot judge: the exchange calendar lists no holidays for its year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uncovered {
    /// The year with no holiday list.
    pub year: i32,
}

/// One exchange's trading days: its holidays (a year counts as known once at least one of its
/// holidays is listed) and the time of day, in UTC, from which a new trade date begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeCalendar {
    /// Weekdays without a trade date of their own.
    pub holidays: BTreeSet<Date>,
    /// Minutes after 00:00 UTC at which the next trade date begins (CME Globex: 22:00 UTC, the
    /// daily halt in winter and the reopening in summer); `None` for the UTC date.
    pub trade_date_starts: Option<u16>,
}

impl ExchangeCalendar {
    /// Whether `year`'s holidays are known.
    pub fn covers(&self, year: i32) -> bool {
        let first = Date::from_calendar_date(year, Month::January, 1);
        let last = Date::from_calendar_date(year, Month::December, 31);
        match (first, last) {
            (Ok(first), Ok(last)) => self.holidays.range(first..=last).next().is_some(),
            _ => false,
        }
    }

    /// The years whose holidays are known, first and last.
    pub fn coverage(&self) -> Option<(i32, i32)> {
        Some((self.holidays.first()?.year(), self.holidays.last()?.year()))
    }

    /// Whether `day` is a trade date: a weekday that is not a holiday.
    pub fn is_business_day(&self, day: Date) -> Result<bool, Uncovered> {
        if !self.covers(day.year()) {
            return Err(Uncovered { year: day.year() });
        }
        let weekend = matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
        Ok(!weekend && !self.holidays.contains(&day))
    }

    /// `day` if it is a business day, else the nearest business day before it.
    fn on_or_before(&self, mut day: Date) -> Result<Date, Uncovered> {
        // A month of holidays in a row is a broken list; stop rather than walk for ever.
        for _ in 0..31 {
            if self.is_business_day(day)? {
                return Ok(day);
            }
            day = day.previous_day().ok_or(Uncovered { year: day.year() })?;
        }
        Err(Uncovered { year: day.year() })
    }

    /// The business day `count` business days before `day`.
    pub fn business_days_before(&self, day: Date, count: u8) -> Result<Date, Uncovered> {
        let mut day = day;
        for _ in 0..count {
            let before = day.previous_day().ok_or(Uncovered { year: day.year() })?;
            day = self.on_or_before(before)?;
        }
        Ok(day)
    }

    /// Reads [`ExchangeCalendar::trade_date_starts`] as config writes it: a UTC time of day
    /// `HH:MM`, `00:00` meaning the UTC date.
    pub fn parse_trade_date_starts(text: &str) -> Result<Option<u16>, String> {
        let format = time::format_description::parse_borrowed::<2>("[hour]:[minute]")
            .expect("the format description is valid");
        let at = time::Time::parse(text, &format)
            .map_err(|_| format!("{text:?} is not a UTC time of day HH:MM (or \"00:00\")"))?;
        let minute = u16::from(at.hour()) * 60 + u16::from(at.minute());
        Ok((minute > 0).then_some(minute))
    }

    /// The trade date an instant belongs to.
    pub fn trade_date(&self, at: UnixMillis) -> Date {
        let utc = utc(at);
        let minute = u16::from(utc.hour()) * 60 + u16::from(utc.minute());
        match self.trade_date_starts {
            Some(starts) if minute >= starts => utc.date().next_day().unwrap_or(utc.date()),
            _ => utc.date(),
        }
    }
}

/// Printed as config writes it: dates `YYYY-MM-DD`, the trade-date start `HH:MM` (UTC).
impl Serialize for ExchangeCalendar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut o = s.serialize_struct("ExchangeCalendar", 2)?;
        let holidays: Vec<String> = self.holidays.iter().map(Date::to_string).collect();
        o.serialize_field("holidays", &holidays)?;
        let starts = self
            .trade_date_starts
            .map(|m| format!("{:02}:{:02}", m / 60, m % 60));
        o.serialize_field("trade_date_starts", &starts)?;
        o.end()
    }
}

/// The UTC date of an instant.
pub fn utc_date(at: UnixMillis) -> Date {
    utc(at).date()
}

fn utc(at: UnixMillis) -> OffsetDateTime {
    // UnixMillis only holds years 0000 to 9999 (parse_rfc3339), which `time` can hold.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The day a last-trading-day rule counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The n-th (1–4) given weekday of the month (`3rd friday`).
    NthWeekday(u8, Weekday),
    /// The last given weekday of the month (`last thursday`).
    LastWeekday(Weekday),
    /// A day of the month, 1–28 (`day 25`).
    Day(u8),
    /// The month's last business day.
    LastBusinessDay,
}

/// When a contract stops trading: an anchor day in the contract month (or some months before
/// it), moved to the business day before when it is not one, then `business_days_before`
/// business days earlier. Written in config as text:
///
/// - `3rd friday` (CME equity-index futures; a holiday moves it to the Thursday)
/// - `2 business days before 3rd wednesday` (CME currency futures)
/// - `3 business days before day 25 of the month before` (NYMEX crude oil)
/// - `2 business days before last business day` (COMEX gold: the third-last business day)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastTradingDay {
    /// The day counted from.
    pub anchor: Anchor,
    /// How many months before the contract month the anchor lies (0 or more).
    pub months_before: u8,
    /// How many business days before the anchor trading ends.
    pub business_days_before: u8,
}

const WEEKDAYS: [(&str, Weekday); 5] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
];
const ORDINALS: [&str; 4] = ["1st", "2nd", "3rd", "4th"];
const GRAMMAR: &str = "write e.g. \"3rd friday\", \"2 business days before 3rd wednesday\", \"3 business days before day 25 of the month before\" or \"2 business days before last business day\"";

impl LastTradingDay {
    /// Reads a rule written as the type's documentation shows.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        let bad = || format!("{text:?} is not a last-trading-day rule: {GRAMMAR}");
        let (business_days_before, rest) = match words.as_slice() {
            [n, "business", "day" | "days", "before", rest @ ..] => {
                (n.parse::<u8>().map_err(|_| bad())?, rest)
            }
            rest => (0, rest),
        };
        let (rest, months_before) = match rest {
            [head @ .., "of", "the", "month", "before"] => (head, 1),
            [head @ .., "of", n, "months", "before"] => (head, n.parse::<u8>().map_err(|_| bad())?),
            rest => (rest, 0),
        };
        let weekday = |w: &str| WEEKDAYS.iter().find(|(n, _)| *n == w).map(|&(_, d)| d);
        let anchor = match rest {
            ["last", "business", "day"] => Anchor::LastBusinessDay,
            ["last", w] => Anchor::LastWeekday(weekday(w).ok_or_else(bad)?),
            ["day", d] => match d.parse::<u8>() {
                Ok(d @ 1..=28) => Anchor::Day(d),
                _ => return Err(format!("{text:?}: the day must be from 1 to 28")),
            },
            [nth, w] => {
                let n = ORDINALS.iter().position(|o| o == nth).ok_or_else(bad)? as u8 + 1;
                Anchor::NthWeekday(n, weekday(w).ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        };
        if months_before > 11 {
            return Err(format!("{text:?}: at most 11 months before"));
        }
        Ok(Self {
            anchor,
            months_before,
            business_days_before,
        })
    }

    /// The last trading day of the contract of `year`-`month`.
    pub fn date(&self, year: i32, month: u8, cal: &ExchangeCalendar) -> Result<Date, Uncovered> {
        let (year, month) = months_back(year, month, self.months_before);
        let month = Month::try_from(month).map_err(|_| Uncovered { year })?;
        let first = Date::from_calendar_date(year, month, 1).map_err(|_| Uncovered { year })?;
        let anchor = match self.anchor {
            Anchor::NthWeekday(n, weekday) => {
                let offset = (7 + weekday.number_days_from_monday()
                    - first.weekday().number_days_from_monday())
                    % 7;
                first + time::Duration::days(i64::from(offset) + 7 * i64::from(n - 1))
            }
            Anchor::LastWeekday(weekday) => {
                let last = last_day(first);
                let back = (7 + last.weekday().number_days_from_monday()
                    - weekday.number_days_from_monday())
                    % 7;
                last - time::Duration::days(i64::from(back))
            }
            Anchor::Day(d) => first.replace_day(d).map_err(|_| Uncovered { year })?,
            Anchor::LastBusinessDay => last_day(first),
        };
        let anchor = cal.on_or_before(anchor)?;
        cal.business_days_before(anchor, self.business_days_before)
    }
}

impl fmt::Display for LastTradingDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.business_days_before > 0 {
            write!(f, "{} business days before ", self.business_days_before)?;
        }
        let name = |w: Weekday| {
            WEEKDAYS
                .iter()
                .find(|(_, d)| *d == w)
                .map_or("?", |(n, _)| n)
        };
        match self.anchor {
            Anchor::NthWeekday(n, w) => write!(f, "{} {}", ORDINALS[usize::from(n - 1)], name(w))?,
            Anchor::LastWeekday(w) => write!(f, "last {}", name(w))?,
            Anchor::Day(d) => write!(f, "day {d}")?,
            Anchor::LastBusinessDay => f.write_str("last business day")?,
        }
        match self.months_before {
            0 => Ok(()),
            1 => f.write_str(" of the month before"),
            n => write!(f, " of {n} months before"),
        }
    }
}

impl Serialize for LastTradingDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn last_day(first: Date) -> Date {
    let days = first.month().length(first.year());
    first.replace_day(days).unwrap_or(first)
}

fn months_back(year: i32, month: u8, back: u8) -> (i32, u8) {
    let index = year * 12 + i32::from(month) - 1 - i32::from(back);
    (index.div_euclid(12), (index.rem_euclid(12) + 1) as u8)
}

/// One futures root's contracts: what it lists, when each stops trading, when TradingView's
/// continuous symbols move on, and whose holidays count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContractCalendar {
    /// The months with a contract.
    pub months: ListedMonths,
    /// When a contract stops trading.
    pub last_trading_day: LastTradingDay,
    /// How many business days before a contract's last trading day `1!` shows the next one.
    pub roll_business_days: u8,
    /// The exchange calendar whose holidays and trade dates apply (`CME`).
    pub exchange_calendar: String,
}

/// One contract of a root, with the days that matter for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContractDates {
    /// The contract year.
    pub year: i32,
    /// The contract month, 1–12.
    pub month: u8,
    /// Its last trading day.
    pub last_trading_day: Date,
    /// The trade date from which `1!` shows the next contract.
    pub switch: Date,
}

impl ContractCalendar {
    /// The dates of the contract of `year`-`month` (which must be listed).
    pub fn contract(
        &self,
        year: i32,
        month: u8,
        cal: &ExchangeCalendar,
    ) -> Result<ContractDates, Uncovered> {
        let last_trading_day = self.last_trading_day.date(year, month, cal)?;
        let switch = cal.business_days_before(last_trading_day, self.roll_business_days)?;
        Ok(ContractDates {
            year,
            month,
            last_trading_day,
            switch,
        })
    }

    /// The contract `n!` shows on trade date `day`: `1!` is the first contract whose switch
    /// date is still ahead, `2!` the listed contract after it, and so on.
    pub fn continuous(
        &self,
        n: u8,
        day: Date,
        cal: &ExchangeCalendar,
    ) -> Result<ContractDates, Uncovered> {
        // Contracts of earlier months have stopped trading before this month began.
        let start = day.year() * 12 + i32::from(u8::from(day.month())) - 1;
        let mut listed = (start..start + 12 * 5)
            .map(|i| (i.div_euclid(12), (i.rem_euclid(12) + 1) as u8))
            .filter(|&(_, m)| self.months.contains(m));
        let mut front = None;
        for (year, month) in listed.by_ref() {
            let dates = self.contract(year, month, cal)?;
            if day < dates.switch {
                front = Some(dates);
                break;
            }
        }
        let mut chosen = front.ok_or(Uncovered { year: day.year() })?;
        for _ in 1..n {
            let (year, month) = listed.next().ok_or(Uncovered { year: day.year() })?;
            chosen = self.contract(year, month, cal)?;
        }
        Ok(chosen)
    }
}
