//! The `/order` grammar: what a trader types after the command, read into an [`OrderRequest`].
//!
//! ```text
//! /order SIDE QUANTITY SYMBOL TYPE [PRICE] fund=FUND [strategy=ID] [tif=TIF] [thesis="why"]
//! /order help
//! ```
//! `TYPE` is `market`, `limit PRICE`, `stop PRICE` or `stop_limit stop=PRICE limit=PRICE` (two
//! prices are named, never positional, so a stop cannot be read as a limit). Options are
//! `key=value`, in any order, each at most once; a value with spaces is quoted (`"…"`, or the
//! curly quotes a phone or a Mac types). Words are case-insensitive where the alert schema's
//! are (side, type, tif); symbols, decimals and ids follow SPEC §3 and §4 exactly.

use mts1b_inbound_core::Rejection;
use mts1b_inbound_core::rejection::bounded;

use crate::chat::OrderRequest;

/// What a command asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The grammar.
    Help,
    /// An order.
    Order(Box<OrderRequest>),
}

/// The most words a command may have.
pub const MAX_WORDS: usize = 16;

/// The options a command may name.
pub const OPTIONS: [&str; 6] = ["fund", "strategy", "tif", "thesis", "limit", "stop"];

/// What a reply to a malformed command ends with.
pub const HELP_HINT: &str = "Send `/order help` for the grammar.";

/// The reply to `/order help` (and to an empty `/order`).
pub const HELP: &str = "Place an order:\n\
`/order SIDE QUANTITY SYMBOL TYPE [PRICE] fund=FUND [strategy=ID] [tif=day|gtc|ioc|fok] [thesis=\"why\"]`\n\
• SIDE: buy or sell • QUANTITY: a decimal such as 0.05 • SYMBOL: as TradingView writes it (BINANCE:BTCUSDT, BYBIT:BTCUSDT.P, CME_MINI:ES1!, NASDAQ:AAPL)\n\
• TYPE: market | limit PRICE | stop PRICE | stop_limit stop=PRICE limit=PRICE\n\
• strategy defaults to manual, tif to day\n\
Examples:\n\
`/order buy 0.05 BINANCE:BTCUSDT limit 95000 fund=paper-tv-test`\n\
`/order sell 1 CME_MINI:ES1! stop 5000 fund=futures-desk tif=gtc thesis=\"stop under the range\"`\n\
Each reply that accepts an order shows its key.";

/// Reads the text of a slash command (as Slack sends it: `&`, `<` and `>` escaped).
pub fn read(text: &str) -> Result<Command, Rejection> {
    let text = unescape(text);
    let words = words(&text)?;
    let first = words.first().map(String::as_str);
    if first.is_none() || first.is_some_and(|w| w.eq_ignore_ascii_case("help")) {
        return Ok(Command::Help);
    }
    let mut order = OrderRequest::default();
    let mut positional = 0;
    for word in &words {
        match word.split_once('=') {
            Some((key, value)) => option(&mut order, key, value)?,
            None if positional < 5 => {
                let slot = match positional {
                    0 => &mut order.side,
                    1 => &mut order.quantity,
                    2 => &mut order.symbol,
                    3 => &mut order.order_type,
                    _ => price_slot(&mut order)?,
                };
                if slot.is_some() {
                    return Err(Rejection::invalid(
                        &positional_name(positional),
                        "given twice",
                    ));
                }
                *slot = Some(word.clone());
                positional += 1;
            }
            None => {
                return Err(Rejection::invalid(
                    "text",
                    format!("unexpected {:?}: options are key=value", bounded(word)),
                ));
            }
        }
    }
    let missing = ["side", "quantity", "symbol", "type"];
    if positional < 4 {
        return Err(Rejection::invalid(missing[positional], "required"));
    }
    Ok(Command::Order(Box::new(order)))
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

fn option(order: &mut OrderRequest, key: &str, value: &str) -> Result<(), Rejection> {
    let slot = match key.to_ascii_lowercase().as_str() {
        "fund" => &mut order.fund,
        "strategy" => &mut order.strategy,
        "tif" => &mut order.tif,
        "thesis" => &mut order.thesis,
        "limit" => &mut order.limit,
        "stop" => &mut order.stop,
        _ => {
            return Err(Rejection::invalid(
                key,
                format!("unknown option; the options are {}", OPTIONS.join(", ")),
            ));
        }
    };
    if slot.is_some() {
        return Err(Rejection::invalid(key, "given twice"));
    }
    *slot = Some(value.to_owned());
    Ok(())
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
            Ok(Command::Order(o)) => *o,
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
