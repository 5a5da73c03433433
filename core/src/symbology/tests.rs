use proptest::prelude::*;

use super::*;
use crate::time::parse_rfc3339;

fn at(text: &str) -> Timing {
    Timing::at(parse_rfc3339(text).unwrap())
}

/// A time in the middle of a quiet week, for mappings that do not depend on time.
fn any_day() -> Timing {
    at("2026-05-17T13:30:00Z")
}

fn map_at(
    input: &str,
    timing: Timing,
) -> Result<(String, &'static str, Option<String>), SymbolRefusal> {
    SymbolTable::default().map(input, timing).map(|m| {
        (
            m.symbol.to_string(),
            m.class.as_str(),
            m.venue_hint.map(|v| v.to_string()),
        )
    })
}

fn map(input: &str) -> Result<(String, &'static str, Option<String>), SymbolRefusal> {
    map_at(input, any_day())
}

fn ok(
    symbol: &str,
    class: &'static str,
    venue: Option<&str>,
) -> Result<(String, &'static str, Option<String>), SymbolRefusal> {
    Ok((symbol.to_owned(), class, venue.map(str::to_owned)))
}

fn contract(input: &str, when: &str) -> String {
    match SymbolTable::default().map(input, at(when)) {
        Ok(m) => m.symbol.to_string(),
        Err(e) => format!("refused: {e}"),
    }
}

#[test]
fn maps_every_row_of_the_spec_table() {
    assert_eq!(
        map("BINANCE:BTCUSDT"),
        ok("BTC-USD", "spot", Some("binance"))
    );
    assert_eq!(
        map("COINBASE:BTCUSD"),
        ok("BTC-USD", "spot", Some("coinbase"))
    );
    assert_eq!(
        map("BINANCE:BTCFDUSD"),
        ok("BTC-USD", "spot", Some("binance"))
    );
    assert_eq!(
        map("BINANCE:BTCBUSD"),
        ok("BTC-USD", "spot", Some("binance"))
    );
    assert_eq!(map("KRAKEN:XBTUSD"), ok("BTC-USD", "spot", Some("kraken")));
    assert_eq!(
        map("BYBIT:BTCUSDT.P"),
        ok("BTC-USDT-PERP", "perpetual", Some("bybit"))
    );
    assert_eq!(
        map("BINANCE:BTCUSDTPERP"),
        ok("BTC-USDT-PERP", "perpetual", Some("binance"))
    );
    assert_eq!(
        map("BINANCE:BTCUSD.P"),
        ok("BTC-USD-PERP", "perpetual", Some("binance"))
    );
    assert_eq!(
        map("CME_MINI:ESH2027"),
        ok("ES-202703", "future", Some("cme"))
    );
    assert_eq!(
        map_at("CME_MINI:ESH2026", at("2026-01-05T15:00:00Z")),
        ok("ES-202603", "future", Some("cme"))
    );
    assert_eq!(map("CME_MINI:ES1!"), ok("ES-202606", "future", Some("cme")));
    assert_eq!(map("NASDAQ:AAPL"), ok("AAPL", "equity", None));
    assert_eq!(map("NYSE:BRK.B"), ok("BRK.B", "equity", None));
    assert_eq!(map("BATS:SPY"), ok("SPY", "equity", None));
    assert_eq!(map("OANDA:EURUSD"), ok("EUR-USD", "fx", Some("oanda")));
    assert_eq!(map("OANDA:XAUUSD"), ok("XAU-USD", "fx", Some("oanda")));
    assert_eq!(map("BTC-USD"), ok("BTC-USD", "spot", None));
}

#[test]
fn maps_what_the_issue_found_mapped_to_the_wrong_asset() {
    for (input, symbol) in [
        ("BINANCE:ETHBUSD", "ETH-USD"),
        ("BINANCE:BTCTUSD", "BTC-USD"),
        ("GEMINI:BTCGUSD", "BTC-USD"),
        ("BINANCE:BTCUSD1", "BTC-USD"),
        ("BINANCE:BTCBIDR", "BTC-BIDR"),
        ("KRAKEN:ETHXBT", "ETH-BTC"),
        ("KRAKEN:XDGUSD", "DOGE-USD"),
        ("BINANCE:BNBBTC", "BNB-BTC"),
        ("BYBIT:BTCUSDE", "BTC-USD"),
        ("BINANCE:1000PEPEUSDT", "1000PEPE-USD"),
        // Real pairs a class-wide longest match would misread (BA/TUSD, AR/BUSD, AD/AEUR).
        ("COINBASE:BATUSD", "BAT-USD"),
        ("COINBASE:ARBUSD", "ARB-USD"),
        ("KRAKEN:DOTUSD", "DOT-USD"),
        ("KRAKEN:ADAEUR", "ADA-EUR"),
        ("BINANCE:ADAEUR", "ADA-EUR"),
        ("BINANCE:ARBUSDT", "ARB-USD"),
    ] {
        assert_eq!(map(input).map(|m| m.0), Ok(symbol.to_owned()), "{input}");
    }
}

