//! The id index: folded id → node. Every reference in a snapshot is looked up here, millions
//! of times at scale, on the one thread that takes records in line order; so the hash of an
//! id can be worked out beforehand, on the threads that parse (see
//! [`Keys`](super::Keys)), and a probe compares the stored hash before it touches a key.

/// The hash the index files a folded id under: a fast, fixed-seed hash, since ids are the
/// user's own data, not input from an adversary the hash must resist.
pub fn hash_folded(folded: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(folded)
}

/// The hash of an id as [`IdIndex`] files it, without making the folded copy (trimmed, ASCII
/// letters lowercased, as the format compares ids).
pub fn hash_id(id: &str) -> u64 {
    let id = id.trim();
    if !id.bytes().any(|b| b.is_ascii_uppercase()) {
        return hash_folded(id);
    }
    FOLD.with_borrow_mut(|buf| {
        buf.clear();
        buf.push_str(id);
        buf.make_ascii_lowercase();
        hash_folded(buf)
    })
}

thread_local! {
    static FOLD: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Folded ids by node index, and a hash table of node indices over them.
#[derive(Debug, Default)]
pub struct IdIndex {
    /// (hash, node): the hash is kept beside the node so a probe rarely reads a key that
    /// is not the one it wants, and growing the table never hashes a key again.
    table: hashbrown::HashTable<(u64, u32)>,
    folded: Vec<Box<str>>,
}

/// Two indices are equal when they give the same nodes the same ids: the table follows.
impl PartialEq for IdIndex {
    fn eq(&self, o: &Self) -> bool {
        self.folded == o.folded
    }
}

impl IdIndex {
    pub fn with_capacity(n: usize) -> IdIndex {
        IdIndex {
            table: hashbrown::HashTable::with_capacity(n),
            folded: Vec::with_capacity(n),
        }
    }

    /// The node of an id (as written: compared case-insensitively, trimmed) whose
    /// [`hash_id`] is `hash`.
    pub fn get_hashed(&self, hash: u64, id: &str) -> Option<u32> {
        let id = id.trim();
        self.table
            .find(hash, |&(h, v)| {
                h == hash && self.folded[v as usize].eq_ignore_ascii_case(id)
            })
            .map(|&(_, v)| v)
    }

    /// The node of an id, added (as the next node) if it is new; `true` when it was added.
    pub fn insert_hashed(&mut self, hash: u64, id: &str) -> (u32, bool) {
        if let Some(v) = self.get_hashed(hash, id) {
            return (v, false);
        }
        let v = self.folded.len() as u32;
        self.folded
            .push(id.trim().to_ascii_lowercase().into_boxed_str());
        self.table.insert_unique(hash, (hash, v), |&(h, _)| h);
        (v, true)
    }

    /// The node of an id, compared case-insensitively.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.get_hashed(hash_id(id), id)
    }

    /// The folded id of a node.
    pub fn folded(&self, v: u32) -> &str {
        self.folded.get(v as usize).map_or("", |k| k)
    }

    pub fn len(&self) -> usize {
        self.folded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fold_and_trim_to_one_node() {
        let mut ix = IdIndex::default();
        let a = "/subscriptions/S/resourceGroups/G";
        let (v, new) = ix.insert_hashed(hash_id(a), a);
        assert!(new);
        let b = " /SUBSCRIPTIONS/s/resourcegroups/g ";
        assert_eq!(hash_id(a), hash_id(b));
        assert_eq!(ix.insert_hashed(hash_id(b), b), (v, false));
        assert_eq!(ix.get("/subscriptions/s/resourcegroups/G"), Some(v));
        assert_eq!(ix.folded(v), "/subscriptions/s/resourcegroups/g");
        assert_eq!(ix.get("/subscriptions/s"), None);
        let (w, new) = ix.insert_hashed(hash_id("x"), "x");
        assert!(new && w == v + 1 && ix.len() == 2);
    }

    #[test]
    fn a_colliding_hash_still_compares_the_id() {
        let mut ix = IdIndex::default();
        let (v, _) = ix.insert_hashed(7, "a");
        // The same (forged) hash for another id is not taken for it.
        let (w, new) = ix.insert_hashed(7, "b");
        assert!(new && v != w);
        assert_eq!(ix.get_hashed(7, "A"), Some(v));
        assert_eq!(ix.get_hashed(7, "B"), Some(w));
    }
}
