//! Identifier rules of the snapshot format: ASCII case folding, parents implied by Azure
//! resource ids, and the kind an id's shape implies when no record defines it.
//!
//! Everything here works on the id text alone, so every importer gets the same answers.

/// The reserved id of the node that stands for the public internet.
pub const INTERNET: &str = "internet";

/// Azure compares ids ASCII case-insensitively; so do we, by folding once at ingest.
pub fn fold(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// The parent an Azure id implies, as a slice of the id itself (so its spelling is kept).
///
/// Follows the spec: a resource under a resource group has the group as parent, a nested
/// resource (`.../T/N/SUB/M`) its enclosing resource, an extension resource (a second
/// `/providers/`) the resource it extends, a resource group its subscription. Subscriptions,
/// management groups and anything that is not an Azure id have none.
///
/// One pass over the id's slashes from its end: the build asks this of every node, and a
/// list of segments cost as much again as the pass.
pub fn derived_parent(id: &str) -> Option<&str> {
    let t = id.trim_end_matches('/');
    let b = t.as_bytes();
    // Not an Azure id: no leading `/` (or, below, an empty segment).
    if !t.starts_with('/') {
        return None;
    }
    // Segments met so far from the end, the slash before the last but one, and the last
    // `providers` segment: the slash before it and how many segments follow it.
    let mut count = 0;
    let mut end = b.len();
    let mut before_last_but_one = 0;
    let mut providers = None;
    for slash in SlashesBack::new(b) {
        if end == slash + 1 {
            return None;
        }
        if count == 1 {
            before_last_but_one = slash;
        }
        if providers.is_none() && b[slash + 1..end].eq_ignore_ascii_case(b"providers") {
            providers = Some((slash, count));
        }
        count += 1;
        end = slash;
    }
    match providers {
        // After `providers`: namespace, then (type, name) pairs.
        Some((_, after)) if after < 3 || (after - 1) % 2 != 0 => None,
        // Nested resource: strip the last (type, name) pair.
        Some((_, after)) if after > 3 => Some(&t[..before_last_but_one]),
        // `/providers/NS/T/N` at the root: a management group or tenant resource.
        Some((0, _)) => None,
        // Whatever precedes `/providers/` (a resource group, a subscription, or the
        // resource an extension extends).
        Some((slash, _)) => Some(&t[..slash]).filter(|p| valid_container(p)),
        // `/subscriptions/S/resourceGroups/G` -> `/subscriptions/S`.
        None if count == 4 => {
            let mut segs = t[1..].split('/');
            let (sub, s, rg) = (segs.next()?, segs.next()?, segs.next()?);
            (sub.eq_ignore_ascii_case("subscriptions") && rg.eq_ignore_ascii_case("resourcegroups"))
                .then(|| &t[..sub.len() + s.len() + 2])
        }
        None => None,
    }
}

/// The places of `/` in a text, from its end: found 64 bytes at a time as a bit mask,
/// then read off bit by bit. Ids have a slash every dozen bytes, and searching for each
/// one anew (`memrchr`) cost about as much as the rest of [`derived_parent`].
struct SlashesBack<'a> {
    text: &'a [u8],
    /// Where the block being read starts (a multiple of 64), and its slashes not yet given.
    block: usize,
    mask: u64,
}

impl<'a> SlashesBack<'a> {
    fn new(text: &'a [u8]) -> SlashesBack<'a> {
        let block = text.len().saturating_sub(1) / 64 * 64;
        SlashesBack {
            text,
            block,
            mask: slash_mask(&text[block..]),
        }
    }
}

impl Iterator for SlashesBack<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.block == 0 {
                return None;
            }
            self.block -= 64;
            self.mask = slash_mask(&self.text[self.block..self.block + 64]);
        }
        let bit = 63 - self.mask.leading_zeros() as usize;
        self.mask &= !(1 << bit);
        Some(self.block + bit)
    }
}

/// Bit `i` set where `bytes[i]` is `/`; at most 64 bytes.
fn slash_mask(bytes: &[u8]) -> u64 {
    let mut block = [0u8; 64];
    let whole: &[u8; 64] = match bytes.try_into() {
        Ok(whole) => whole,
        Err(_) => {
            let n = bytes.len().min(64);
            block[..n].copy_from_slice(&bytes[..n]);
            &block
        }
    };
    mask64(whole)
}

#[cfg(target_arch = "x86_64")]
fn mask64(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut mask = 0;
    for (i, part) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of every x86_64 processor; the load reads the 16 bytes of
        // `part`, unaligned loads being allowed.
        let bits = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8)))
        };
        mask |= u64::from(bits as u16) << (16 * i);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn mask64(block: &[u8; 64]) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &c)| m | (u64::from(c == b'/') << i))
}

