//! The Discord adapter: the `/order` application command (SPEC §12), authenticated by
//! Discord's Ed25519 request signature, traded by the members the configuration grants
//! (`adapters.discord.principals`).
//!
//! Authentication: `X-Signature-Ed25519` (hex) must be a strict Ed25519 signature
//! (`verify_strict`: no small-order keys, no malleable signatures) by the application's public
//! key over `X-Signature-Timestamp` followed by the raw body, and the timestamp within 5
//! minutes of the receive time, either way, all before the body is parsed. A PING is answered
//! `{"type":1}`; an application command is read from its options ([`command`]) and answered
//! with an ephemeral message (type 4, flags 64). The member is the interaction's guild, user
//! and roles; the replay key its `id`.

pub mod command;

use ed25519_dalek::{Signature, VerifyingKey};
use mts1b_inbound_core::{
    Authenticated, Decision, FollowUp, FollowUpMethod, Grants, IdempotencyKey, InboundAdapter,
    Intent, IntentKind, KnownOrders, NoKnownOrders, Principal, RawRequest, Rejection, Reloadable,
    SecretSource, SymbolTable, member_principal,
};

use crate::chat::{self, Origin};
use crate::signed;

pub use command::{Interaction, InteractionKind, Webhook, parse_interaction};

/// The adapter name.
pub const NAME: &str = "discord";
/// How far `X-Signature-Timestamp` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The header carrying the hex signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Discord's flag for a message only its recipient sees.
pub const EPHEMERAL: u64 = 64;
/// The longest message content Discord takes, less one for the cut mark.
pub const MAX_CONTENT_CHARS: usize = 1999;
/// Discord's API, where follow-ups edit the deferred reply.
pub const API_BASE: &str = "https://discord.com/api/v10";

/// Why a public key could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 public key (expected 64 hex characters of a valid curve point)")]
pub struct PublicKeyError;

/// Takes Discord interactions.
#[derive(Debug)]
pub struct Discord {
    public_key: VerifyingKey,
    symbols: Reloadable<SymbolTable>,
    grants: Grants,
    api_base: String,
}

impl Discord {
    /// Builds the adapter from the application's public key, as hex (as Discord shows it),
    /// with no grants and the built-in symbology ([`Discord::with`] sets them).
    pub fn from_hex(public_key: &str) -> Result<Self, PublicKeyError> {
        let bytes = signed::decode::<32>(public_key).ok_or(PublicKeyError)?;
        let public_key = VerifyingKey::from_bytes(&bytes).map_err(|_| PublicKeyError)?;
        Ok(Self {
            public_key,
            symbols: Reloadable::default(),
            grants: Grants::default(),
            api_base: API_BASE.to_owned(),
        })
    }

    /// Sets Discord's API address ([`API_BASE`] by default; tests point it at a local
    /// stand-in for Discord).
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into();
        self
    }

    /// Sets the symbology table and the grants.
    pub fn with(mut self, symbols: impl Into<Reloadable<SymbolTable>>, grants: Grants) -> Self {
        self.symbols = symbols.into();
        self.grants = grants;
        self
    }

    /// True when `signature` (hex) is a strict Ed25519 signature of `message` by this key.
    pub fn verify_message(&self, message: &[u8], signature: &str) -> bool {
        let Some(signature) = signed::decode::<64>(signature) else {
            return false;
        };
        self.public_key
            .verify_strict(message, &Signature::from_bytes(&signature))
            .is_ok()
    }

    /// True when the request is signed over `timestamp ++ body` and fresh at `now_millis`.
    pub fn signature_valid(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_millis: i64,
    ) -> bool {
        let Some(ts) = signed::unix_seconds(timestamp) else {
            return false;
        };
        if !signed::fresh(ts, now_millis, TOLERANCE_SECS) {
            return false;
        }
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        self.verify_message(&message, signature)
    }
}

impl InboundAdapter for Discord {
    type Payload = Interaction;

