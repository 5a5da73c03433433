//! Symbology on arbitrary text at an arbitrary time: never panics; whatever it maps is a valid
//! symbol of the class it names, and a mapped spot pair maps to itself again (or, when both its
//! halves are currency codes, is refused as ambiguous without its exchange).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mts1b_inbound_core::{InstrumentClass, SymbolRefusal, SymbolTable, Timing, UnixMillis};

static TABLE: LazyLock<SymbolTable> = LazyLock::new(SymbolTable::default);

fuzz_target!(|data: &[u8]| {
    // The first eight bytes pick the time (any instant RFC 3339 can write), the rest is text:
    // continuous futures resolve against the calendars at that time.
    let Some((time, text)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let span = UnixMillis::LATEST.0 - UnixMillis::EARLIEST.0;
    let at = UnixMillis(UnixMillis::EARLIEST.0 + i64::from_le_bytes(*time).rem_euclid(span));
    if let Ok(mapped) = TABLE.map(text, Timing::at(at)) {
        assert!(mapped.class.check_shape(&mapped.symbol).is_ok(), "{text} -> {}", mapped.symbol);
        if mapped.class == InstrumentClass::Spot {
            match TABLE.map(mapped.symbol.as_str(), Timing::at(at)) {
                Ok(again) => assert_eq!((again.symbol, again.class), (mapped.symbol, mapped.class)),
                Err(SymbolRefusal::CurrencyPairWithoutExchange { .. }) => {}
                Err(e) => panic!("{text} -> {} -> {e}", mapped.symbol),
            }
        }
    }
});
