//! Instrument classes (SPEC §4) and the shape of a canonical symbol in each.

use serde::Serialize;

use crate::ids::CanonicalSymbol;

/// What kind of instrument a canonical symbol names; it decides the symbol's shape, and the
/// envelope can cap quantities per class (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentClass {
    /// A crypto pair traded for delivery: `BASE-QUOTE` (`BTC-USD`).
    Spot,
    /// A venue's perpetual swap: `BASE-QUOTE-PERP` (`BTC-USDT-PERP`).
    Perpetual,
    /// A dated futures contract: `ROOT-YYYYMM` (`ES-202606`).
    Future,
    /// A listed share or fund: the ticker (`AAPL`, `BRK.B`).
    Equity,
    /// A currency pair or a metal against a currency: `AAA-BBB` (`EUR-USD`, `XAU-USD`).
    Fx,
}

impl InstrumentClass {
    /// Every class, in the order the proto numbers them.
    pub const ALL: [InstrumentClass; 5] = [
        InstrumentClass::Spot,
        InstrumentClass::Perpetual,
        InstrumentClass::Future,
        InstrumentClass::Equity,
        InstrumentClass::Fx,
    ];

    /// Returns the name used in config, answers and records (`spot`, `perpetual`).
    pub fn as_str(self) -> &'static str {
        match self {
            InstrumentClass::Spot => "spot",
            InstrumentClass::Perpetual => "perpetual",
            InstrumentClass::Future => "future",
            InstrumentClass::Equity => "equity",
            InstrumentClass::Fx => "fx",
        }
    }

    /// Reads a class name (`spot`, `perpetual`, `future`, `equity`, `fx`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Checks that `symbol` has this class's canonical shape, saying what is wrong if not.
    pub fn check_shape(self, symbol: &CanonicalSymbol) -> Result<(), String> {
        let s = symbol.as_str();
        let parts: Vec<&str> = s.split('-').collect();
        let alnum = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
        let ok = match (self, parts.as_slice()) {
            (InstrumentClass::Spot, [base, quote]) => alnum(base) && alnum(quote),
            (InstrumentClass::Perpetual, [base, quote, "PERP"]) => alnum(base) && alnum(quote),
            (InstrumentClass::Future, [root, month]) => alnum(root) && is_contract_month(month),
            (InstrumentClass::Equity, [ticker]) => {
                ticker.as_bytes()[0].is_ascii_alphanumeric()
                    && ticker
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.')
            }
            (InstrumentClass::Fx, [base, quote]) => {
                is_currency_code(base) && is_currency_code(quote)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{s} is not a canonical {} symbol ({})",
                self.as_str(),
                self.shape()
            ))
        }
    }

    /// The canonical shape, as documented.
    pub fn shape(self) -> &'static str {
        match self {
            InstrumentClass::Spot => "BASE-QUOTE, e.g. BTC-USD",
            InstrumentClass::Perpetual => "BASE-QUOTE-PERP, e.g. BTC-USDT-PERP",
            InstrumentClass::Future => "ROOT-YYYYMM, e.g. ES-202606",
            InstrumentClass::Equity => "the ticker, e.g. AAPL or BRK.B",
            InstrumentClass::Fx => "two three-letter codes, e.g. EUR-USD",
        }
    }

    /// The class a canonical symbol's shape implies, for records written before the class was
    /// recorded and for overrides that do not name one: `-PERP` is a perpetual, `ROOT-YYYYMM` a
    /// future, no dash an equity, two codes that `is_fx` accepts FX, any other pair spot.
    pub fn infer(symbol: &CanonicalSymbol, is_fx: impl Fn(&str) -> bool) -> Self {
        let parts: Vec<&str> = symbol.as_str().split('-').collect();
        match parts.as_slice() {
            [_] => InstrumentClass::Equity,
            [_, _, "PERP"] => InstrumentClass::Perpetual,
            [_, month] if is_contract_month(month) => InstrumentClass::Future,
            [base, quote] if is_fx(base) && is_fx(quote) => InstrumentClass::Fx,
            _ => InstrumentClass::Spot,
        }
    }
}

/// `YYYYMM` with a month from 01 to 12.
fn is_contract_month(text: &str) -> bool {
    text.len() == 6
        && text.bytes().all(|b| b.is_ascii_digit())
        && matches!(text[4..].parse::<u8>(), Ok(1..=12))
}

fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> CanonicalSymbol {
        CanonicalSymbol::parse(s).unwrap()
    }

    #[test]
    fn each_class_has_its_shape() {
        use InstrumentClass::*;
        for (class, good, bad) in [
            (Spot, "BTC-USD", "BTC-USD-PERP"),
            (Perpetual, "BTC-USDT-PERP", "BTC-USDT"),
            (Future, "ES-202606", "ES-202613"),
            (Equity, "BRK.B", "BTC-USD"),
            (Fx, "EUR-USD", "EURO-USD"),
        ] {
            assert_eq!(class.check_shape(&sym(good)), Ok(()), "{good}");
            assert!(class.check_shape(&sym(bad)).is_err(), "{bad}");
            assert_eq!(InstrumentClass::parse(class.as_str()), Some(class));
        }
        assert!(Equity.check_shape(&sym(".B")).is_err());
    }

    #[test]
    fn infers_the_class_from_the_shape() {
        let fx = |c: &str| matches!(c, "EUR" | "USD");
        let infer = |s: &str| InstrumentClass::infer(&sym(s), fx);
        assert_eq!(infer("BTC-USDT-PERP"), InstrumentClass::Perpetual);
        assert_eq!(infer("ES-202606"), InstrumentClass::Future);
        assert_eq!(infer("AAPL"), InstrumentClass::Equity);
        assert_eq!(infer("EUR-USD"), InstrumentClass::Fx);
        assert_eq!(infer("BTC-USD"), InstrumentClass::Spot);
    }
}