    fn name(&self) -> &'static str {
        NAME
    }

    fn idempotency_key<'a>(&self, interaction: &'a Interaction) -> &'a IdempotencyKey {
        &interaction.id
    }

    fn grants(&self) -> &Grants {
        &self.grants
    }

    fn verify(&self, req: &RawRequest, _secrets: &dyn SecretSource) -> Result<(), Rejection> {
        signed::verify(req, TIMESTAMP_HEADER, SIGNATURE_HEADER, |ts, sig| {
            self.signature_valid(ts, sig, &req.body, req.received_at.as_millis())
        })
    }

    fn parse(&self, req: &RawRequest) -> Result<Interaction, Rejection> {
        let mut interaction = parse_interaction(&req.body)?;
        interaction.sent_at = signed::sent_at(req, TIMESTAMP_HEADER);
        Ok(interaction)
    }

    // The signature was checked over the raw bytes in `verify`, which every path to an
    // `Authenticated` runs first; the member is who Discord says sent it. A PING has none, and
    // is answered before any member is needed.
    fn authenticate(
        &self,
        _req: &RawRequest,
        interaction: &Interaction,
        _secrets: &dyn SecretSource,
    ) -> Result<Principal, Rejection> {
        Ok(match &interaction.kind {
            InteractionKind::Ping => Principal {
                adapter: NAME,
                fund_id: None,
                previous_secret: false,
                member: None,
            },
            InteractionKind::Command { member, .. } => member_principal(NAME, member.clone()),
        })
    }

    fn direct_answer(&self, interaction: &Interaction) -> Option<String> {
        matches!(interaction.kind, InteractionKind::Ping).then(|| r#"{"type":1}"#.to_owned())
    }

    // The original response of this interaction, edited once the order settles: the address
    // is Discord's, built from the interaction's checked application id and token.
    fn follow_up(&self, interaction: &Interaction) -> Option<FollowUp> {
        let webhook = interaction.webhook.as_ref()?;
        Some(FollowUp {
            method: FollowUpMethod::Patch,
            url: format!(
                "{}/webhooks/{}/{}/messages/@original",
                self.api_base.trim_end_matches('/'),
                webhook.application_id,
                webhook.token
            ),
        })
    }

    fn render_follow_up(&self, decision: &Decision<'_>) -> Option<String> {
        let text = chat::sentence(decision, None)?;
        Some(
            serde_json::json!({"content": content(&text), "allowed_mentions": {"parse": []}})
                .to_string(),
        )
    }

    fn intent_kind(&self, interaction: &Interaction) -> IntentKind {
        match &interaction.kind {
            InteractionKind::Command { request, .. } => request.kind(),
            InteractionKind::Ping => IntentKind::Submit,
        }
    }

    fn normalize(&self, interaction: Authenticated<Interaction>) -> Result<Intent, Rejection> {
        self.normalize_with(interaction, &NoKnownOrders)
    }

    fn normalize_with(
        &self,
        interaction: Authenticated<Interaction>,
        orders: &dyn KnownOrders,
    ) -> Result<Intent, Rejection> {
        let received_at = interaction.received_at();
        let (_, interaction) = interaction.into_parts();
        let InteractionKind::Command { member, request } = interaction.kind else {
            return Err(Rejection::invalid("type", "a PING places no order"));
        };
        let origin = Origin {
            adapter: NAME,
            member: &member,
            grants: &self.grants,
            key: &interaction.id,
            sent_at: interaction.sent_at,
            received_at,
        };
        request.into_intent(origin, &self.symbols.current(), orders)
    }

    fn render(&self, decision: &Decision<'_>) -> Option<String> {
        // Still queued, with a follow-up coming: Discord shows "thinking…" to the sender until
        // the follow-up edits it with the outcome.
        if let Decision::Queued { follows: true, .. } = decision {
            return Some(DEFERRED.to_owned());
        }
        chat::sentence(decision, None).map(|text| message(&text))
    }
}

/// A deferred ephemeral response (type 5, flags 64): the outcome follows as an edit.
pub const DEFERRED: &str = r#"{"type":5,"data":{"flags":64}}"#;

