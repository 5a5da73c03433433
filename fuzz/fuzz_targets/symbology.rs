//! Symbology on arbitrary text: never panics, and whatever it maps is a valid canonical symbol
//! that maps to itself again.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mts1b_inbound_core::{CanonicalSymbol, SymbolTable};

static TABLE: LazyLock<SymbolTable> = LazyLock::new(SymbolTable::default);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mapped) = TABLE.map(text) {
        let symbol = mapped.symbol.as_str();
        assert!(CanonicalSymbol::parse(symbol).is_ok());
        // A mapped pair is canonical: fed back in, it stays the same (equities have no dash and
        // are refused bare on purpose).
        if symbol.contains('-') {
            assert_eq!(TABLE.map(symbol).map(|m| m.symbol), Ok(mapped.symbol.clone()));
        }
    }
});
