//! The Slack adapter: `/order` slash commands (SPEC §12), authenticated by Slack's v0 request
//! signature, read by the grammar in [`grammar`], traded by the members the configuration
//! grants (`adapters.slack.principals`).
//!
//! Authentication: HMAC-SHA256 over `v0:{timestamp}:{raw body}` with the app's signing
//! secret, compared in constant time, with a 5-minute tolerance in both directions on
//! `X-Slack-Request-Timestamp` (measured against the request's receive time, which the runtime
//! takes from its injectable clock), all before the form is read. The member is the form's
//! `team_id` and `user_id`; the replay key its `trigger_id`. Every outcome after
//! authentication is answered 200 with an ephemeral message (Slack shows anything else as a
//! bare failure).

pub mod grammar;

use hmac::{Hmac, KeyInit, Mac};
use mts1b_inbound_core::{
    Authenticated, Decision, FollowUp, FollowUpMethod, Grants, IdempotencyKey, InboundAdapter,
    Intent, IntentKind, KnownOrders, Member, NoKnownOrders, PlatformId, Principal, RawRequest,
    Rejection, Reloadable, Secret, SecretSource, SymbolTable, UnixMillis, member_principal,
};
use sha2::Sha256;

use crate::chat::{self, Origin};
use crate::signed;

pub use grammar::Command;
pub use mts1b_inbound_core::form::{Form as SlackForm, parse_form};

/// The adapter name.
pub const NAME: &str = "slack";
/// How far `X-Slack-Request-Timestamp` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The header carrying `v0=<hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Where Slack's `response_url`s point: a follow-up goes nowhere else.
pub const RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

/// Takes Slack slash commands.
#[derive(Debug)]
pub struct Slack {
    signing_secret: Secret,
    symbols: Reloadable<SymbolTable>,
    grants: Grants,
    response_url_prefix: String,
}

/// A signed slash command, its form read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashCommand {
    /// Who sent it: `team_id` and `user_id`.
    pub member: Member,
    /// Slack's unique id of this invocation: the replay key.
    pub trigger_id: IdempotencyKey,
    /// What the text asks for.
    pub command: Command,
    /// Where Slack accepts follow-up messages for 30 minutes, if it sent one.
    pub response_url: Option<String>,
    /// When Slack sent it (its signed timestamp).
    pub sent_at: Option<UnixMillis>,
}

fn form_id(form: &SlackForm, field: &str) -> Result<PlatformId, Rejection> {
    let value = form
        .get(field)
        .ok_or_else(|| Rejection::invalid(field, "required"))?;
    PlatformId::parse(value).map_err(|e| Rejection::invalid(field, e.to_string()))
}

impl Slack {
    /// Builds the adapter with the app's signing secret, the symbology table and the grants.
    pub fn new(
        signing_secret: Secret,
        symbols: impl Into<Reloadable<SymbolTable>>,
        grants: Grants,
    ) -> Self {
        Self {
            signing_secret,
            symbols: symbols.into(),
            grants,
            response_url_prefix: RESPONSE_URL_PREFIX.to_owned(),
        }
    }

    /// Sets where follow-ups may go ([`RESPONSE_URL_PREFIX`] by default; tests point it at a
    /// local stand-in for Slack). A `response_url` elsewhere gets no follow-up.
    pub fn response_urls(mut self, prefix: impl Into<String>) -> Self {
        self.response_url_prefix = prefix.into();
        self
    }

    /// True when `signature` (`v0=<hex>`) is Slack's signature of `body` at `timestamp`, and
    /// `timestamp` is within [`TOLERANCE_SECS`] of `now_millis`.
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
        let Some(expected) = signature.strip_prefix("v0=").and_then(signed::decode::<32>) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.signing_secret.expose().as_bytes())
        else {
            return false;
        };
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&expected).is_ok()
    }
}

impl InboundAdapter for Slack {
    type Payload = SlashCommand;