#[test]
fn perpetuals_keep_their_margin_currency_and_need_a_venue() {
    assert_eq!(
        map("BITGET:ETHUSDT.P"),
        ok("ETH-USDT-PERP", "perpetual", Some("bitget"))
    );
    assert_eq!(
        map("OKX:ETHUSDT.P"),
        ok("ETH-USDT-PERP", "perpetual", Some("okx"))
    );
    assert_eq!(
        map("BINANCE:ETHUSDTPERP"),
        ok("ETH-USDT-PERP", "perpetual", Some("binance"))
    );
    assert_eq!(
        map("BINANCE:BTCUSDC.P"),
        ok("BTC-USDC-PERP", "perpetual", Some("binance"))
    );
    assert_eq!(
        map("BINANCE:PERPUSDTPERP"),
        ok("PERP-USDT-PERP", "perpetual", Some("binance"))
    );
    // Coin-margined: USD is a perpetual quote on Binance, so BNB + USD, never BN + BUSD.
    assert_eq!(
        map("BINANCE:BNBUSD.P"),
        ok("BNB-USD-PERP", "perpetual", Some("binance"))
    );
    assert_eq!(
        map("BINANCE:DOTUSD.P"),
        ok("DOT-USD-PERP", "perpetual", Some("binance"))
    );
    assert!(matches!(
        map("KRAKEN:XBTUSD.P"),
        Err(SymbolRefusal::NotListedHere { .. })
    ));
    assert_eq!(
        map("BTC-USDT-PERP"),
        Err(SymbolRefusal::PerpetualWithoutVenue)
    );
    let mut table = SymbolTable::default();
    let mut crypto = table.exchanges["BYBIT"].clone();
    crypto.venue = None;
    table.exchanges.insert("CRYPTO".into(), crypto);
    assert_eq!(
        table.map("CRYPTO:BTCUSDT.P", any_day()),
        Err(SymbolRefusal::PerpetualWithoutVenue)
    );
    assert_eq!(
        table
            .map("CRYPTO:BTCUSDT", any_day())
            .unwrap()
            .symbol
            .as_str(),
        "BTC-USD"
    );
}

#[test]
fn ignores_case_and_delay_suffixes() {
    assert_eq!(
        map("binance:btcusdt"),
        ok("BTC-USD", "spot", Some("binance"))
    );
    assert_eq!(map("NASDAQ_DL:AAPL"), ok("AAPL", "equity", None));
    assert_eq!(
        map("cme_mini_dl:mes1!"),
        ok("MES-202606", "future", Some("cme"))
    );
    assert_eq!(map("btc-usd"), ok("BTC-USD", "spot", None));
}

