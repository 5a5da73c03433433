//! Follow-up messages to chat platforms (SPEC §12): when an order answered `queued` settles,
//! its sender hears how, at the address the adapter vouched for (Slack's `response_url`,
//! Discord's original interaction response).
//!
//! An HTTP client with timeouts and a few retries: network errors, 5xx and 429 are retried
//! with a doubling backoff; any other answer is final. Redirects are not followed (the address
//! was checked, where it would lead was not). On the embedded backend follow-ups live in
//! memory: a restart loses the ones still owed (the orders themselves are durable and visible in
//! `/orders`); on the cluster backend they are in the replicated record, and a surviving replica
//! sends those of one that died (`cluster::follow_ups`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mts1b_inbound_core::{FollowUp, FollowUpMethod};

/// How follow-ups are sent.
#[derive(Clone, Copy, Debug)]
pub struct FollowUpPolicy {
    /// Tries in all.
    pub attempts: u32,
    /// The wait before the first retry; doubled for each next one.
    pub backoff: Duration,
    /// How long one try may take, connection included.
    pub timeout: Duration,
}

impl Default for FollowUpPolicy {
    /// Four tries over about 3.5 s, each within 5 s: well inside Slack's 30 minutes and
    /// Discord's 15 for an interaction token.
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Sends follow-ups. The HTTP client (and its TLS setup) is built at the first follow-up, not
/// at start: a bridge without chat adapters never builds one.
#[derive(Clone, Debug)]
pub struct FollowUps {
    client: Arc<OnceLock<reqwest::Client>>,
    policy: FollowUpPolicy,
}

/// Why a follow-up was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    /// The platform refused it (a 4xx other than 429): retrying cannot help.
    #[error("refused with HTTP {0}")]
    Refused(u16),
    /// Every try failed on the network, timed out or met a 5xx or 429.
    #[error("not delivered after {attempts} tries: {last}")]
    GaveUp {
        /// Tries made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The HTTP client could not be built.
    #[error("no HTTP client: {0}")]
    Client(String),
}

impl FollowUps {
    /// Follow-ups sent by `policy`.
    pub fn new(policy: FollowUpPolicy) -> Self {
        Self {
            client: Arc::default(),
            policy,
        }
    }

    fn client(&self) -> Result<&reqwest::Client, FollowUpError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(self.policy.timeout)
            .connect_timeout(self.policy.timeout.min(Duration::from_secs(2)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mts1b-tradingview/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FollowUpError::Client(e.to_string()))?;
        // Two first follow-ups at once may both build one; the first stored is kept.
        Ok(self.client.get_or_init(|| client))
    }

    /// Sends `body` (JSON) to `to`, retrying what may pass later. Returns the final status.
    pub async fn send(&self, to: &FollowUp, body: String) -> Result<u16, FollowUpError> {
        let client = self.client()?;
        let mut backoff = self.policy.backoff;
        let mut last = String::new();
        for attempt in 1..=self.policy.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            let request = match to.method {
                FollowUpMethod::Post => client.post(&to.url),
                FollowUpMethod::Patch => client.patch(&to.url),
            };
            let sent = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return Ok(status.as_u16());
                    }
                    if status.is_server_error() || status.as_u16() == 429 {
                        last = format!("HTTP {}", status.as_u16());
                        continue;
                    }
                    return Err(FollowUpError::Refused(status.as_u16()));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(FollowUpError::GaveUp {
            attempts: self.policy.attempts.max(1),
            last,
        })
    }
}
