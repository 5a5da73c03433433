use std::collections::HashMap;
use std::sync::Arc;

use mts1b_inbound_core::{
    FundId, FundSecrets, InboundAdapter, Intent, RawRequest, Rejection, Secret, SecretLookup,
    SecretSource, UnixMillis, authenticate,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

struct Secrets(Option<HashMap<String, Arc<FundSecrets>>>);

impl SecretSource for Secrets {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        match &self.0 {
            None => SecretLookup::NotLoaded,
            Some(map) => map
                .get(fund.as_str())
                .map_or(SecretLookup::UnknownFund, |s| {
                    SecretLookup::Found(s.clone())
                }),
        }
    }
}

fn secrets() -> Secrets {
    Secrets(Some(HashMap::from([(
        "paper-tv-test".to_owned(),
        Arc::new(FundSecrets::new(Secret::new("s3cret-value"))),
    )])))
}

#[test]
fn the_previous_secret_authenticates_until_its_grace_ends_and_says_so() {
    let tv = TradingView::default();
    // The request below is received at 1_709_296_497_000.
    let rotating = |until: i64| {
        Secrets(Some(HashMap::from([(
            "paper-tv-test".to_owned(),
            Arc::new(
                FundSecrets::new(Secret::new("new-secret"))
                    .with_previous(Secret::new("s3cret-value"), UnixMillis(until)),
            ),
        )])))
    };
    let body = alert().to_string();
    let req = request(body.as_bytes());
    let principal = |secrets: &Secrets| {
        let payload = tv.parse(&req).unwrap();
        authenticate(&tv, &req, payload, secrets).map(|a| a.principal().clone())
    };
    let old = principal(&rotating(1_709_296_497_001)).unwrap();
    assert!(old.previous_secret, "{old:?}");
    assert_eq!(
        principal(&rotating(1_709_296_497_000)).unwrap_err(),
        Rejection::Unauthorized,
        "not at the end of the grace"
    );
    assert!(!principal(&secrets()).unwrap().previous_secret);
}

fn alert() -> Value {
    json!({
        "secret": "s3cret-value", "strategy_id": "tv_breakout_v1", "fund_id": "paper-tv-test",
        "symbol": "BINANCE:BTCUSDT", "side": "buy", "quantity": "0.05", "order_type": "limit",
        "limit_price": "95000", "tif": "day", "actor": "tradingview",
        "idempotency_key": "tv_breakout_v1-Long-2024-03-01T12:34:56Z",
        "thesis": "20-bar breakout with vol confirmation", "alert_time": "2024-03-01T12:34:56Z"
    })
}

fn request(body: &[u8]) -> RawRequest {
    RawRequest::with_body(body, UnixMillis(1_709_296_497_000))
}

fn run(body: &[u8], secrets: &dyn SecretSource) -> Result<Intent, Rejection> {
    let tv = TradingView::default();
    let req = request(body);
    let payload = tv.parse(&req)?;
    let alert = authenticate(&tv, &req, payload, secrets)?;
    tv.normalize(alert)
}

fn invalid(field: &str) -> impl Fn(&Result<Intent, Rejection>) -> bool + '_ {
    move |r| matches!(r, Err(Rejection::InvalidPayload { field: f, .. }) if f == field)
}

#[test]
fn spec_example_becomes_the_canonical_order() {
    let Ok(Intent::Submit(order)) = run(alert().to_string().as_bytes(), &secrets()) else {
        panic!("spec example must be accepted");
    };
    assert_eq!(order.symbol.as_str(), "BTC-USD");
    assert_eq!(
        order.venue_hint.as_ref().map(|v| v.as_str()),
        Some("binance")
    );
    assert_eq!(order.quantity.to_string(), "0.05");
    assert_eq!(order.pricing.limit_price().unwrap().to_string(), "95000");
    assert_eq!(order.received_at, UnixMillis(1_709_296_497_000));
}

#[test]
fn wrong_secret_and_unknown_fund_get_the_same_answer() {
    let mut wrong = alert();
    wrong["secret"] = json!("s3cret-valuE");
    let mut unknown = alert();
    unknown["fund_id"] = json!("no-such-fund");
    let a = run(wrong.to_string().as_bytes(), &secrets());
    let b = run(unknown.to_string().as_bytes(), &secrets());
    assert_eq!(a, Err(Rejection::Unauthorized));
    assert_eq!(a, b);
}

#[test]
fn secrets_not_loaded_is_unavailable_not_unauthorized() {
    let r = run(alert().to_string().as_bytes(), &Secrets(None));
    assert!(matches!(r, Err(Rejection::Unavailable { .. })), "{r:?}");
}

