//! Where a JSON string's text stops being plain: the first `"`, `\` or control character.
//!
//! Shared by the TradingView reader (a string without one is read as it stands) and the log
//! writer (a text without one is copied as it stands); both run on every request.

/// Whether `b` ends or escapes a JSON string's plain run (RFC 8259 §7).
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The index of the first `"`, `\` or control character (below 0x20) in `bytes`.
///
/// Eight bytes at a time: the word tests of Hacker's Delight §6-1 may flag a byte above a real
/// hit (a borrow runs upwards), never one below it, so the lowest flag is exact. The last few
/// bytes, and short texts such as field names, go through a table.
pub fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let hits = below(w, 0x20)
            | below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1);
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| SPECIAL[usize::from(b)])
        .map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn scan(bytes: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    #[test]
    fn the_first_special_byte_is_found_wherever_it_is() {
        for len in 0..20 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    // A second special right above it: the word tests' false flags sit there.
                    let mut bytes = vec![b'#'; len];
                    bytes[at] = special;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    assert_eq!(first_special(&bytes), Some(at), "{bytes:?}");
                }
            }
            // Neighbours of the specials (one above each) and high bytes are plain.
            let plain: Vec<u8> = (0..len).map(|i| b" !#]\x7f\x80\xff#"[i % 8]).collect();
            assert_eq!(first_special(&plain), None, "{plain:?}");
        }
    }

    #[test]
    fn every_byte_value_is_classified_as_json_says() {
        for b in 0..=255_u8 {
            for at in [0, 3, 8, 13] {
                let mut bytes = [b'a'; 16];
                bytes[at] = b;
                assert_eq!(first_special(&bytes), scan(&bytes), "byte {b:#04x} at {at}");
            }
        }
    }

    proptest! {
        #[test]
        fn first_special_agrees_with_a_byte_scan(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(first_special(&bytes), scan(&bytes));
        }
    }
}