#[test]
fn refuses_with_what_to_send_instead() {
    let refused = |input: &str| map(input).unwrap_err().to_string();
    assert!(refused("AAPL").contains("send {{exchange}}:{{ticker}}"));
    assert!(refused("ES1!").contains("send {{exchange}}:{{ticker}}"));
    assert!(refused("FOO:BAR").contains("unknown exchange FOO"));
    assert!(refused("BINANCE:BTCXYZ").contains("ends in no quote currency BINANCE lists (ARS AUD"));
    assert!(refused("COINBASE:BTCEURC").contains("no quote currency COINBASE lists"));
    assert!(refused("OANDA:SPX500USD").contains("CFDs and indices are not mapped"));
    assert!(refused("OANDA:US30").contains("not a six-letter currency pair"));
    assert!(refused("OANDA:BCOUSD").contains("BCO in BCOUSD is not a known currency"));
    assert!(refused("BINANCE:BTCUSDTH2026").contains("dated crypto future"));
    assert!(refused("OKX:BTCUSDT250328").contains("dated crypto future"));
    assert!(refused("NYMEX:CL1!").contains("no contract calendar for CL"));
    assert!(refused("CME_MINI:ESM26").contains("ESM2026"));
    assert!(refused("CME_MINI:ESF2027").contains("months are HMUZ"));
    assert!(refused("CME_MINI:ESH2026").contains("ESH2026 expired"));
    assert!(refused("NYMEX:CLZ2025").contains("no later than 2025-12-31"));
    assert!(refused("CME_MINI:ES").contains("not a futures contract"));
    // Found by the fuzz target: a year of 0026 once made CLCBOT-2612, and a non-ASCII
    // character once made a byte slice panic.
    assert_eq!(map("NYMEX:LZ\u{345}26"), Err(SymbolRefusal::NotAscii));
    assert!(refused("NYMEX:CLCBOTZ0026").contains("not a futures contract"));
    assert!(refused("BINANCE:BTCUSDT1!").contains("continuous futures are listed on futures"));
    assert!(refused("NYSE:ES1!").contains("continuous futures are listed on futures"));
    assert!(refused("BTC-USDT").contains("send BTC-USD"));
    assert!(refused("XBT-USD").contains("send BTC-USD"));
    assert!(refused("ES-202606").contains("CME_MINI:ESM2026"));
    assert!(refused("BTC-FOO").contains("FOO is not a known quote"));
    assert!(refused("BINANCE:BTC_USDT").contains("letters and digits"));
    assert!(refused("BINANCE:").contains("letters and digits"));
    assert_eq!(map(""), Err(SymbolRefusal::NoExchange));
    assert!(refused(&"A".repeat(65)).contains("a TradingView symbol has at most 64"));
    assert!(
        refused(&format!("BINANCE:{}USDT", "A".repeat(40)))
            .contains("a canonical symbol has at most 32")
    );
    // An explicit contract of a root without a calendar is taken, its month checked only.
    assert_eq!(map("NYMEX:CLZ2026"), ok("CL-202612", "future", Some("cme")));
    assert!(refused("EUR-USD").contains("could be an FX pair or a crypto pair"));
    assert!(refused("SOS-USD").contains("could be an FX pair or a crypto pair"));
}

#[test]
fn an_exchange_reads_the_quotes_it_lists() {
    let mut table = SymbolTable::default();
    let before = table
        .map("BINANCE:BTCAEUR", any_day())
        .map(|m| m.symbol.to_string());
    assert_eq!(
        before,
        Ok("BTCA-EUR".to_owned()),
        "Binance's table lists no AEUR pairs"
    );
    table
        .exchanges
        .get_mut("BINANCE")
        .unwrap()
        .quotes
        .insert("AEUR".into());
    let after = table.map("BINANCE:BTCAEUR", any_day()).unwrap();
    assert_eq!(after.symbol.as_str(), "BTC-AEUR");
}

#[test]
fn overrides_win_and_carry_their_class() {
    let mut table = SymbolTable::default();
    table.overrides.insert(
        "BYBIT:ETHUSDT.P".into(),
        Override {
            symbol: CanonicalSymbol::parse("ETH-USD-PERP").unwrap(),
            class: InstrumentClass::Perpetual,
            venue: VenueHint::parse("bybit").ok(),
        },
    );
    let (m, rule) = table.explain("bybit:ethusdt.p", any_day()).unwrap();
    assert_eq!(
        (m.symbol.as_str(), m.class),
        ("ETH-USD-PERP", InstrumentClass::Perpetual)
    );
    assert_eq!(rule, "override for BYBIT:ETHUSDT.P");
    assert_eq!(table.map("bybit:ethusdt.p", any_day()), Ok(m));
}

#[test]
fn the_done_examples_of_the_issue() {
    assert_eq!(
        contract("CME_MINI:MES1!", "2026-05-17T13:30:00Z"),
        "MES-202606"
    );
    assert_eq!(map("BINANCE:BTCBUSD").unwrap().0, "BTC-USD");
}

