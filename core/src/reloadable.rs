//! A value a running bridge reads on every request and a reload (SIGHUP) replaces whole: the
//! symbology table, the funds' policies, static secrets.
//!
//! A request takes the current value once ([`Reloadable::current`]) and keeps it until it is
//! answered, so one alert is judged by one configuration from start to end, never half by the
//! old and half by the new. A replacement waits only for readers copying the pointer, never for
//! a request to finish.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::ids::FundId;
use crate::secret::{SecretLookup, SecretSource};

/// A shared handle on a value replaced whole at a reload; clones share it.
pub struct Reloadable<T>(Arc<RwLock<Arc<T>>>);

impl<T> Reloadable<T> {
    /// A handle on `value`.
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// The value now, kept by the caller for as long as it needs one consistent view.
    pub fn current(&self) -> Arc<T> {
        // Poisoning cannot leave a half-written value: a writer only swaps a pointer.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `value` in place for every later [`Reloadable::current`]; returns the one it
    /// replaced (still held by requests that took it).
    pub fn replace(&self, value: T) -> Arc<T> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, Arc::new(value))
    }
}

impl<T> Clone for Reloadable<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> From<Arc<T>> for Reloadable<T> {
    fn from(value: Arc<T>) -> Self {
        Self(Arc::new(RwLock::new(value)))
    }
}

/// A value no reload replaces unless the caller keeps a clone of the handle.
impl<T> From<T> for Reloadable<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Default> Default for Reloadable<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Reloadable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Reloadable").field(&self.current()).finish()
    }
}

/// A secret source replaced at a reload (static secrets from a reloaded file).
impl<S: SecretSource> SecretSource for Reloadable<S> {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        self.current().fund_secret(fund)
    }

    fn not_ready(&self) -> Option<String> {
        self.current().not_ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{FundSecrets, Secret};

    #[test]
    fn a_reader_keeps_what_it_took_and_later_readers_see_the_replacement() {
        let live = Reloadable::new(1);
        let shared = live.clone();
        let taken = live.current();
        let old = shared.replace(2);
        assert_eq!((*taken, *old), (1, 1));
        assert_eq!(*live.current(), 2, "clones share the one value");
    }

    struct One(&'static str);

    impl SecretSource for One {
        fn fund_secret(&self, fund: &FundId) -> SecretLookup {
            if fund.as_str() == self.0 {
                SecretLookup::Found(Arc::new(FundSecrets::new(Secret::new("s"))))
            } else {
                SecretLookup::UnknownFund
            }
        }
    }

    #[test]
    fn a_reloadable_secret_source_answers_from_its_current_source() {
        let secrets = Reloadable::new(One("a"));
        let a = FundId::parse("a").unwrap();
        let b = FundId::parse("b").unwrap();
        assert!(matches!(secrets.fund_secret(&a), SecretLookup::Found(_)));
        secrets.replace(One("b"));
        assert!(matches!(secrets.fund_secret(&a), SecretLookup::UnknownFund));
        assert!(matches!(secrets.fund_secret(&b), SecretLookup::Found(_)));
    }
}
