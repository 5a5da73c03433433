//! The `/order` grammar: what a trader types after the command, read into an [`OrderRequest`].
//!
//! ```text
//! /order SIDE QUANTITY SYMBOL TYPE [PRICE] fund=FUND [strategy=ID] [tif=TIF] [thesis="why"]
//! /order cancel KEY fund=FUND [source=SOURCE] [strategy=ID] [symbol=SYMBOL]
//! /order replace KEY fund=FUND [qty=QUANTITY] [limit=PRICE] [stop=PRICE] [tif=TIF] [source=…]
//! /order cancel-all fund=FUND [SYMBOL] [strategy=ID]
//! /order help
//! ```
//! `TYPE` is `market`, `limit PRICE`, `stop PRICE` or `stop_limit stop=PRICE limit=PRICE` (two
//! prices are named, never positional, so a stop cannot be read as a limit). Options are
//! `key=value`, in any order, each at most once; a value with spaces is quoted (`"…"`, or the
//! curly quotes a phone or a Mac types). Words are case-insensitive where the alert schema's
//! are (side, type, tif); symbols, decimals and ids follow SPEC §3 and §4 exactly.

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{IntentKind, Rejection};

use crate::chat::{ModifyRequest, OrderRequest, Request};

/// What a command asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The grammar.
    Help,
    /// An order, or a change to one.
    Request(Box<Request>),
}

/// The most words a command may have.
pub const MAX_WORDS: usize = 16;

/// What a reply to a malformed command ends with.
pub const HELP_HINT: &str = "Send `/order help` for the grammar.";

/// The reply to `/order help` (and to an empty `/order`).
pub const HELP: &str = "Place an order:\n\
`/order SIDE QUANTITY SYMBOL TYPE [PRICE] fund=FUND [strategy=ID] [tif=day|gtc|ioc|fok] [reduce_only=true] [thesis=\"why\"]`\n\
• SIDE: buy or sell • QUANTITY: a decimal such as 0.05 • SYMBOL: as TradingView writes it (BINANCE:BTCUSDT, BYBIT:BTCUSDT.P, CME_MINI:ES1!, NASDAQ:AAPL)\n\
• TYPE: market | limit PRICE | stop PRICE | stop_limit stop=PRICE limit=PRICE\n\
• strategy defaults to manual, tif to day\n\
Change an order (KEY: the key its reply printed, or an alert's idempotency_key with source=tradingview):\n\
`/order cancel KEY fund=FUND [source=tradingview]`\n\
`/order replace KEY fund=FUND [qty=QUANTITY] [limit=PRICE] [stop=PRICE] [tif=TIF]` (at least one; qty is the new total)\n\
`/order cancel-all fund=FUND [SYMBOL] [strategy=ID]` (strategy defaults to manual)\n\
Examples:\n\
`/order buy 0.05 BINANCE:BTCUSDT limit 95000 fund=paper-tv-test`\n\
`/order sell 1 CME_MINI:ES1! stop 5000 fund=futures-desk tif=gtc thesis=\"stop under the range\"`\n\
`/order replace 1234.5678.abcd fund=paper-tv-test limit=94000`\n\
Each reply that accepts an order shows its key.";

/// Reads the text of a slash command (as Slack sends it: `&`, `<` and `>` escaped).
pub fn read(text: &str) -> Result<Command, Rejection> {
    let text = unescape(text);
    let words = words(&text)?;
    let Some(first) = words.first() else {
        return Ok(Command::Help);
    };
    let modification = match first.to_ascii_lowercase().as_str() {
        "help" => return Ok(Command::Help),
        "cancel" => Some(IntentKind::Cancel),
        "replace" => Some(IntentKind::Replace),
        "cancel-all" | "cancel_all" => Some(IntentKind::CancelAll),
        _ => None,
    };
    let request = match modification {
        Some(kind) => Request::Modify(read_modification(kind, &words[1..])?),
        None => Request::Order(read_order(&words)?),
    };
    Ok(Command::Request(Box::new(request)))
}

/// `SIDE QUANTITY SYMBOL TYPE [PRICE] key=value…`
fn read_order(words: &[String]) -> Result<OrderRequest, Rejection> {
    let mut order = OrderRequest::default();
    let mut positional = 0;
    for word in words {
        match word.split_once('=') {
            Some((key, value)) => {
                let key = key.to_ascii_lowercase();
                let slot = OrderRequest::OPTIONS
                    .contains(&key.as_str())
                    .then(|| order.slot(&key))
                    .flatten()
                    .ok_or_else(|| unknown_option(&key, &OrderRequest::OPTIONS))?;
                set(slot, &key, value)?;
            }
            None if positional < 5 => {
                let slot = match positional {
                    0 => &mut order.side,
                    1 => &mut order.quantity,
                    2 => &mut order.symbol,
                    3 => &mut order.order_type,
                    _ => price_slot(&mut order)?,
                };
                set(slot, &positional_name(positional), word)?;
                positional += 1;
            }
            None => return Err(unexpected(word)),
        }
    }
    let missing = ["side", "quantity", "symbol", "type"];
    if positional < 4 {
        return Err(Rejection::invalid(missing[positional], "required"));
    }
    Ok(order)
}