/// June 2026: the third Friday (19th) is Juneteenth, so ESM2026's last trading day is Thursday
/// the 18th, and 1! moves on 5 business days before it, on Thursday the 11th.
#[test]
fn continuous_futures_roll_with_the_calendar() {
    let table = SymbolTable::default();
    let dates = table.calendars["ES"]
        .contract(2026, 6, &table.exchange_calendars["CME"])
        .unwrap();
    assert_eq!(dates.last_trading_day.to_string(), "2026-06-18");
    assert_eq!(dates.switch.to_string(), "2026-06-11");
    for (input, when, expected) in [
        ("CME_MINI:ES1!", "2026-06-10T12:00:00Z", "ES-202606"), // the day before the roll
        ("CME_MINI:ES1!", "2026-06-10T21:59:59Z", "ES-202606"),
        ("CME_MINI:ES1!", "2026-06-10T22:00:00Z", "ES-202609"), // the roll's trade date begins
        ("CME_MINI:ES1!", "2026-06-11T12:00:00Z", "ES-202609"), // the day of the roll
        ("CME_MINI:ES1!", "2026-06-12T12:00:00Z", "ES-202609"), // the day after
        ("CME_MINI:ES1!", "2026-06-18T12:00:00Z", "ES-202609"), // the last trading day
        ("CME_MINI:ES2!", "2026-06-10T12:00:00Z", "ES-202609"),
        ("CME_MINI:ES2!", "2026-06-11T12:00:00Z", "ES-202612"),
        ("CME_MINI:ESM2026", "2026-06-18T12:00:00Z", "ES-202606"),
        (
            "CME_MINI:ESM2026",
            "2026-06-19T12:00:00Z",
            "refused: ESM2026 expired: its last trading day was 2026-06-18; send ES1! or a live contract",
        ),
        // A year end: ESZ2026 stops on 2026-12-18, 1! moves on 2026-12-11.
        ("CME_MINI:ES1!", "2026-12-10T12:00:00Z", "ES-202612"),
        ("CME_MINI:ES1!", "2026-12-11T12:00:00Z", "ES-202703"),
        ("CME_MINI:ES2!", "2026-12-11T12:00:00Z", "ES-202706"),
        ("CME_MINI:ES1!", "2026-12-31T23:59:59Z", "ES-202703"),
        // Good Friday 2027 (26 March) is not a business day; the third Friday is the 19th.
        ("CBOT_MINI:YM1!", "2027-03-11T12:00:00Z", "YM-202703"),
        ("CBOT_MINI:YM1!", "2027-03-12T12:00:00Z", "YM-202706"),
        // No holidays listed for 2028: ESH2028 cannot be dated, so 1! is refused, not guessed.
        (
            "CME_MINI:ES1!",
            "2027-12-10T12:00:00Z",
            "refused: the CME holiday calendar does not cover 2028: add that year's holidays under symbology.exchange_calendars.CME.holidays, or send the explicit contract",
        ),
        ("CME_MINI:ESH2030", "2027-12-13T12:00:00Z", "ES-203003"),
    ] {
        assert_eq!(contract(input, when), expected, "{input} at {when}");
    }
}

#[test]
fn continuous_futures_resolve_at_alert_time_and_must_still_trade() {
    let table = SymbolTable::default();
    let t = |s: &str| parse_rfc3339(s).unwrap();
    let timing = Timing {
        alert_time: Some(t("2026-06-10T21:59:00Z")),
        received_at: t("2026-06-10T22:00:01Z"),
    };
    assert_eq!(
        table.map("CME_MINI:ES1!", timing).unwrap().symbol.as_str(),
        "ES-202606"
    );
    let old = Timing {
        alert_time: Some(t("2026-03-02T15:00:00Z")),
        received_at: t("2026-05-17T13:30:00Z"),
    };
    assert!(matches!(
        table.map("CME_MINI:ES1!", old),
        Err(SymbolRefusal::Expired { ref contract, .. }) if contract == "ESH2026"
    ));
}

#[test]
fn holiday_dates_are_written_yyyy_mm_dd() {
    assert_eq!(parse_date("2026-06-19").unwrap().to_string(), "2026-06-19");
    for bad in [
        "2026-6-19",
        "2026-06-31",
        "2026-06-19T00:00",
        "20260619",
        "",
        "26-06-19",
    ] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
}

#[test]
fn trade_dates_start_at_a_utc_time_of_day() {
    let read = ExchangeCalendar::parse_trade_date_starts;
    assert_eq!(read("22:00"), Ok(Some(22 * 60)));
    assert_eq!(read("00:00"), Ok(None));
    for bad in ["25:00", "7:00", "22:60", "22:00:00", ""] {
        assert!(read(bad).is_err(), "{bad}");
    }
}