/// Message content Discord takes: at most 2,000 characters (an OMS reason could be longer).
fn content(text: &str) -> String {
    match text.char_indices().nth(MAX_CONTENT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An interaction response carrying an ephemeral message (type 4, flags 64) that mentions no
/// one, whatever the text echoes.
pub fn message(text: &str) -> String {
    serde_json::json!({
        "type": 4,
        "data": {"content": content(text), "flags": EPHEMERAL, "allowed_mentions": {"parse": []}}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use mts1b_inbound_core::{
        FundId, Grant, Grantee, PlatformId, SecretLookup, UnixMillis, authenticate,
    };

    use super::*;

    // RFC 8032 §7.1, TEST 1 and TEST 2.
    const T1_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const T1_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const T1_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    const T2_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    const T2_SIGNATURE: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

    const TS: &str = "1700000000";
    const NOW: i64 = 1_700_000_010_000;
    const PING: &str = r#"{"type":1,"id":"1180000000000000001","application_id":"1170000000000000000","token":"t","version":1}"#;

    struct NoSecrets;
    impl SecretSource for NoSecrets {
        fn fund_secret(&self, _: &FundId) -> SecretLookup {
            SecretLookup::UnknownFund
        }
    }

    /// An `/order` interaction as Discord sends it from a guild, with `options`.
    fn command(options: &str) -> String {
        format!(
            r#"{{"type":2,"id":"1180000000000000002","application_id":"1170000000000000000","token":"aW50ZXJhY3Rpb24","version":1,"guild_id":"1100000000000000000","channel_id":"1110000000000000000","locale":"en-US","member":{{"user":{{"id":"1120000000000000000","username":"trader","global_name":"Trader"}},"roles":["1130000000000000000"],"permissions":"2147483647","nick":null}},"data":{{"id":"1140000000000000000","name":"order","type":1,"options":[{options}]}}}}"#
        )
    }

    fn option(name: &str, value: &str) -> String {
        format!(r#"{{"name":"{name}","type":3,"value":"{value}"}}"#)
    }

    fn limit_buy() -> String {
        [
            option("side", "buy"),
            option("quantity", "0.05"),
            option("symbol", "BINANCE:BTCUSDT"),
            option("type", "limit"),
            option("fund", "paper-tv-test"),
            option("limit", "95000"),
        ]
        .join(",")
    }

    fn hex(bytes: &[u8]) -> String {
        hex::encode(bytes)
    }

    fn sign(message: &[u8]) -> String {
        let key = SigningKey::from_bytes(&signed::decode::<32>(T1_SECRET).unwrap());
        hex(&key.sign(message).to_bytes())
    }

    fn request(ts: &str, sig: &str, body: &str, now: i64) -> RawRequest {
        RawRequest::with_body(body, UnixMillis(now))
            .header("X-Signature-Timestamp", ts)
            .header("X-Signature-Ed25519", sig)
    }

    fn signed_request(body: &str) -> RawRequest {
        request(TS, &sign(format!("{TS}{body}").as_bytes()), body, NOW)
    }

    /// The app, granting role 1130000000000000000 of the guild the fund paper-tv-test.
    fn discord() -> Discord {
        let grant = Grant {
            name: "desk".into(),
            workspace: PlatformId::parse("1100000000000000000").unwrap(),
            grantee: Grantee::Role(PlatformId::parse("1130000000000000000").unwrap()),
            funds: [FundId::parse("paper-tv-test").unwrap()].into(),
            strategies: Default::default(),
        };
        Discord::from_hex(T1_PUBLIC)
            .unwrap()
            .with(SymbolTable::default(), Grants::new(vec![grant]))
    }

    fn auth(req: &RawRequest) -> Result<Principal, Rejection> {
        let d = discord();
        let payload = d.parse(req)?;
        authenticate(&d, req, payload, &NoSecrets).map(|a| a.principal().clone())
    }

    fn run(req: &RawRequest) -> Result<Result<Intent, String>, Rejection> {
        signed::translate_any_fund(&discord(), req, &NoSecrets)
    }

    #[test]
    fn verifies_rfc8032_vectors() {
        assert!(
            Discord::from_hex(T1_PUBLIC)
                .unwrap()
                .verify_message(b"", T1_SIGNATURE)
        );
        assert!(
            Discord::from_hex(T2_PUBLIC)
                .unwrap()
                .verify_message(&[0x72], T2_SIGNATURE)
        );
        // The RFC's secret key derives the RFC's public key, so our signing helper is the RFC's.
        let key = SigningKey::from_bytes(&signed::decode::<32>(T1_SECRET).unwrap());
        assert_eq!(hex(key.verifying_key().as_bytes()), T1_PUBLIC);
        assert_eq!(sign(b""), T1_SIGNATURE);
        // Swapped vectors fail.
        assert!(
            !Discord::from_hex(T2_PUBLIC)
                .unwrap()
                .verify_message(b"", T1_SIGNATURE)
        );
        assert!(
            !Discord::from_hex(T1_PUBLIC)
                .unwrap()
                .verify_message(&[0x72], T2_SIGNATURE)
        );
    }

    #[test]
    fn accepts_a_signed_fresh_interaction() {
        let p = auth(&signed_request(&command(&limit_buy()))).unwrap();
        assert_eq!(p.adapter, "discord");
        let member = p.member.unwrap();
        assert_eq!(member.key(), "1100000000000000000/1120000000000000000");
        assert_eq!(member.roles[0].as_str(), "1130000000000000000");
    }

    #[test]
    fn refuses_tampered_stale_or_unsigned_requests() {
        let body = command(&limit_buy());
        let sig = sign(format!("{TS}{body}").as_bytes());
        let tampered = body.replace("0.05", "5000");
        assert_eq!(
            auth(&request(TS, &sig, &tampered, NOW)),
            Err(Rejection::Unauthorized)
        );
        assert_eq!(
            auth(&request("1700000001", &sig, &body, NOW)),
            Err(Rejection::Unauthorized)
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            auth(&request(TS, &flipped, &body, NOW)),
            Err(Rejection::Unauthorized)
        );
        assert_eq!(
            auth(&request(TS, &sig, &body, NOW + 301_000)),
            Err(Rejection::Unauthorized)
        );
        assert_eq!(
            auth(&request(TS, &sig[..126], &body, NOW)),
            Err(Rejection::Unauthorized)
        );
        let unsigned = RawRequest::with_body(body, UnixMillis(NOW));
        assert_eq!(auth(&unsigned), Err(Rejection::Unauthorized));
    }

    /// A forged or unsigned interaction is refused before its body is parsed: invalid JSON
    /// from an unsigned caller is 401, not a 400 with the parser's detail.
    #[test]
    fn a_forged_request_is_refused_before_its_body_is_read() {
        let garbage = "{not json";
        let unsigned = RawRequest::with_body(garbage, UnixMillis(NOW));
        assert_eq!(run(&unsigned), Err(Rejection::Unauthorized));
        let someone_elses = sign(format!("{TS}{PING}").as_bytes());
        assert_eq!(
            run(&request(TS, &someone_elses, garbage, NOW)),
            Err(Rejection::Unauthorized)
        );
        // Signed, the same bytes reach the parser, which says what is wrong.
        assert!(matches!(
            run(&signed_request(garbage)),
            Err(Rejection::InvalidJson { .. })
        ));
    }

    #[test]
    fn a_ping_is_answered_pong() {
        assert_eq!(
            run(&signed_request(PING)),
            Ok(Err(r#"{"type":1}"#.to_owned()))
        );
    }

    #[test]
    fn a_granted_role_places_an_order_keyed_by_the_interaction_id() {
        let Ok(Ok(Intent::Submit(order))) = run(&signed_request(&command(&limit_buy()))) else {
            panic!("no order");
        };
        assert_eq!(
            chat::describe(&order),
            "buy 0.05 BTC-USD limit 95000 on paper-tv-test"
        );
        assert_eq!(order.idempotency_key.as_str(), "1180000000000000002");
        assert_eq!(order.actor.as_str(), "discord:1120000000000000000");
        // Without the role: not permitted.
        let roleless =
            command(&limit_buy()).replace(r#""roles":["1130000000000000000"]"#, r#""roles":[]"#);
        assert_eq!(
            run(&signed_request(&roleless)),
            Err(Rejection::NotPermitted)
        );
    }

    #[test]
    fn options_are_strings_named_once() {
        let number = limit_buy().replace(
            r#"{"name":"quantity","type":3,"value":"0.05"}"#,
            r#"{"name":"quantity","type":10,"value":0.05}"#,
        );
        assert!(matches!(
            run(&signed_request(&command(&number))),
            Err(Rejection::InvalidPayload { field, detail }) if field == "quantity" && detail.contains("STRING")
        ));
        let twice = format!("{},{}", limit_buy(), option("side", "sell"));
        assert_eq!(
            run(&signed_request(&command(&twice))),
            Err(Rejection::invalid("side", "given twice"))
        );
        let unknown = format!("{},{}", limit_buy(), option("venue", "x"));
        assert_eq!(
            run(&signed_request(&command(&unknown))),
            Err(Rejection::invalid("venue", "unknown option"))
        );
        let dm = command(&limit_buy()).replace(r#""guild_id":"1100000000000000000","#, "");
        assert!(matches!(
            run(&signed_request(&dm)),
            Err(Rejection::InvalidPayload { field, .. }) if field == "guild_id"
        ));
        let component = PING.replace(r#""type":1,"#, r#""type":3,"#);
        assert!(matches!(
            run(&signed_request(&component)),
            Err(Rejection::InvalidPayload { field, .. }) if field == "type"
        ));
    }

    #[test]
    fn replies_are_ephemeral_and_mention_no_one() {
        let reply: serde_json::Value = serde_json::from_str(&message("hi @everyone")).unwrap();
        assert_eq!(reply["type"], 4);
        assert_eq!(reply["data"]["flags"], EPHEMERAL);
        assert_eq!(
            reply["data"]["allowed_mentions"]["parse"],
            serde_json::json!([])
        );
        let long: serde_json::Value = serde_json::from_str(&message(&"x".repeat(5000))).unwrap();
        assert_eq!(
            long["data"]["content"].as_str().unwrap().chars().count(),
            2000
        );
    }

    #[test]
    fn refuses_bad_public_keys() {
        assert_eq!(Discord::from_hex("abcd").unwrap_err(), PublicKeyError);
        assert!(Discord::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn the_registration_declares_every_option_as_a_string() {
        let registration = command::registration();
        let subcommands = registration[0]["options"].as_array().unwrap();
        let names: Vec<&str> = subcommands
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, command::SUBCOMMANDS.map(|(name, _)| name));
        for subcommand in subcommands {
            assert_eq!(subcommand["type"], 1, "{subcommand}");
            let options = subcommand["options"].as_array().unwrap();
            assert!(options.iter().all(|o| o["type"] == 3), "{subcommand}");
            // Discord requires the required options first.
            let first_optional = options
                .iter()
                .position(|o| o["required"] == false)
                .unwrap_or(options.len());
            assert!(
                options[first_optional..]
                    .iter()
                    .all(|o| o["required"] == false)
            );
            // Every option the registration offers, filled with a value, is one the parser
            // takes for that subcommand (a value it refuses is a refusal of the value, never
            // "unknown option").
            let filled: Vec<String> = options
                .iter()
                .map(|o| {
                    let name = o["name"].as_str().unwrap();
                    let value = o["choices"][0]["value"].as_str().unwrap_or("1");
                    option(name, value)
                })
                .collect();
            let body = command(&format!(
                r#"{{"name":{},"type":1,"options":[{}]}}"#,
                subcommand["name"],
                filled.join(",")
            ));
            let parsed = parse_interaction(body.as_bytes()).unwrap();
            assert!(
                matches!(parsed.kind, InteractionKind::Command { .. }),
                "{subcommand}"
            );
        }
    }

    fn subcommand(name: &str, options: &[String]) -> String {
        command(&format!(
            r#"{{"name":"{name}","type":1,"options":[{}]}}"#,
            options.join(",")
        ))
    }

    #[test]
    fn subcommands_place_and_change_orders() {
        let placed = subcommand("place", &[limit_buy()]);
        let Ok(Ok(Intent::Submit(order))) = run(&signed_request(&placed)) else {
            panic!("no order");
        };
        assert_eq!(
            chat::describe(&order),
            "buy 0.05 BTC-USD limit 95000 on paper-tv-test"
        );
        // A cancel of an order the bridge does not remember names its symbol.
        let cancel = subcommand(
            "cancel",
            &[
                option("key", "1180000000000000001"),
                option("fund", "paper-tv-test"),
                option("symbol", "BINANCE:BTCUSDT"),
            ],
        );
        let Ok(Ok(Intent::Cancel(m))) = run(&signed_request(&cancel)) else {
            panic!("no cancel");
        };
        assert_eq!(m.strategy_id.as_str(), "manual");
        assert_eq!(
            m.change.target.client_order_id,
            mts1b_inbound_core::ClientOrderId::derive(
                NAME,
                &m.fund_id,
                &IdempotencyKey::parse("1180000000000000001").unwrap()
            )
        );
        let all = subcommand(
            "cancel-all",
            &[option("fund", "paper-tv-test"), option("strategy", "grid")],
        );
        assert!(matches!(
            run(&signed_request(&all)),
            Ok(Ok(Intent::CancelAll(m))) if m.strategy_id.as_str() == "grid" && m.change.symbol.is_none()
        ));
        let refused = |body: &str| run(&signed_request(body)).unwrap_err();
        // An option of another subcommand.
        assert_eq!(
            refused(&subcommand(
                "cancel",
                &[option("fund", "paper-tv-test"), option("limit", "1")]
            )),
            Rejection::invalid("limit", "unknown option")
        );
        assert!(matches!(
            refused(&subcommand("amend", &[])),
            Rejection::InvalidPayload { detail, .. } if detail.contains("not a subcommand")
        ));
        let two = command(
            r#"{"name":"cancel","type":1,"options":[]},{"name":"replace","type":1,"options":[]}"#,
        );
        assert_eq!(
            refused(&two),
            Rejection::invalid("data.options", "a subcommand comes alone")
        );
        let nested = subcommand(
            "cancel",
            &[r#"{"name":"cancel","type":1,"options":[]}"#.to_owned()],
        );
        assert!(matches!(
            refused(&nested),
            Rejection::InvalidPayload { field, .. } if field == "cancel"
        ));
    }
}