/// [`derived_parent`] from the list of segments, as the spec words it: the tests' reference.
#[cfg(test)]
fn derived_from<'a>(trimmed: &'a str, segs: &[(usize, &'a str)]) -> Option<&'a str> {
    if segs.is_empty() {
        return None;
    }
    // Position of the last `providers` segment, if any.
    let last_providers = segs
        .iter()
        .rposition(|(_, s)| s.eq_ignore_ascii_case("providers"));
    match last_providers {
        Some(p) => {
            // After `providers`: namespace, then (type, name) pairs.
            let after = segs.len() - p - 1;
            if after < 3 || (after - 1) % 2 != 0 {
                return None;
            }
            let pairs = (after - 1) / 2;
            if pairs > 1 {
                // Nested resource: strip the last (type, name) pair.
                let cut = segs[segs.len() - 2].0;
                Some(&trimmed[..cut - 1])
            } else if p == 0 {
                // `/providers/NS/T/N` at the root: a management group or tenant resource.
                None
            } else {
                // Parent is whatever precedes `/providers/` (a resource group, a
                // subscription, or the resource an extension extends).
                let cut = segs[p].0;
                let parent = &trimmed[..cut - 1];
                valid_container(parent).then_some(parent)
            }
        }
        None => {
            // `/subscriptions/S/resourceGroups/G` -> `/subscriptions/S`.
            if segs.len() == 4
                && segs[0].1.eq_ignore_ascii_case("subscriptions")
                && segs[2].1.eq_ignore_ascii_case("resourcegroups")
                && trimmed.starts_with('/')
            {
                let cut = segs[2].0;
                Some(&trimmed[..cut - 1])
            } else {
                None
            }
        }
    }
}

/// A parent slice must itself look like an Azure id, so that odd strings never invent nodes.
fn valid_container(s: &str) -> bool {
    s.starts_with('/') && s.len() > 1
}

/// Calls `f` with `/a/b/c` split into `(offset, segment)` pairs; an id that does not start
/// with `/`, or has an empty segment, is not an Azure id and has no segments. The pairs are
/// kept on the stack unless there are very many: the build asks this of every node.
fn with_segments<'a, R>(id: &'a str, f: impl FnOnce(&[(usize, &'a str)]) -> R) -> R {
    const ON_STACK: usize = 32;
    let mut stack = [(0, ""); ON_STACK];
    let mut heap = Vec::new();
    let mut n = 0;
    if id.starts_with('/') {
        let mut start = 1;
        let ends = id.bytes().enumerate().skip(1).filter(|&(_, b)| b == b'/');
        for end in ends.map(|(i, _)| i).chain([id.len()]) {
            let seg = (start, &id[start..end]);
            if n < ON_STACK {
                stack[n] = seg;
            } else {
                if n == ON_STACK {
                    heap.extend_from_slice(&stack);
                }
                heap.push(seg);
            }
            n += 1;
            start = end + 1;
        }
    }
    let segs = if n <= ON_STACK {
        &stack[..n]
    } else {
        &heap[..]
    };
    if segs.iter().any(|(_, s)| s.is_empty()) {
        return f(&[]);
    }
    f(segs)
}

/// What an id's shape says a never-defined node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Subscription,
    ResourceGroup,
    ManagementGroup,
    /// Anything else: a resource of kind `unknown`.
    Other,
}

impl Shape {
    /// The scope kind the shape implies, or `None` for a resource.
    pub fn scope_kind(self) -> Option<&'static str> {
        match self {
            Shape::Subscription => Some("subscription"),
            Shape::ResourceGroup => Some("resource_group"),
            Shape::ManagementGroup => Some("management_group"),
            Shape::Other => None,
        }
    }
}

/// Classifies an id by its shape alone.
pub fn shape(id: &str) -> Shape {
    with_segments(id.trim_end_matches('/'), |segs| {
        let is = |i: usize, name: &str| {
            segs.get(i)
                .is_some_and(|(_, s)| s.eq_ignore_ascii_case(name))
        };
        match segs.len() {
            2 if is(0, "subscriptions") => Shape::Subscription,
            4 if is(0, "subscriptions") && is(2, "resourcegroups") => Shape::ResourceGroup,
            4 if is(0, "providers")
                && is(1, "microsoft.management")
                && is(2, "managementgroups") =>
            {
                Shape::ManagementGroup
            }
            _ => Shape::Other,
        }
    })
}

/// What follows an id's last `/` (the whole id if it has none). Asked of every node: a
/// byte search from the end is several times quicker than `rsplit`'s character searcher.
pub fn last_segment(id: &str) -> &str {
    memchr::memrchr(b'/', id.as_bytes()).map_or(id, |i| &id[i + 1..])
}

/// The GUID a role reference names, if it is one: a bare GUID or the last segment of a
/// `.../roleDefinitions/GUID` id. Returned lowercased.
pub fn role_guid(reference: &str) -> Option<String> {
    let last = last_segment(reference.trim());
    is_guid(last).then(|| last.to_ascii_lowercase())
}

/// `8-4-4-4-12` hex digits.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_follow_the_spec() {
        let rg = "/subscriptions/S/resourceGroups/G";
        assert_eq!(derived_parent(rg), Some("/subscriptions/S"));
        assert_eq!(
            derived_parent("/subscriptions/S/resourceGroups/G/providers/NS/T/N"),
            Some(rg)
        );
        assert_eq!(
            derived_parent("/subscriptions/S/resourceGroups/G/providers/NS/T/N/SUB/M"),
            Some("/subscriptions/S/resourceGroups/G/providers/NS/T/N")
        );
        assert_eq!(
            derived_parent("/subscriptions/S/providers/NS/T/N"),
            Some("/subscriptions/S")
        );
        assert_eq!(
            derived_parent("/subscriptions/S/resourceGroups/G/providers/NS/T/N/providers/X/Y/Z"),
            Some("/subscriptions/S/resourceGroups/G/providers/NS/T/N")
        );
        assert_eq!(derived_parent("/subscriptions/S"), None);
        assert_eq!(
            derived_parent("/providers/Microsoft.Management/managementGroups/M"),
            None
        );
        assert_eq!(derived_parent("vm-1"), None);
        assert_eq!(derived_parent("internet"), None);
        assert_eq!(
            derived_parent("/subscriptions/S/resourceGroups/G/providers/NS/T"),
            None
        );
        // Casing is kept from the child's spelling.
        assert_eq!(
            derived_parent("/SUBSCRIPTIONS/s/RESOURCEGROUPS/g/providers/a/b/c"),
            Some("/SUBSCRIPTIONS/s/RESOURCEGROUPS/g")
        );
        assert_eq!(derived_parent("/subscriptions/S/resourceGroups//G"), None);
        assert_eq!(derived_parent("/"), None);
    }

    /// Every slash, last first, whatever the length and wherever the 64-byte blocks fall:
    /// slashes at each block's first and last byte, none at all, or nothing but slashes.
    #[test]
    fn slashes_from_the_end() {
        for len in 0..200 {
            for every in [1, 2, 3, 7, 63, 64, 65, 500] {
                let text: Vec<u8> = (0..len)
                    .map(|i| if i % every == 0 { b'/' } else { b'x' })
                    .collect();
                let got: Vec<usize> = super::SlashesBack::new(&text).collect();
                let want: Vec<usize> = memchr::memrchr_iter(b'/', &text).collect();
                assert_eq!(got, want, "length {len}, a slash every {every}");
            }
        }
    }

    #[test]
    fn parents_of_ids_with_very_many_segments() {
        // More segments than are kept on the stack: the same answers.
        let deep = |pairs: usize| {
            let mut id = "/subscriptions/S/resourceGroups/G/providers/NS".to_string();
            for i in 0..pairs {
                id.push_str(&format!("/T{i}/N{i}"));
            }
            id
        };
        for pairs in [14, 15, 16, 30] {
            assert_eq!(
                derived_parent(&deep(pairs)),
                Some(&deep(pairs - 1)[..]),
                "{pairs}"
            );
            assert_eq!(shape(&deep(pairs)), Shape::Other);
        }
        assert_eq!(derived_parent(&format!("{}/T//N", deep(20))), None);
        assert_eq!(derived_parent(&format!("{}/x", deep(20))), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The one-pass reading agrees with the segment-list reading on ids made of the
        /// segments that matter, in any case, with empty segments and stray slashes.
        #[test]
        fn one_pass_parent_agrees_with_the_segment_list(
            lead in proptest::option::of("/{1,2}"),
            segs in proptest::collection::vec(
                "(providers|PROVIDERS|Providers|subscriptions|SUBSCRIPTIONS|resourceGroups|resourcegroups|ns|T|N|x|providersx|)",
                0..12,
            ),
            tail in "/{0,2}",
        ) {
            let id = format!("{}{}{tail}", lead.unwrap_or_default(), segs.join("/"));
            let trimmed = id.trim_end_matches('/');
            let reference = with_segments(trimmed, |s| derived_from(trimmed, s));
            proptest::prop_assert_eq!(derived_parent(&id), reference, "{}", id);
        }

        /// As `rsplit('/')` reads it, on any text around slashes, multi-byte characters
        /// included.
        #[test]
        fn last_segment_is_what_rsplit_gives(id in "[a/é€ ]{0,12}") {
            proptest::prop_assert_eq!(last_segment(&id), id.rsplit('/').next().unwrap());
        }
    }

    #[test]
    fn shapes_and_guids() {
        assert_eq!(shape("/subscriptions/S"), Shape::Subscription);
        assert_eq!(
            shape("/Subscriptions/S/resourcegroups/G"),
            Shape::ResourceGroup
        );
        assert_eq!(
            shape("/providers/microsoft.management/managementGroups/M"),
            Shape::ManagementGroup
        );
        assert_eq!(shape("/subscriptions/S/providers/a/b/c"), Shape::Other);
        assert_eq!(
            role_guid("/providers/Microsoft.Authorization/roleDefinitions/8E3AF657-A8FF-443C-A75C-2FE8C4BCB635"),
            Some("8e3af657-a8ff-443c-a75c-2fe8c4bcb635".into())
        );
        assert_eq!(role_guid("Owner"), None);
    }
}
