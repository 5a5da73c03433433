//! A Slack slash command: the fuzzed bytes are the form body, signed as Slack signs it (so
//! the form parser, the `/order` grammar, symbology and the envelope are reached), and sent
//! once more with a broken signature (so verification is too). Any panic, abort, timeout or
//! unbounded allocation is a finding.
#![no_main]

mod chat;

use std::sync::{Arc, LazyLock};

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use mts1b_inbound_adapters::slack::Slack;
use mts1b_inbound_core::{
    FundId, FundMap, FundPolicy, Grant, Grantee, Grants, PlatformId, RawRequest, Secret, UnixMillis,
};
use sha2::Sha256;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

static WORLD: LazyLock<(Slack, FundMap<FundPolicy>)> = LazyLock::new(|| {
    let grant = Grant {
        name: "alice".into(),
        workspace: PlatformId::parse("T0001").unwrap(),
        grantee: Grantee::User(PlatformId::parse("U0001").unwrap()),
        funds: [FundId::parse("paper-tv-test").unwrap()].into(),
        strategies: Default::default(),
    };
    let slack = Slack::new(Secret::new(SECRET), Arc::default(), Grants::new(vec![grant]));
    (slack, chat::funds())
});

fuzz_target!(|body: &[u8]| {
    let (slack, funds) = &*WORLD;
    let ts = chat::NOW_SECS.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    let now = UnixMillis(chat::NOW_SECS * 1000);
    let signed = RawRequest::with_body(body.to_vec(), now)
        .header("x-slack-request-timestamp", ts.as_bytes())
        .header("x-slack-signature", signature.as_bytes());
    chat::check(slack, funds, &signed);
    let forged = RawRequest::with_body(body.to_vec(), now)
        .header("x-slack-request-timestamp", ts.as_bytes())
        .header("x-slack-signature", body);
    chat::check(slack, funds, &forged);
});
