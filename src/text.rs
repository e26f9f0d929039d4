//! Text helpers for the hot paths.
//!
//! `str::trim`: every id is trimmed where it is hashed, looked up and defined, and every
//! required field is checked for blankness, a few million times at a million resources.
//! The standard trim decodes a character at each end through a general pattern; these
//! answer from one byte at each end when it is printable ASCII, which it almost always is,
//! and ask `str::trim` otherwise, so they always give what it gives.
//!
//! JSON strings: a snapshot at a million resources holds close to a gigabyte of them, and
//! a report writes a few hundred megabytes, almost none with anything to escape. Finding
//! where one ends, or that it has nothing to escape, is a search for three kinds of byte.

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

/// Whether `s` can be written as a JSON string as it is, with nothing escaped, as nearly
/// every id, name and title can.
fn is_plain_json(s: &str) -> bool {
    json_special_at(s.as_bytes()) == s.len()
}

/// `s` as a JSON string, escaped as serde_json escapes it, handed to `push` in pieces: a
/// string with nothing to escape goes whole, between quotes, and only the rest through
/// serde_json, which looks each byte up in a table. Both writers (the snapshot's and the
/// scan report's listing) write their strings through this.
pub fn json_quoted(s: &str, mut push: impl FnMut(&str)) {
    if is_plain_json(s) {
        push("\"");
        push(s);
        push("\"");
    } else {
        // Serializing a string cannot fail.
        push(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// Where the first byte that a JSON string cannot hold as it is (a quote, a backslash or a
/// control character) is in `rest`, or its length if there is none: where a string being
/// read ends, unless it has escapes. Sixteen bytes at a time with SSE2, which every x86-64
/// processor has; the reader passes the rest of its line, not just the string, so even a
/// short key's closing quote is found in one step. What is left, and other processors,
/// take [`special_in_words`].
#[cfg(target_arch = "x86_64")]
pub fn json_special_at(rest: &[u8]) -> usize {
    use std::arch::x86_64::*;
    let mut blocks = rest.chunks_exact(16);
    let mut at = 0;
    for block in blocks.by_ref() {
        // SAFETY: SSE2 is part of x86-64, and `block` holds the 16 bytes read (unaligned).
        let found = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // A byte is below 0x20 exactly when its unsigned max with 0x1f is 0x1f.
            let low = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
        };
        if found != 0 {
            return at + found.trailing_zeros() as usize;
        }
        at += 16;
    }
    at + special_in_words(blocks.remainder())
}

#[cfg(not(target_arch = "x86_64"))]
pub fn json_special_at(rest: &[u8]) -> usize {
    special_in_words(rest)
}

/// [`json_special_at`] a word at a time, in place.
fn special_in_words(rest: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // The lowest byte flagged is always a true match (a false one can only follow it).
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let flagged = |w: u64| {
        zero(w ^ u64::from_ne_bytes([b'"'; 8]))
            | zero(w ^ u64::from_ne_bytes([b'\\'; 8]))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
    };
    let mut at = 0;
    let mut words = rest.chunks_exact(8);
    for chunk in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let f = flagged(u64::from_le_bytes(bytes));
        if f != 0 {
            return at + f.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    let tail = words.remainder();
    at + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
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

        /// Both ways of finding a string's end stop where a plain search does, wherever in
        /// a block or word the byte falls, and on bytes either side of 0x20 and 0x80.
        #[test]
        fn the_string_end_is_where_a_plain_search_finds_it(
            s in "[a\"\\\\\u{0}\u{1f} \u{7f}é\u{80}\u{ff}]{0,70}"
        ) {
            let b = s.as_bytes();
            let want = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(b.len());
            prop_assert_eq!(json_special_at(b), want);
            prop_assert_eq!(special_in_words(b), want);
            prop_assert_eq!(is_plain_json(&s), want == b.len());
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
