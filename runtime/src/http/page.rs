//! The admin page (SPEC §15), rendered on the server: no JavaScript, no build step, nothing
//! loaded from elsewhere. Every text that came from a request or the configuration is escaped.

use std::fmt::Write;

use mts1b_inbound_core::{ClientOrderId, FundId, IdempotencyKey, IntentKind};

use crate::halts::HaltedBy;
use crate::recent::{RecentAlert, RecentFilter};
use crate::runtime::Runtime;

/// Rows of recent alerts the page shows.
pub const ROWS: usize = 200;

/// The outcomes the filter offers.
const OUTCOMES: [&str; 4] = ["accepted", "rejected", "duplicate", "answered"];

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}tr.rejected td,tr.duplicate td{background:#fff4f4}\
.ready{color:#161}.not-ready{color:#a11;font-weight:bold}.halted{color:#a11;font-weight:bold}\
form.inline{display:inline}td.detail{max-width:40em;word-break:break-word}";

/// Escapes `text` for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

/// A refused admin action, with a way back.
pub fn refusal(why: &str) -> String {
    let mut out = String::new();
    head(&mut out, "Refused - mts1b-tradingview");
    let _ = write!(
        out,
        "<h1>Refused</h1><p id=\"refusal\">{}</p><p><a href=\"/\">Back to the admin page</a></p></body></html>",
        escape(why)
    );
    out
}

/// The whole page.
pub async fn render(rt: &Runtime, filter: &RecentFilter) -> String {
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, "mts1b-tradingview admin");
    out.push_str("<h1>mts1b-tradingview</h1>");
    let readiness = rt.readiness();
    if readiness.ready {
        out.push_str("<p id=\"readiness\" class=\"ready\">Ready: taking alerts.</p>");
    } else {
        let _ = write!(
            out,
            "<p id=\"readiness\" class=\"not-ready\">Not ready (alerts are answered 503): {}</p>",
            escape(&readiness.reasons.join("; "))
        );
    }
    funds(&mut out, rt);
    queues(&mut out, rt).await;
    alerts(&mut out, rt, filter).await;
    out.push_str("</body></html>");
    out
}

fn funds(out: &mut String, rt: &Runtime) {
    let halted = rt.halts().list();
    let csrf = escape(rt.admin().csrf());
    out.push_str(
        "<h2>Funds</h2><table id=\"funds\"><tr><th>Fund</th><th>State</th><th>Kill switch</th></tr>",
    );
    for fund in rt.fund_ids() {
        let name = escape(fund.as_str());
        let (state, button) = match halted.get(&fund) {
            None => ("trading".to_owned(), Some(("halt", "Halt"))),
            Some(HaltedBy::Configuration) => (
                "<span class=\"halted\">halted</span> by the configuration".to_owned(),
                None,
            ),
            Some(HaltedBy::Operator { at }) => (
                format!(
                    "<span class=\"halted\">halted</span> from this page at {}",
                    at.to_rfc3339()
                ),
                Some(("resume", "Resume")),
            ),
        };
        let _ = write!(out, "<tr><td>{name}</td><td>{state}</td><td>");
        match button {
            Some((action, label)) => {
                let _ = write!(
                    out,
                    "<form class=\"inline\" method=\"post\" action=\"/funds/{name}/{action}\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <button type=\"submit\">{label} {name}</button></form>"
                );
            }
            None => out.push_str("set funds.&lt;id&gt;.halted in the configuration"),
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</table><p>Halted funds' new orders and replaces are answered 422 <code>fund_halted</code> and recorded nowhere; their cancels still pass.</p>");
}

async fn queues(out: &mut String, rt: &Runtime) {
    out.push_str("<h2>Queue per stream</h2>");
    match rt.queued_by_stream().await {
        None => out.push_str(
            "<p id=\"queues\">Not listed on this backend: see <code>mts1b_delivery_queue_depth</code>.</p>",
        ),
        Some(Err(e)) => {
            let _ = write!(
                out,
                "<p id=\"queues\" class=\"not-ready\">The store could not be read: {}</p>",
                escape(&e.0)
            );
        }
        Some(Ok(streams)) if streams.is_empty() => {
            out.push_str("<p id=\"queues\">Nothing queued: every order is final.</p>");
        }
        Some(Ok(streams)) => {
            out.push_str(
                "<table id=\"queues\"><tr><th>Stream (fund/strategy/symbol)</th><th>Orders not final</th></tr>",
            );
            for (stream, count) in streams {
                let _ = write!(out, "<tr><td>{}</td><td>{count}</td></tr>", escape(&stream));
            }
            out.push_str("</table>");
        }
    }
}

async fn alerts(out: &mut String, rt: &Runtime, filter: &RecentFilter) {
    out.push_str("<h2>Recent alerts</h2><form id=\"filter\" method=\"get\" action=\"/\">");
    out.push_str("<label>Fund <select name=\"fund\"><option value=\"\">any</option>");
    for fund in rt.fund_ids() {
        option(out, fund.as_str(), filter.fund.as_deref());
    }
    out.push_str(
        "</select></label> <label>Outcome <select name=\"outcome\"><option value=\"\">any</option>",
    );
    for outcome in OUTCOMES {
        option(out, outcome, filter.outcome.as_deref());
    }
    out.push_str("</select></label> <button type=\"submit\">Filter</button></form>");
    let rows = rt.recent().newest(filter, ROWS);
    let _ = write!(
        out,
        "<p>{} shown, newest first (the last 1,000 requests are kept).</p>",
        rows.len()
    );
    out.push_str(
        "<table id=\"alerts\"><tr><th>Time (UTC)</th><th>Adapter</th><th>Fund</th><th>Key</th>\
         <th>Intent</th><th>Outcome</th><th>Reason</th><th>Detail</th><th>Status</th>\
         <th>Latency</th><th>Order now</th></tr>",
    );
    let csrf = escape(rt.admin().csrf());
    for row in rows {
        let (order, expired) = order_now(rt, &row).await;
        let mut order = escape(&order);
        if expired {
            // Never the late send SPEC §7 forbids: a new order, under a key the operator types.
            let _ = write!(
                order,
                "<form method=\"post\" action=\"/resubmit\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"fund\" value=\"{fund}\">\
                 <input type=\"hidden\" name=\"key\" value=\"{key}\">\
                 <input name=\"new_key\" required placeholder=\"a new key\" aria-label=\"new key\">\
                 <button type=\"submit\">Re-submit as a new order</button></form>",
                fund = escape(row.fund.as_deref().unwrap_or_default()),
                key = escape(row.key.as_deref().unwrap_or_default()),
            );
        }
        let _ = write!(
            out,
            "<tr class=\"{outcome}\"><td>{at}</td><td>{adapter}</td><td>{fund}</td><td>{key}</td>\
             <td>{intent}</td><td>{outcome}</td><td>{reason}</td><td class=\"detail\">{detail}</td>\
             <td>{status}</td><td>{latency:.1} ms</td><td>{order}</td></tr>",
            at = row.at.to_rfc3339(),
            adapter = row.adapter,
            fund = escape(row.fund.as_deref().unwrap_or("-")),
            key = escape(row.key.as_deref().unwrap_or("-")),
            intent = row.intent.unwrap_or("-"),
            outcome = row.outcome,
            reason = row.reason,
            detail = escape(row.detail.as_deref().unwrap_or("")),
            status = row.status,
            latency = row.latency_ms,
        );
    }
    out.push_str("</table>");
}

fn option(out: &mut String, value: &str, selected: Option<&str>) {
    let value = escape(value);
    let chosen = if selected == Some(value.as_str()) {
        " selected"
    } else {
        ""
    };
    let _ = write!(out, "<option value=\"{value}\"{chosen}>{value}</option>");
}

/// Where an accepted request's order stands now and how many OMS calls it took, and whether
/// it is an order that expired (which an operator may send again as a new one).
async fn order_now(rt: &Runtime, row: &RecentAlert) -> (String, bool) {
    let (Some(fund), Some(key), Some(intent)) = (&row.fund, &row.key, row.intent) else {
        return (String::new(), false);
    };
    if row.outcome != "accepted" {
        return (String::new(), false);
    }
    let (Ok(fund), Ok(key), Some(kind)) = (
        FundId::parse(fund),
        IdempotencyKey::parse(key),
        IntentKind::ALL.iter().find(|k| k.as_str() == intent),
    ) else {
        return (String::new(), false);
    };
    let id = ClientOrderId::derive_for(*kind, row.adapter, &fund, &key);
    match rt.status_of(&id).await {
        Ok(Some(status)) => {
            let mut text = format!(
                "{} · {} attempt{}",
                status.status.as_str(),
                status.attempts,
                if status.attempts == 1 { "" } else { "s" }
            );
            if let Some(order_id) = status.order_id {
                let _ = write!(text, " · OMS id {order_id}");
            }
            if let Some(error) = status.last_error {
                let _ = write!(text, " · last error: {error}");
            }
            let expired =
                status.status == crate::store::Status::Expired && *kind == IntentKind::Submit;
            (text, expired)
        }
        Ok(None) => ("no longer kept".to_owned(), false),
        Err(e) => (format!("unknown: {}", e.0), false),
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert('x')</script>&"q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;q&quot;"
        );
    }
}