    fn name(&self) -> &'static str {
        NAME
    }

    fn idempotency_key<'a>(&self, command: &'a SlashCommand) -> &'a IdempotencyKey {
        &command.trigger_id
    }

    fn grants(&self) -> &Grants {
        &self.grants
    }

    fn verify(&self, req: &RawRequest, _secrets: &dyn SecretSource) -> Result<(), Rejection> {
        signed::verify(req, TIMESTAMP_HEADER, SIGNATURE_HEADER, |ts, sig| {
            self.signature_valid(ts, sig, &req.body, req.received_at.as_millis())
        })
    }

    fn parse(&self, req: &RawRequest) -> Result<SlashCommand, Rejection> {
        let form = parse_form(&req.body)?;
        let member = Member {
            workspace: form_id(&form, "team_id")?,
            user: form_id(&form, "user_id")?,
            roles: Vec::new(),
        };
        let trigger_id = form
            .get("trigger_id")
            .ok_or_else(|| Rejection::invalid("trigger_id", "required"))
            .and_then(|t| {
                IdempotencyKey::parse(t)
                    .map_err(|e| Rejection::invalid("trigger_id", e.to_string()))
            })?;
        let command = grammar::read(form.get("text").unwrap_or_default())?;
        Ok(SlashCommand {
            member,
            trigger_id,
            command,
            response_url: form.get("response_url").map(str::to_owned),
            sent_at: signed::sent_at(req, TIMESTAMP_HEADER),
        })
    }

    // The signature was checked over the raw bytes in `verify`, which every path to an
    // `Authenticated` runs first; the member is who Slack says sent it.
    fn authenticate(
        &self,
        _req: &RawRequest,
        command: &SlashCommand,
        _secrets: &dyn SecretSource,
    ) -> Result<Principal, Rejection> {
        Ok(member_principal(NAME, command.member.clone()))
    }

    fn direct_answer(&self, command: &SlashCommand) -> Option<String> {
        (command.command == Command::Help).then(|| ephemeral(grammar::HELP))
    }

    // Only to Slack's own address: the URL comes in the (signed) body, and the bridge must not
    // be made to post anywhere a request names.
    fn follow_up(&self, command: &SlashCommand) -> Option<FollowUp> {
        let url = command.response_url.as_ref()?;
        url.starts_with(&self.response_url_prefix)
            .then(|| FollowUp {
                method: FollowUpMethod::Post,
                url: url.clone(),
            })
    }

    fn render_follow_up(&self, decision: &Decision<'_>) -> Option<String> {
        let text = chat::sentence(decision, Some(grammar::HELP_HINT))?;
        let mut message = ephemeral_message(&text);
        // A new message under the command's, not a replacement of the "queued" one.
        message["replace_original"] = false.into();
        Some(message.to_string())
    }

    fn intent_kind(&self, command: &SlashCommand) -> IntentKind {
        match &command.command {
            Command::Request(request) => request.kind(),
            Command::Help => IntentKind::Submit,
        }
    }

    fn normalize(&self, command: Authenticated<SlashCommand>) -> Result<Intent, Rejection> {
        self.normalize_with(command, &NoKnownOrders)
    }

    fn normalize_with(
        &self,
        command: Authenticated<SlashCommand>,
        orders: &dyn KnownOrders,
    ) -> Result<Intent, Rejection> {
        let received_at = command.received_at();
        let (_, command) = command.into_parts();
        let Command::Request(request) = command.command else {
            return Err(Rejection::invalid("text", "not an order"));
        };
        let origin = Origin {
            adapter: NAME,
            member: &command.member,
            grants: &self.grants,
            key: &command.trigger_id,
            sent_at: command.sent_at,
            received_at,
        };
        request.into_intent(origin, &self.symbols.current(), orders)
    }

    fn render(&self, decision: &Decision<'_>) -> Option<String> {
        chat::sentence(decision, Some(grammar::HELP_HINT)).map(|text| ephemeral(&text))
    }
}

