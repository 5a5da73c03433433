//! What a fund's allow-list and per-symbol caps name (SPEC §5): a canonical symbol, or every
//! contract of a futures root (`ES-*`), so that an envelope does not need editing at each roll.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::ids::CanonicalSymbol;
use crate::instrument::InstrumentClass;

/// A canonical symbol (`BTC-USD`, `ES-202606`), or `ROOT-*`: every futures contract of a root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SymbolPattern {
    /// Exactly this symbol.
    Exact(CanonicalSymbol),
    /// Every futures contract `ROOT-YYYYMM` of this root.
    FutureRoot(Box<str>),
}

impl SymbolPattern {
    /// Reads `BTC-USD` or `ES-*` (a root is 1-16 of `A-Z 0-9`).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(root) = text.strip_suffix("-*") {
            let ok = !root.is_empty()
                && root.len() <= 16
                && root
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            return if ok {
                Ok(Self::FutureRoot(root.into()))
            } else {
                Err(format!(
                    "{text:?}: a futures root before -* is 1-16 of A-Z 0-9 (ES-*)"
                ))
            };
        }
        CanonicalSymbol::parse(text)
            .map(Self::Exact)
            .map_err(|e| format!("{text:?} is not a canonical symbol like BTC-USD or ES-202606, or a futures root like ES-*: {e}"))
    }

    /// Whether this pattern names `symbol` of `class`.
    pub fn matches(&self, symbol: &CanonicalSymbol, class: InstrumentClass) -> bool {
        match self {
            Self::Exact(s) => s == symbol,
            Self::FutureRoot(root) => {
                class == InstrumentClass::Future
                    && symbol
                        .as_str()
                        .strip_prefix(&**root)
                        .is_some_and(|rest| rest.starts_with('-'))
            }
        }
    }

    /// The root pattern a futures symbol falls under (`ES-202606` → `ES-*`).
    pub fn root_of(symbol: &CanonicalSymbol, class: InstrumentClass) -> Option<Self> {
        if class != InstrumentClass::Future {
            return None;
        }
        let (root, _) = symbol.as_str().split_once('-')?;
        Some(Self::FutureRoot(root.into()))
    }
}

impl fmt::Display for SymbolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "{s}"),
            Self::FutureRoot(root) => write!(f, "{root}-*"),
        }
    }
}

impl Serialize for SymbolPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_pattern_names_every_contract_of_its_root_and_nothing_else() {
        let es = SymbolPattern::parse("ES-*").unwrap();
        let sym = |s: &str| CanonicalSymbol::parse(s).unwrap();
        assert!(es.matches(&sym("ES-202606"), InstrumentClass::Future));
        assert!(es.matches(&sym("ES-202609"), InstrumentClass::Future));
        assert!(!es.matches(&sym("ESX-202606"), InstrumentClass::Future));
        assert!(!es.matches(&sym("MES-202606"), InstrumentClass::Future));
        assert!(!es.matches(&sym("ES"), InstrumentClass::Equity));
        assert_eq!(es.to_string(), "ES-*");
        let exact = SymbolPattern::parse("BTC-USD").unwrap();
        assert!(exact.matches(&sym("BTC-USD"), InstrumentClass::Spot));
        assert!(SymbolPattern::parse("es-*").is_err());
        assert!(SymbolPattern::parse("-*").is_err());
        assert!(SymbolPattern::parse("btc-usd").is_err());
        assert_eq!(
            SymbolPattern::root_of(&sym("ES-202606"), InstrumentClass::Future),
            Some(es)
        );
        assert_eq!(
            SymbolPattern::root_of(&sym("BTC-USD"), InstrumentClass::Spot),
            None
        );
    }
}
