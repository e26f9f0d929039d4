//! `str::trim` for the hot paths: every id is trimmed where it is hashed, looked up and
//! defined, and every required field is checked for blankness, a few million times at a
//! million resources. The standard trim decodes a character at each end through a general
//! pattern; these answer from one byte at each end when it is printable ASCII, which it
//! almost always is, and ask `str::trim` otherwise, so they always give what it gives.

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

    #[test]
    fn vertical_tab_and_no_break_space_are_trimmed() {
        assert_eq!(trim("\u{b}a\u{a0}"), "a");
        assert!(is_blank("\u{b}"));
        assert!(!is_blank("a "));
        assert_eq!(trim("a b"), "a b");
    }
}
