//! A Discord interaction: the fuzzed bytes are the body, signed as Discord signs it (RFC 8032's
//! test key; so the interaction parser, the options, symbology and the envelope are reached),
//! and sent once more with a broken signature. Any panic, abort, timeout or unbounded
//! allocation is a finding.
#![no_main]

mod chat;

use std::sync::{Arc, LazyLock};

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use mts1b_inbound_adapters::discord::Discord;
use mts1b_inbound_core::{
    FundId, FundMap, FundPolicy, Grant, Grantee, Grants, PlatformId, RawRequest, UnixMillis,
};

const SECRET_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

static WORLD: LazyLock<(Discord, SigningKey, FundMap<FundPolicy>)> = LazyLock::new(|| {
    let grant = Grant {
        name: "traders".into(),
        workspace: PlatformId::parse("100").unwrap(),
        grantee: Grantee::Role(PlatformId::parse("300").unwrap()),
        funds: [FundId::parse("paper-tv-test").unwrap()].into(),
        strategies: Default::default(),
    };
    let discord = Discord::from_hex(PUBLIC_KEY).unwrap().with(Arc::default(), Grants::new(vec![grant]));
    let key: [u8; 32] = hex::decode(SECRET_KEY).unwrap().try_into().unwrap();
    (discord, SigningKey::from_bytes(&key), chat::funds())
});

fuzz_target!(|body: &[u8]| {
    let (discord, key, funds) = &*WORLD;
    let ts = chat::NOW_SECS.to_string();
    let mut message = ts.as_bytes().to_vec();
    message.extend_from_slice(body);
    let signature = hex::encode(key.sign(&message).to_bytes());
    let now = UnixMillis(chat::NOW_SECS * 1000);
    let signed = RawRequest::with_body(body.to_vec(), now)
        .header("x-signature-timestamp", ts.as_bytes())
        .header("x-signature-ed25519", signature.as_bytes());
    chat::check(discord, funds, &signed);
    let forged = RawRequest::with_body(body.to_vec(), now)
        .header("x-signature-timestamp", ts.as_bytes())
        .header("x-signature-ed25519", body);
    chat::check(discord, funds, &forged);
});