#[test]
fn json_numbers_are_read_exactly() {
    for (number, expected) in [
        ("1e-5", "0.00001"),
        ("0.05", "0.05"),
        ("123456789012345678901234", "123456789012345678901234"),
        ("0.1000000000000000055511151231257827", "0.1"),
    ] {
        let mut body = alert().to_string();
        body = body.replace("\"quantity\":\"0.05\"", &format!("\"quantity\":{number}"));
        // The last case has over 28 significant digits and must be refused, not rounded.
        let r = run(body.as_bytes(), &secrets());
        if number.len() > 30 {
            assert!(invalid("quantity")(&r), "{number}: {r:?}");
        } else {
            let Ok(Intent::Submit(order)) = r else {
                panic!("{number}: {r:?}")
            };
            assert_eq!(order.quantity.to_string(), expected);
        }
    }
}

#[test]
fn placeholders_are_named_but_a_secret_never_echoed() {
    let mut a = alert();
    a["idempotency_key"] = json!("tv-{{strategy.order.id}}-x");
    let r = run(a.to_string().as_bytes(), &secrets());
    let Err(Rejection::InvalidPayload { field, detail }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(field, "idempotency_key");
    assert!(detail.contains("{{strategy.order.id}}"), "{detail}");

    let mut a = alert();
    a["secret"] = json!("{{my-secret-hint}}abc");
    let r = run(a.to_string().as_bytes(), &secrets());
    let Err(Rejection::InvalidPayload { field, detail }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(field, "secret");
    assert!(!detail.contains("my-secret-hint"), "{detail}");
}

#[test]
fn placeholders_are_found_even_when_spelled_with_escapes() {
    // A body with no brace but the object's own two skips the placeholder search; braces
    // written as escapes must not slip through that shortcut.
    let key = "tv_breakout_v1-Long-2024-03-01T12:34:56Z";
    for value in [r"tv-\u007b\u007bticker\u007d\u007d-x", "tv-{{ticker}}-x"] {
        let body = alert().to_string().replace(key, value);
        let r = run(body.as_bytes(), &secrets());
        let Err(Rejection::InvalidPayload { field, detail }) = r else {
            panic!("{value}: {r:?}")
        };
        assert_eq!(field, "idempotency_key");
        assert!(detail.contains("{{ticker}}"), "{detail}");
    }
}

#[test]
fn structure_errors_are_invalid_json() {
    for body in [
        &b""[..],
        b"[]",
        b"\"x\"",
        b"{",
        b"{} {}",
        b"{\"a\":1,}",
        b"\xff",
    ] {
        let r = run(body, &secrets());
        assert!(
            matches!(r, Err(Rejection::InvalidJson { .. })),
            "{body:?}: {r:?}"
        );
    }
    // A syntax error after a schema error still wins: the body is not JSON at all.
    let r = run(b"{\"nope\":1, \"side\":", &secrets());
    assert!(matches!(r, Err(Rejection::InvalidJson { .. })), "{r:?}");
}

#[test]
fn escaped_keys_and_values_read_like_plain_ones() {
    let plain = run(alert().to_string().as_bytes(), &secrets());
    let escaped = alert()
        .to_string()
        .replace("\"side\"", "\"\\u0073ide\"")
        .replace("\"BINANCE:BTCUSDT\"", "\"BINANCE\\u003aBTCUSDT\"")
        .replace("\"s3cret-value\"", "\"s3cret\\u002dvalue\"");
    assert!(escaped.contains("\\u0073ide"), "{escaped}");
    let escaped = run(escaped.as_bytes(), &secrets());
    assert!(plain.is_ok(), "{plain:?}");
    assert_eq!(escaped, plain);
}

#[test]
fn values_of_the_wrong_json_type_name_their_field() {
    for (field, value) in [
        ("symbol", json!(["BINANCE:BTCUSDT"])),
        ("side", json!({"buy": true})),
        ("tif", json!(null)),
        ("actor", json!(false)),
        ("alert_time", json!(1_709_296_496)),
        ("quantity", json!([1])),
        ("limit_price", json!(true)),
    ] {
        let mut a = alert();
        a[field] = value;
        let r = run(a.to_string().as_bytes(), &secrets());
        assert!(invalid(field)(&r), "{field}: {r:?}");
    }
}

#[test]
fn repeated_fields_are_refused_even_with_equal_values() {
    let body = alert().to_string().replacen('{', "{\"side\":\"buy\",", 1);
    assert!(invalid("side")(&run(body.as_bytes(), &secrets())));
}

proptest! {
    /// Arbitrary bytes are never an alert, and never anything but a JSON or schema refusal.
    #[test]
    fn arbitrary_bytes_are_invalid_json_or_invalid_payload(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        match TradingView::default().parse(&request(&body)) {
            Err(Rejection::InvalidJson { .. } | Rejection::InvalidPayload { .. }) => {}
            other => prop_assert!(false, "{:?} for {:?}", other.map(|_| "an alert"), body),
        }
    }

    #[test]
    fn parse_never_panics_on_json_shaped_noise(
        key in "[a-z_]{1,16}",
        value in prop_oneof![
            ".{0,40}".prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            Just(Value::Null),
            Just(json!([1, {"a": "{{x}}"}])),
        ],
    ) {
        let mut a = alert();
        a[key.as_str()] = value;
        let _ = run(a.to_string().as_bytes(), &secrets());
    }
}