/// A message only the command's sender sees: `{"response_type":"ephemeral","text":…}`, with
/// `&`, `<` and `>` escaped as Slack requires (so no echoed text can mention or link).
pub fn ephemeral(text: &str) -> String {
    ephemeral_message(text).to_string()
}

fn ephemeral_message(text: &str) -> serde_json::Value {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    serde_json::json!({"response_type": "ephemeral", "text": escaped})
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::{FundId, Grant, Grantee, SecretLookup, UnixMillis, authenticate};

    use super::*;

    // Slack's worked example, from "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const AT: i64 = 1_531_420_618_000;

    struct NoSecrets;
    impl SecretSource for NoSecrets {
        fn fund_secret(&self, _: &FundId) -> SecretLookup {
            SecretLookup::UnknownFund
        }
    }

    fn slack() -> Slack {
        let grant = Grant {
            name: "roadrunner".into(),
            workspace: PlatformId::parse("T1DC2JH3J").unwrap(),
            grantee: Grantee::User(PlatformId::parse("U2CERLKJA").unwrap()),
            funds: [FundId::parse("paper-tv-test").unwrap()].into(),
            strategies: Default::default(),
        };
        Slack::new(
            Secret::new(SECRET),
            SymbolTable::default(),
            Grants::new(vec![grant]),
        )
    }

    fn request(ts: &str, sig: &str, body: &str, now: i64) -> RawRequest {
        RawRequest::with_body(body, UnixMillis(now))
            .header("X-Slack-Request-Timestamp", ts)
            .header("X-Slack-Signature", sig)
    }

    fn sign(body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("v0:{TIMESTAMP}:{body}").as_bytes());
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Slack's example with another command text.
    fn with_text(text: &str) -> String {
        let encoded: String = text
            .bytes()
            .map(|b| match b {
                b' ' => "+".to_owned(),
                b if b.is_ascii_alphanumeric() || b"-_.".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        BODY.replace("text=&", &format!("text={encoded}&"))
    }

    fn auth(req: &RawRequest) -> Result<Principal, Rejection> {
        let s = slack();
        let payload = s.parse(req)?;
        authenticate(&s, req, payload, &NoSecrets).map(|a| a.principal().clone())
    }

    #[test]
    fn accepts_slacks_published_example() {
        assert!(slack().signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT));
        let p = auth(&request(TIMESTAMP, SIGNATURE, BODY, AT)).unwrap();
        assert_eq!(p.adapter, "slack");
        assert_eq!(p.fund_id, None);
        assert_eq!(p.member.unwrap().key(), "T1DC2JH3J/U2CERLKJA");
    }

    #[test]
    fn tolerates_five_minutes_either_way_and_no_more() {
        let s = slack();
        assert!(s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT + 300_000));
        assert!(s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT - 300_000));
        assert!(!s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT + 301_000));
        assert!(!s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT - 301_000));
    }

    #[test]
    fn refuses_any_tampering() {
        let s = slack();
        let tampered_body = BODY.replace("roadrunner", "coyote");
        assert!(!s.signature_valid(TIMESTAMP, SIGNATURE, tampered_body.as_bytes(), AT));
        assert!(!s.signature_valid("1531420619", SIGNATURE, BODY.as_bytes(), AT));
        let flipped = SIGNATURE.replace("a2114d", "a2114e");
        assert!(!s.signature_valid(TIMESTAMP, &flipped, BODY.as_bytes(), AT));
        assert!(!s.signature_valid(
            TIMESTAMP,
            &SIGNATURE.replace("v0=", "v1="),
            BODY.as_bytes(),
            AT
        ));
        assert!(!s.signature_valid(
            TIMESTAMP,
            &SIGNATURE[..SIGNATURE.len() - 2],
            BODY.as_bytes(),
            AT
        ));
        let other = Slack::new(
            Secret::new("other"),
            SymbolTable::default(),
            Grants::default(),
        );
        assert!(!other.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT));
    }

    #[test]
    fn unsigned_or_forged_requests_are_unauthorized() {
        let unsigned = RawRequest::with_body(BODY, UnixMillis(AT));
        assert_eq!(auth(&unsigned), Err(Rejection::Unauthorized));
        let forged = request(TIMESTAMP, &SIGNATURE.replace('a', "b"), BODY, AT);
        assert_eq!(auth(&forged), Err(Rejection::Unauthorized));
    }

    /// A forged or unsigned command is refused before its form is read: a malformed body from
    /// an unsigned caller is 401, not a 400 that describes the parser.
    #[test]
    fn a_forged_request_is_refused_before_its_body_is_read() {
        let s = slack();
        let run = |req: &RawRequest| signed::translate_any_fund(&s, req, &NoSecrets);
        let malformed = "a=1&".repeat(65);
        let unsigned = RawRequest::with_body(malformed.clone(), UnixMillis(AT));
        assert_eq!(run(&unsigned), Err(Rejection::Unauthorized));
        assert_eq!(
            run(&request(TIMESTAMP, SIGNATURE, &malformed, AT)),
            Err(Rejection::Unauthorized)
        );
        // Signed, the same bytes reach the parser, which says what is wrong.
        assert_eq!(
            run(&request(TIMESTAMP, &sign(&malformed), &malformed, AT)),
            Err(Rejection::invalid("body", "more than 64 form fields"))
        );
    }

    #[test]
    fn an_empty_command_or_help_answers_the_grammar() {
        let s = slack();
        let run = |req: &RawRequest| signed::translate_any_fund(&s, req, &NoSecrets);
        // The published example's text is empty.
        let answered = run(&request(TIMESTAMP, SIGNATURE, BODY, AT))
            .unwrap()
            .unwrap_err();
        let reply: serde_json::Value = serde_json::from_str(&answered).unwrap();
        assert_eq!(reply["response_type"], "ephemeral");
        assert!(
            reply["text"]
                .as_str()
                .unwrap()
                .contains("/order SIDE QUANTITY")
        );
        let help = with_text("help");
        assert_eq!(
            run(&request(TIMESTAMP, &sign(&help), &help, AT)).unwrap(),
            Err(answered)
        );
    }

    #[test]
    fn a_granted_member_places_an_order_keyed_by_its_trigger_id() {
        let s = slack();
        let run = |req: &RawRequest| signed::translate_any_fund(&s, req, &NoSecrets);
        let body = with_text("buy 0.05 BINANCE:BTCUSDT limit 95000 fund=paper-tv-test tif=gtc");
        let Ok(Ok(Intent::Submit(order))) = run(&request(TIMESTAMP, &sign(&body), &body, AT))
        else {
            panic!("no order");
        };
        assert_eq!(
            chat::describe(&order),
            "buy 0.05 BTC-USD limit 95000 on paper-tv-test"
        );
        assert_eq!(
            order.idempotency_key.as_str(),
            "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
        );
        assert_eq!(order.actor.as_str(), "slack:U2CERLKJA");
        // Another fund: not granted, and the refusal names none.
        let body = with_text("buy 0.05 BINANCE:BTCUSDT limit 95000 fund=other-fund");
        assert_eq!(
            run(&request(TIMESTAMP, &sign(&body), &body, AT)),
            Err(Rejection::NotPermitted)
        );
    }

    #[test]
    fn replies_are_ephemeral_and_escaped() {
        let reply: serde_json::Value =
            serde_json::from_str(&ephemeral("a <!channel> & b")).unwrap();
        assert_eq!(reply["text"], "a &lt;!channel&gt; &amp; b");
        let s = slack();
        let rendered = s
            .render(&Decision::Refused {
                rejection: &Rejection::DuplicateIdempotencyKey { key: "k".into() },
                intent: None,
            })
            .unwrap();
        assert!(rendered.contains("Already received"), "{rendered}");
        // A bad signature keeps its 401.
        assert_eq!(
            s.render(&Decision::Refused {
                rejection: &Rejection::Unauthorized,
                intent: None
            }),
            None
        );
    }
}