#[test]
fn warns_when_a_holiday_calendar_is_about_to_end() {
    let table = SymbolTable::default();
    let t = |s: &str| parse_rfc3339(s).unwrap();
    assert!(
        table
            .calendar_warnings(t("2027-10-01T00:00:00Z"))
            .is_empty()
    );
    let warnings = table.calendar_warnings(t("2027-10-03T00:00:00Z"));
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("the CME holiday calendar ends with 2027"),
        "{warnings:?}"
    );
}

#[test]
fn last_trading_day_rules_read_and_print_as_written() {
    let cal = &SymbolTable::default().exchange_calendars["CME"];
    for (rule, year, month, expected) in [
        ("3rd friday", 2026, 3, "2026-03-20"),
        (
            "2 business days before 3rd wednesday",
            2026,
            12,
            "2026-12-14",
        ),
        // NYMEX crude oil, January 2027 contract: 25 Dec 2026 is a holiday, so the count
        // starts on the 24th.
        (
            "3 business days before day 25 of the month before",
            2027,
            1,
            "2026-12-21",
        ),
        (
            "2 business days before last business day",
            2026,
            8,
            "2026-08-27",
        ),
        ("last thursday", 2026, 11, "2026-11-25"),
        ("1st monday of 2 months before", 2027, 3, "2027-01-04"),
    ] {
        let parsed = LastTradingDay::parse(rule).unwrap();
        assert_eq!(parsed.to_string(), rule);
        assert_eq!(
            parsed.date(year, month, cal).unwrap().to_string(),
            expected,
            "{rule}"
        );
    }
    for bad in [
        "third friday",
        "5th friday",
        "day 31",
        "friday",
        "2 business days",
        "",
    ] {
        assert!(LastTradingDay::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_mapped_pair_maps_to_itself() {
    let table = SymbolTable::default();
    for input in ["BINANCE:BTCUSDT", "KRAKEN:USDTUSD", "BINANCE:1INCHUSDC"] {
        let mapped = table.map(input, any_day()).unwrap();
        let again = table.map(mapped.symbol.as_str(), any_day()).unwrap();
        assert_eq!(
            (again.symbol, again.class),
            (mapped.symbol, mapped.class),
            "{input}"
        );
    }
}

/// Every (exchange, Q1, Q2) where the exchange lists Q2 and Q2 ends with Q1 (a class quote).
fn quote_pairs() -> Vec<(String, String, String, bool)> {
    let table = SymbolTable::default();
    let mut pairs = Vec::new();
    for (name, exchange) in &table.exchanges {
        for (list, perpetual) in [
            (&exchange.quotes, false),
            (&exchange.perpetual_quotes, true),
        ] {
            for q2 in list {
                for q1 in table.quotes.keys() {
                    if q1 != q2 && q2.ends_with(q1.as_str()) {
                        pairs.push((name.clone(), q1.clone(), q2.clone(), perpetual));
                    }
                }
            }
        }
    }
    pairs
}

#[test]
fn the_quote_lists_hold_the_dangerous_suffixes() {
    let table = SymbolTable::default();
    let pairs = quote_pairs();
    for (exchange, q1, q2) in [
        ("BINANCE", "USD", "FDUSD"),
        ("BINANCE", "USD", "BUSD"),
        ("BINANCE", "USD", "TUSD"),
        ("GEMINI", "USD", "GUSD"),
    ] {
        let found = (exchange.to_owned(), q1.to_owned(), q2.to_owned(), false);
        assert!(pairs.contains(&found), "{exchange}: {q2} ends with {q1}");
    }
    // The class list holds SPEC §4's quotes and every quote an exchange lists.
    for q in "USD USDT USDC BUSD FDUSD TUSD USDP GUSD PYUSD RLUSD DAI USDE EURC AEUR EUR GBP JPY TRY BRL AUD BTC ETH BNB".split(' ') {
        assert!(table.quotes.contains_key(q), "{q}");
    }
    for (name, exchange) in &table.exchanges {
        for q in exchange.quotes.iter().chain(&exchange.perpetual_quotes) {
            assert!(table.quotes.contains_key(q), "{name} lists {q}");
            assert!(q.len() <= MAX_QUOTE_LEN);
        }
    }
}

proptest! {
    /// For every known quote pair Q1, Q2 where Q2 ends with Q1, on every exchange listing Q2,
    /// BASE+Q2 never maps to BASE+Q2[..-len(Q1)] quoted in Q1: not on spot, not as a perpetual.
    #[test]
    fn no_split_yields_a_different_asset(
        base in "[A-Z][A-Z0-9]{0,6}",
        pick in any::<prop::sample::Index>(),
    ) {
        let table = SymbolTable::default();
        let pairs = quote_pairs();
        let (exchange, q1, q2, perpetual) = &pairs[pick.index(pairs.len())];
        let suffix = if *perpetual { ".P" } else { "" };
        let input = format!("{exchange}:{base}{q2}{suffix}");
        let wrong_base = format!("{base}{}", &q2[..q2.len() - q1.len()]);
        if let Ok((m, rule)) = table.explain(&input, any_day()) {
            let parts: Vec<&str> = m.symbol.as_str().split('-').collect();
            prop_assert_ne!(parts[0], table.asset(&wrong_base), "{} -> {}", input, m.symbol);
            prop_assert!(!rule.contains(&format!(" + {q1} ")), "{} -> {}", input, rule);
        }
    }

    /// On every exchange, BASE+Q for a quote Q it lists is BASE quoted in Q, unless the ticker
    /// ends in a longer quote the same exchange lists (then that one wins).
    #[test]
    fn a_listed_quote_splits_where_it_starts(
        base in "[A-Z][A-Z0-9]{0,6}",
        pick_exchange in any::<prop::sample::Index>(),
        pick_quote in any::<prop::sample::Index>(),
        perpetual in any::<bool>(),
    ) {
        let table = SymbolTable::default();
        let crypto: Vec<(&String, &Exchange)> = table
            .exchanges
            .iter()
            .filter(|(_, e)| !e.quotes.is_empty())
            .collect();
        let (name, exchange) = crypto[pick_exchange.index(crypto.len())];
        let list = if perpetual && !exchange.perpetual_quotes.is_empty() {
            &exchange.perpetual_quotes
        } else {
            &exchange.quotes
        };
        let suffix = if std::ptr::eq(list, &exchange.perpetual_quotes) { ".P" } else { "" };
        let quotes: Vec<&String> = list.iter().collect();
        let quote = quotes[pick_quote.index(quotes.len())];
        let ticker = format!("{base}{quote}");
        let longer = list.iter().any(|q| q.len() > quote.len() && ticker.ends_with(q.as_str()) && ticker.len() > q.len());
        prop_assume!(!longer);
        let m = table.map(&format!("{name}:{ticker}{suffix}"), any_day());
        prop_assume!(!matches!(m, Err(SymbolRefusal::DatedCryptoFuture { .. })));
        let m = m.unwrap();
        let expected_quote = if suffix.is_empty() { table.spot_quote(quote) } else { table.asset(quote) };
        let expected = if suffix.is_empty() {
            format!("{}-{expected_quote}", table.asset(&base))
        } else {
            format!("{}-{expected_quote}-PERP", table.asset(&base))
        };
        prop_assert_eq!(m.symbol.as_str(), expected);
    }

    /// Whenever it is, ES1! is a contract still trading whose switch date is ahead, ES2! the
    /// one after it, and neither is ever past its last trading day.
    #[test]
    fn no_time_resolves_past_the_last_trading_day(minutes in 0i64..(1440 * 1330)) {
        let table = SymbolTable::default();
        let start = parse_rfc3339("2024-01-01T00:00:00Z").unwrap().as_millis();
        let when = UnixMillis(start + minutes * 60_000);
        let cme = &table.exchange_calendars["CME"];
        let day = cme.trade_date(when);
        for root in ["ES", "MES", "NQ", "RTY"] {
            let calendar = &table.calendars[root];
            let front = calendar.continuous(1, day, cme).unwrap();
            let next = calendar.continuous(2, day, cme).unwrap();
            prop_assert!(day < front.switch && front.switch <= front.last_trading_day);
            prop_assert!(front.last_trading_day < next.last_trading_day);
            let input = format!("CME_MINI:{root}1!");
            let mapped = table.map(&input, Timing::at(when)).unwrap();
            prop_assert_eq!(
                mapped.symbol.as_str(),
                format!("{root}-{}{:02}", front.year, front.month)
            );
        }
    }

    /// Any text: mapped or refused, never a panic; what maps is a valid symbol of its class.
    #[test]
    fn any_text_maps_to_its_class_or_is_refused(input in "[A-Za-z0-9:._!\\-]{0,24}") {
        let table = SymbolTable::default();
        if let Ok(m) = table.map(&input, any_day()) {
            prop_assert!(m.class.check_shape(&m.symbol).is_ok(), "{} -> {}", input, m.symbol);
        }
    }
}
