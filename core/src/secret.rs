//! Secrets: a type that never prints, wipes itself on drop and compares in constant time, and the
//! source the adapters read fund secrets from.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::ids::FundId;
use crate::time::UnixMillis;

/// A secret string (a fund's webhook secret, a signing secret).
///
/// `Debug` and `Display` print `[redacted]`; the bytes are zeroed when dropped; equality is
/// constant-time and does not reveal the length of the stored secret (both sides are hashed
/// before comparison). There is deliberately no `PartialEq` and no `Serialize`.
#[derive(Clone)]
pub struct Secret {
    value: Zeroizing<String>,
    // Taken at the first comparison and kept, so an alert hashes only what it presents. Lazily,
    // because presented secrets are wrapped in `Secret` too and are never compared against.
    digest: OnceLock<Zeroizing<[u8; 32]>>,
}

fn digest(text: &str) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(Sha256::digest(text).into())
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: Zeroizing::new(value.into()),
            digest: OnceLock::new(),
        }
    }

    /// Returns the secret bytes, for keying a MAC. Never log or echo them.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Returns the secret's length in characters (for validation messages, never the value).
    pub fn char_len(&self) -> usize {
        self.value.chars().count()
    }

    /// Compares with `candidate` in constant time, independent of where they first differ and of
    /// the stored secret's length.
    pub fn matches(&self, candidate: &str) -> bool {
        bool::from(self.matches_digest(&digest(candidate)))
    }

    fn matches_digest(&self, candidate: &[u8; 32]) -> Choice {
        let stored = self.digest.get_or_init(|| digest(&self.value));
        stored.ct_eq(candidate)
    }
}

/// Which of a fund's secrets a request presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretCheck {
    /// The current secret.
    Current,
    /// The previous secret, within its grace.
    Previous,
    /// Neither (or the previous one after its grace ended).
    Wrong,
}

/// A fund's secrets: the current one and, while a rotation's grace lasts, the previous one up to
/// a fixed time (never one a restart could extend).
#[derive(Clone, Debug)]
pub struct FundSecrets {
    current: Arc<Secret>,
    previous: Option<(Arc<Secret>, UnixMillis)>,
}

/// Compared against when the fund is unknown, so an unknown fund costs the same work as a wrong
/// secret and the two answers cannot be told apart.
static DECOY: LazyLock<FundSecrets> = LazyLock::new(|| {
    FundSecrets::new(Secret::new("decoy secret for unknown funds"))
        .with_previous(Secret::new("decoy previous secret"), UnixMillis(i64::MIN))
});

impl FundSecrets {
    /// Only a current secret.
    pub fn new(current: impl Into<Arc<Secret>>) -> Self {
        Self {
            current: current.into(),
            previous: None,
        }
    }

    /// Also accepts `previous` for requests received before `until`.
    pub fn with_previous(mut self, previous: impl Into<Arc<Secret>>, until: UnixMillis) -> Self {
        self.previous = Some((previous.into(), until));
        self
    }

    /// The current secret.
    pub fn current(&self) -> &Secret {
        &self.current
    }

    /// The previous secret and when its grace ends, if there is one.
    pub fn previous(&self) -> Option<(&Secret, UnixMillis)> {
        self.previous.as_ref().map(|(s, until)| (&**s, *until))
    }

    /// Secrets that match nothing anyone can send, for funds that do not exist: checking against
    /// them costs what checking a real fund costs.
    pub fn decoy() -> &'static FundSecrets {
        &DECOY
    }

    /// Says which secret `presented` is, for a request received `at`. Constant time: the
    /// presented text is hashed once and compared with both secrets (with a decoy when there is
    /// no previous one), whatever matches and whatever the time.
    pub fn check(&self, presented: &str, at: UnixMillis) -> SecretCheck {
        let candidate = digest(presented);
        let current = self.current.matches_digest(&candidate);
        let (previous, until) = match &self.previous {
            Some((secret, until)) => (secret, *until),
            None => {
                let (decoy, until) = DECOY.previous.as_ref().expect("the decoy has one");
                (decoy, *until)
            }
        };
        let previous = previous.matches_digest(&candidate) & Choice::from(u8::from(at < until));
        if bool::from(current) {
            SecretCheck::Current
        } else if bool::from(previous) {
            SecretCheck::Previous
        } else {
            SecretCheck::Wrong
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The answer of a secret source for one fund.
#[derive(Clone, Debug)]
pub enum SecretLookup {
    /// The fund is configured and these are its secrets.
    Found(Arc<FundSecrets>),
    /// No such fund: answered exactly like a wrong secret.
    UnknownFund,
    /// Secrets have not been loaded yet (e.g. Vault not read once): the bridge cannot judge.
    NotLoaded,
}

/// Where fund secrets come from: static config, Vault, or an embedder's own store.
///
/// Lookups are synchronous on purpose: sources keep secrets in memory and refresh them in the
/// background, so authenticating an alert never waits on I/O and a Vault outage cannot stall it.
pub trait SecretSource: Send + Sync {
    /// Returns the secrets of `fund`.
    fn fund_secret(&self, fund: &FundId) -> SecretLookup;

    /// Returns why secrets cannot be served yet (e.g. Vault not read once), if so (`/readyz`).
    fn not_ready(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}{s}{s:#?}").contains("hunter2"));
    }

    #[test]
    fn the_previous_secret_counts_only_until_its_grace_ends() {
        let until = UnixMillis(1_000);
        let secrets = FundSecrets::new(Secret::new("new")).with_previous(Secret::new("old"), until);
        assert_eq!(
            secrets.check("new", UnixMillis(5_000)),
            SecretCheck::Current
        );
        assert_eq!(secrets.check("old", UnixMillis(999)), SecretCheck::Previous);
        assert_eq!(
            secrets.check("old", until),
            SecretCheck::Wrong,
            "the end is exclusive"
        );
        assert_eq!(secrets.check("other", UnixMillis(0)), SecretCheck::Wrong);
        let only = FundSecrets::new(Secret::new("new"));
        assert_eq!(only.check("old", UnixMillis(0)), SecretCheck::Wrong);
        // The decoy's previous secret has no grace at any time (an unknown fund is refused
        // whatever the check says; the decoy only makes it cost the same).
        let decoy = FundSecrets::decoy();
        assert_eq!(
            decoy.check("decoy previous secret", UnixMillis(i64::MIN)),
            SecretCheck::Wrong
        );
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("abc123");
        assert!(s.matches("abc123"));
        assert!(!s.matches("abc124"));
        assert!(!s.matches("abc12"));
        assert!(!s.matches("abc1234"));
        assert!(!s.matches(""));
        assert!(!s.matches("ABC123"));
        assert_eq!(s.char_len(), 6);
    }
}
