//! Text helpers for the hot paths.
//!
//! `str::trim`: every id is trimmed where it is hashed, looked up and defined, and every
//! required field is checked for blankness, a few million times at a million resources.
//! The standard trim decodes a character at each end through a general pattern; these
//! answer from one byte at each end when it is printable ASCII, which it almost always is,
//! and ask `str::trim` otherwise, so they always give what it gives.
//!
//! JSON strings: a report at a million resources writes a few hundred megabytes of ids,
//! almost none of which need escaping.

/// `s.trim()`.
#[inline]
pub fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&z)) if kept(a) && kept(z) => s,
        _ => s.trim(),
    }
}

/// `s.trim().is_empty()`.
#[inline]
pub fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(&a) if kept(a) => false,
        _ => s.trim().is_empty(),
    }
}

/// An ASCII byte that is not whitespace (as `char::is_whitespace` has it): never trimmed.
#[inline]
fn kept(b: u8) -> bool {
    b.is_ascii() && !(b as char).is_whitespace()
}

/// Whether `s` can be written as a JSON string as it is, with nothing escaped (no quote,
/// backslash or control character), as nearly every id, name and title can. Eight bytes at
/// a time, each word's flags gathered without a branch: a flag can be false only above a
/// true one in its word, so any flag at all means a byte to escape.
pub fn is_plain_json(s: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let flagged = |w: u64| {
        zero(w ^ u64::from_ne_bytes([b'"'; 8]))
            | zero(w ^ u64::from_ne_bytes([b'\\'; 8]))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
    };
    let mut words = s.as_bytes().chunks_exact(8);
    let mut flags = 0;
    for w in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(w);
        flags |= flagged(u64::from_le_bytes(bytes));
    }
    flags == 0
        && !words
            .remainder()
            .iter()
            .any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Alike on strings of ASCII and Unicode whitespace (vertical tab, no-break
        /// space, the ideographic space), other non-ASCII text and printable ASCII.
        #[test]
        fn trim_and_blank_agree_with_the_standard_trim(
            s in "[ \t\n\r\u{b}\u{c}\u{85}\u{a0}\u{3000}ab{}/é\u{0}]{0,6}"
        ) {
            prop_assert_eq!(trim(&s), s.trim());
            prop_assert_eq!(is_blank(&s), s.trim().is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Alike with a plain search, at every offset within a chunk and past it.
        #[test]
        fn is_plain_json_agrees_with_a_plain_search(
            s in "[a\"\\\\\u{0}\u{1f} \u{7f}é\u{80}]{0,40}"
        ) {
            let want = !s.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(is_plain_json(&s), want);
        }
    }

    #[test]
    fn vertical_tab_and_no_break_space_are_trimmed() {
        assert_eq!(trim("\u{b}a\u{a0}"), "a");
        assert!(is_blank("\u{b}"));
        assert!(!is_blank("a "));
        assert_eq!(trim("a b"), "a b");
    }
}
