//! String interning: a million resources share a few dozen kinds and a few thousand tag
//! keys and values, so each is stored once and nodes hold 4-byte handles.

use indexmap::IndexSet;

/// A handle to an interned string. Never zero, so an `Option<Sym>` is four bytes too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(std::num::NonZeroU32);

impl Sym {
    fn at(i: usize) -> Sym {
        Sym(std::num::NonZeroU32::MIN.saturating_add(i as u32))
    }

    /// Where the string is among the interner's, from 0: for tables over every string.
    pub fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

#[derive(Debug, Default)]
pub struct Interner {
    set: IndexSet<Box<str>, foldhash::fast::FixedState>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(i) = self.set.get_index_of(s) {
            return Sym::at(i);
        }
        let (i, _) = self.set.insert_full(s.into());
        Sym::at(i)
    }

    pub fn get(&self, s: Sym) -> &str {
        self.set.get_index(s.index()).map_or("", |b| b)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Every string, in the order of [`Sym::index`].
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.set.iter().map(|b| &**b)
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interns_once() {
        let mut i = super::Interner::default();
        let a = i.intern("Microsoft.Compute/virtualMachines");
        let b = i.intern("Microsoft.Compute/virtualMachines");
        assert_eq!(a, b);
        assert_eq!(i.get(a), "Microsoft.Compute/virtualMachines");
        assert_ne!(i.intern("x"), a);
        assert_eq!(i.len(), 2);
        assert!(a < i.intern("x"), "handles keep insertion order");
        assert_eq!(std::mem::size_of::<Option<super::Sym>>(), 4);
    }
}
