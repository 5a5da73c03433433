#![allow(dead_code)]
//! Requests as Slack and Discord send them: form and interaction bodies, signed with the
//! platforms' algorithms (Slack v0 HMAC-SHA256, Discord Ed25519 with RFC 8032's test key).

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The Slack app's signing secret in tests.
pub const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// RFC 8032 §7.1 TEST 1: the Discord application's key pair in tests.
pub const DISCORD_SECRET_KEY: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// Its public key, as the configuration holds it.
pub const DISCORD_PUBLIC_KEY: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// A request's headers and body.
#[derive(Clone, Debug)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Signed {
    pub fn headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// `application/x-www-form-urlencoded`, as Slack writes it.
fn form_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+")
}

/// A slash command's form, as Slack posts it.
pub fn slack_form(team: &str, user: &str, trigger_id: &str, text: &str) -> String {
    slack_form_to(
        team,
        user,
        trigger_id,
        text,
        "https://hooks.slack.com/commands/T0001/1234/abcd",
    )
}

/// [`slack_form`] with its `response_url`.
pub fn slack_form_to(
    team: &str,
    user: &str,
    trigger_id: &str,
    text: &str,
    response_url: &str,
) -> String {
    format!(
        "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id={team}&team_domain=desk&channel_id=C2147483705&channel_name=trading&user_id={user}&user_name=trader&command=%2Forder&text={}&api_app_id=A123456&response_url={}&trigger_id={trigger_id}",
        form_encode(text),
        form_encode(response_url)
    )
}

/// Signs `body` as Slack does at `at_secs` with `secret`.
pub fn slack_signed(secret: &str, body: &str, at_secs: i64) -> Signed {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{at_secs}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    Signed {
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("x-slack-request-timestamp".into(), at_secs.to_string()),
            ("x-slack-signature".into(), signature),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// An `/order` interaction from guild 100, as Discord posts it; `options` are (name, value)
/// STRING options.
pub fn discord_command(id: &str, user: &str, roles: &[&str], options: &[(&str, &str)]) -> String {
    let options: Vec<serde_json::Value> = options
        .iter()
        .map(|(name, value)| serde_json::json!({"name": name, "type": 3, "value": value}))
        .collect();
    serde_json::json!({
        "type": 2,
        "id": id,
        "application_id": "1170000000000000000",
        "token": "aW50ZXJhY3Rpb24tdG9rZW4",
        "version": 1,
        "guild_id": "100",
        "channel_id": "1110000000000000000",
        "locale": "en-US",
        "app_permissions": "2248473465835073",
        "member": {
            "user": {"id": user, "username": "trader", "global_name": "Trader", "discriminator": "0"},
            "roles": roles,
            "permissions": "2147483647",
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "nick": null
        },
        "data": {"id": "1140000000000000000", "name": "order", "type": 1, "options": options}
    })
    .to_string()
}

/// The `/order SUBCOMMAND` interaction of the current registration (`place`, `cancel`,
/// `replace`, `cancel-all`), its options STRING options as Discord sends them.
pub fn discord_subcommand(
    id: &str,
    user: &str,
    roles: &[&str],
    subcommand: &str,
    options: &[(&str, &str)],
) -> String {
    let mut interaction: serde_json::Value =
        serde_json::from_str(&discord_command(id, user, roles, options)).unwrap();
    let options = interaction["data"]["options"].take();
    interaction["data"]["options"] =
        serde_json::json!([{"name": subcommand, "type": 1, "options": options}]);
    interaction.to_string()
}

/// Discord's PING.
pub fn discord_ping(id: &str) -> String {
    format!(
        r#"{{"type":1,"id":"{id}","application_id":"1170000000000000000","token":"dG9rZW4","version":1,"user":{{"id":"1","username":"discord"}}}}"#
    )
}

/// Signs `body` as Discord does at `at_secs` with the test application's key.
pub fn discord_signed(body: &str, at_secs: i64) -> Signed {
    let key = SigningKey::from_bytes(&hex::decode(DISCORD_SECRET_KEY).unwrap().try_into().unwrap());
    let signature = key.sign(format!("{at_secs}{body}").as_bytes());
    Signed {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-signature-timestamp".into(), at_secs.to_string()),
            (
                "x-signature-ed25519".into(),
                hex::encode(signature.to_bytes()),
            ),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// The `[adapters.slack]` and `[adapters.discord]` tables tests run with, signed with the keys
/// above: Slack user U0001 of team T0001 and every member holding role 300 of guild 100 may
/// trade `funds` (a TOML list). `slack_keys` and `discord_keys` are more keys of each table;
/// `more` is appended (further principals).
pub fn adapters_toml(funds: &str, slack_keys: &str, discord_keys: &str, more: &str) -> String {
    format!(
        r#"
[adapters.slack]
enabled = true
signing_secret = "{SLACK_SECRET}"
{slack_keys}

[adapters.slack.principals.alice]
team_id = "T0001"
user_id = "U0001"
funds = {funds}

[adapters.discord]
enabled = true
public_key = "{DISCORD_PUBLIC_KEY}"
{discord_keys}

[adapters.discord.principals.traders]
guild_id = "100"
role_id = "300"
funds = {funds}
{more}
"#
    )
}