/// `cancel KEY key=value…`, `replace KEY key=value…`, `cancel-all [SYMBOL] key=value…`.
fn read_modification(kind: IntentKind, words: &[String]) -> Result<ModifyRequest, Rejection> {
    let mut request = ModifyRequest::new(kind);
    // The one word a modification takes by position.
    let positional = match kind {
        IntentKind::CancelAll => "symbol",
        _ => "key",
    };
    let mut positional_seen = false;
    for word in words {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key.to_ascii_lowercase(), value),
            // `/order cancel all …`, as people say it: not an order keyed "all" (which
            // `key=all` still names).
            None if kind == IntentKind::Cancel
                && !positional_seen
                && word.eq_ignore_ascii_case("all") =>
            {
                return Err(Rejection::invalid(
                    "key",
                    "to cancel every order of a strategy, send `/order cancel-all fund=FUND [SYMBOL] [strategy=ID]`",
                ));
            }
            None if !positional_seen => {
                positional_seen = true;
                (positional.to_owned(), word.as_str())
            }
            None => return Err(unexpected(word)),
        };
        let options = ModifyRequest::options(kind);
        let slot = (options.contains(&key.as_str()) || key == positional)
            .then(|| request.slot(&key))
            .flatten()
            .ok_or_else(|| unknown_option(&key, options))?;
        set(slot, &key, value)?;
    }
    Ok(request)
}

fn set(slot: &mut Option<String>, name: &str, value: &str) -> Result<(), Rejection> {
    if slot.is_some() {
        return Err(Rejection::invalid(name, "given twice"));
    }
    *slot = Some(value.to_owned());
    Ok(())
}

fn unknown_option(key: &str, options: &[&str]) -> Rejection {
    Rejection::invalid(
        key,
        format!("unknown option; the options are {}", options.join(", ")),
    )
}

fn unexpected(word: &str) -> Rejection {
    Rejection::invalid(
        "text",
        format!("unexpected {:?}: options are key=value", bounded(word)),
    )
}

fn positional_name(i: usize) -> String {
    ["side", "quantity", "symbol", "type", "price"][i.min(4)].to_owned()
}

/// The price after the type: the limit of a limit order, the stop of a stop order.
fn price_slot(order: &mut OrderRequest) -> Result<&mut Option<String>, Rejection> {
    let kind = order.order_type.as_deref().unwrap_or_default();
    if kind.eq_ignore_ascii_case("limit") {
        Ok(&mut order.limit)
    } else if kind.eq_ignore_ascii_case("stop") {
        Ok(&mut order.stop)
    } else if kind.eq_ignore_ascii_case("stop_limit") {
        Err(Rejection::invalid(
            "price",
            "a stop_limit order names its prices: stop=PRICE limit=PRICE",
        ))
    } else {
        Err(Rejection::invalid(
            "price",
            format!("a {} order takes no price", bounded(kind)),
        ))
    }
}

