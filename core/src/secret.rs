//! Secrets: a type that never prints, wipes itself on drop and compares in constant time, and the
//! source the adapters read fund secrets from.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ids::FundId;

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
        let stored = self.digest.get_or_init(|| digest(&self.value));
        bool::from(stored.ct_eq(&*digest(candidate)))
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
    /// The fund is configured and this is its current secret.
    Found(Arc<Secret>),
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
    /// Returns the current secret of `fund`.
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