/// Undoes Slack's escaping of `&`, `<` and `>` in command text.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Splits on whitespace; a quoted part (`"…"` or `“…”`) keeps its spaces, without its quotes.
fn words(text: &str) -> Result<Vec<String>, Rejection> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' | '“' | '”' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
        if words.len() > MAX_WORDS {
            return Err(Rejection::invalid(
                "text",
                format!("more than {MAX_WORDS} words"),
            ));
        }
    }
    if quoted {
        return Err(Rejection::invalid("text", "a quote is not closed"));
    }
    if started {
        words.push(word);
    }
    if words.len() > MAX_WORDS {
        return Err(Rejection::invalid(
            "text",
            format!("more than {MAX_WORDS} words"),
        ));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(text: &str) -> OrderRequest {
        match read(text) {
            Ok(Command::Request(r)) => match *r {
                Request::Order(o) => o,
                other => panic!("{text}: {other:?}"),
            },
            other => panic!("{text}: {other:?}"),
        }
    }

    fn modification(text: &str) -> ModifyRequest {
        match read(text) {
            Ok(Command::Request(r)) => match *r {
                Request::Modify(m) => m,
                other => panic!("{text}: {other:?}"),
            },
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn reads_the_documented_forms() {
        let o = order(
            "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=paper-tv-test tif=gtc strategy=manual thesis=\"breakout above range\"",
        );
        assert_eq!(o.side.as_deref(), Some("buy"));
        assert_eq!(o.quantity.as_deref(), Some("0.05"));
        assert_eq!(o.symbol.as_deref(), Some("BINANCE:BTCUSDT"));
        assert_eq!(o.order_type.as_deref(), Some("limit"));
        assert_eq!(o.limit.as_deref(), Some("95000"));
        assert_eq!(o.stop, None);
        assert_eq!(o.fund.as_deref(), Some("paper-tv-test"));
        assert_eq!(o.tif.as_deref(), Some("gtc"));
        assert_eq!(o.thesis.as_deref(), Some("breakout above range"));
        let o = order("SELL 1 CME_MINI:ES1! Stop 5000 fund=f");
        assert_eq!((o.stop.as_deref(), o.limit), (Some("5000"), None));
        let o = order("sell 1 X stop_limit stop=5000 limit=4990 fund=f");
        assert_eq!(
            (o.stop.as_deref(), o.limit.as_deref()),
            (Some("5000"), Some("4990"))
        );
        // Curly quotes, as macOS and phones type them; Slack's escaping undone.
        let o = order("buy 1 NASDAQ:AAPL market fund=f thesis=“earnings &lt;beat&gt; &amp; guide”");
        assert_eq!(o.thesis.as_deref(), Some("earnings <beat> & guide"));
        for help in ["", "   ", "help", "HELP me"] {
            assert_eq!(read(help), Ok(Command::Help), "{help:?}");
        }
    }

    #[test]
    fn reads_modifications() {
        let m = modification("cancel 398738663015.47445629121.803a fund=f");
        assert_eq!(m.kind, IntentKind::Cancel);
        assert_eq!(
            m.target_key.as_deref(),
            Some("398738663015.47445629121.803a")
        );
        assert_eq!(m.fund.as_deref(), Some("f"));
        let m = modification(
            "Cancel key=a=b fund=f source=tradingview strategy=trend symbol=BINANCE:BTCUSDT",
        );
        assert_eq!(m.target_key.as_deref(), Some("a=b"));
        assert_eq!(m.source.as_deref(), Some("tradingview"));
        assert_eq!(m.strategy.as_deref(), Some("trend"));
        assert_eq!(m.symbol.as_deref(), Some("BINANCE:BTCUSDT"));
        let m = modification("replace k1 fund=f qty=2 limit=94000 stop=93000 tif=gtc");
        assert_eq!(m.kind, IntentKind::Replace);
        assert_eq!(
            (
                m.quantity.as_deref(),
                m.limit.as_deref(),
                m.stop.as_deref(),
                m.tif.as_deref()
            ),
            (Some("2"), Some("94000"), Some("93000"), Some("gtc"))
        );
        let m = modification("cancel-all fund=f BYBIT:BTCUSDT.P strategy=grid");
        assert_eq!(m.kind, IntentKind::CancelAll);
        assert_eq!(m.symbol.as_deref(), Some("BYBIT:BTCUSDT.P"));
        assert_eq!(m.strategy.as_deref(), Some("grid"));
        assert_eq!(modification("CANCEL_ALL fund=f").symbol, None);
        let refused = |text: &str| read(text).unwrap_err();
        assert_eq!(
            refused("cancel k1 fund=f qty=2"),
            Rejection::invalid(
                "qty",
                "unknown option; the options are fund, source, strategy, symbol"
            )
        );
        assert!(matches!(
            refused("cancel all fund=f BINANCE:BTCUSDT"),
            Rejection::InvalidPayload { field, detail } if field == "key" && detail.contains("/order cancel-all")
        ));
        assert_eq!(
            modification("cancel key=all fund=f").target_key.as_deref(),
            Some("all")
        );
        assert_eq!(
            refused("cancel k1 k2 fund=f"),
            Rejection::invalid("text", "unexpected \"k2\": options are key=value")
        );
        assert_eq!(
            refused("cancel k1 key=k2 fund=f"),
            Rejection::invalid("key", "given twice")
        );
        assert_eq!(
            refused("cancel-all BINANCE:BTCUSDT symbol=BINANCE:ETHUSDT fund=f"),
            Rejection::invalid("symbol", "given twice")
        );
        assert!(matches!(
            refused("cancel-all fund=f source=slack"),
            Rejection::InvalidPayload { field, .. } if field == "source"
        ));
        assert!(matches!(
            refused("buy 1 X market fund=f source=slack"),
            Rejection::InvalidPayload { field, .. } if field == "source"
        ));
    }

    #[test]
    fn refuses_precisely() {
        let refused = |text: &str| read(text).unwrap_err();
        assert_eq!(refused("buy 1"), Rejection::invalid("symbol", "required"));
        assert_eq!(
            refused("buy 1 X market 5 fund=f"),
            Rejection::invalid("price", "a market order takes no price")
        );
        assert_eq!(
            refused("buy 1 X limit 5 limit=6 fund=f"),
            Rejection::invalid("limit", "given twice")
        );
        assert_eq!(
            refused("buy 1 X limit 5 6"),
            Rejection::invalid("text", "unexpected \"6\": options are key=value")
        );
        assert!(matches!(
            refused("buy 1 X market venue=binance"),
            Rejection::InvalidPayload { field, .. } if field == "venue"
        ));
        assert_eq!(
            refused("buy 1 X market thesis=\"open"),
            Rejection::invalid("text", "a quote is not closed")
        );
        assert!(matches!(
            refused(&"a ".repeat(40)),
            Rejection::InvalidPayload { detail, .. } if detail.contains("words")
        ));
        assert!(matches!(
            refused("buy 1 X stop_limit 5 fund=f"),
            Rejection::InvalidPayload { field, .. } if field == "price"
        ));
    }
}
