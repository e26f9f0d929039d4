//! Compressed adjacency for one edge kind and direction.
//!
//! Most nodes have no edge of a given kind in a given direction (only containers have
//! `contains` edges out, only identities `has_role` edges), so offsets are kept only for
//! the nodes that have one. A node's place among those is found from a bitmap of 64-node
//! blocks, each with the count of nodes present before it. At a million resources the
//! twelve kinds' and directions' offsets and blocks take 13 MB instead of 62 MB, and each
//! one's blocks (a third of a megabyte) stay in cache where its full offsets did not.

/// One 64-node block of the bitmap.
#[derive(Debug, Clone, Copy, Default)]
struct Block {
    /// Bit `i` is set when node `64 * block + i` has an entry.
    bits: u64,
    /// Nodes with an entry in earlier blocks.
    before: u32,
}

/// `nbrs[range(v)]` are `v`'s neighbours, and `edges[range(v)]` the edges to them.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    blocks: Vec<Block>,
    /// For the `k`-th node with an entry, its entries are `offsets[k]..offsets[k + 1]`.
    offsets: Vec<u32>,
    pub nbrs: Vec<u32>,
    /// Edge index (petgraph) of each neighbour entry, for edge predicates.
    pub edges: Vec<u32>,
}

impl Csr {
    /// From `(from, to, edge)` triples over `n` nodes; each node's entries keep the order
    /// the triples come in.
    pub fn new(n: usize, es: impl Iterator<Item = (u32, u32, u32)> + Clone) -> Csr {
        let mut counts = vec![0u32; n];
        for (s, _, _) in es.clone() {
            counts[s as usize] += 1;
        }
        let mut blocks = Vec::with_capacity(n.div_ceil(64));
        let mut offsets = vec![0u32];
        let mut end = 0u32;
        for chunk in counts.chunks_mut(64) {
            let mut block = Block {
                bits: 0,
                before: offsets.len() as u32 - 1,
            };
            for (i, c) in chunk.iter_mut().enumerate() {
                if *c > 0 {
                    block.bits |= 1 << i;
                    // The count becomes the node's next free entry.
                    let start = end;
                    end += *c;
                    offsets.push(end);
                    *c = start;
                }
            }
            blocks.push(block);
        }
        let mut nbrs = vec![0u32; end as usize];
        let mut edges = vec![0u32; end as usize];
        for (s, t, e) in es {
            let at = &mut counts[s as usize];
            nbrs[*at as usize] = t;
            edges[*at as usize] = e;
            *at += 1;
        }
        Csr {
            blocks,
            offsets,
            nbrs,
            edges,
        }
    }

    /// Where `v`'s entries are in [`nbrs`](Self::nbrs) and [`edges`](Self::edges).
    #[inline]
    pub fn range(&self, v: u32) -> std::ops::Range<usize> {
        match self.slot(v) {
            Some(k) => self.offsets[k] as usize..self.offsets[k + 1] as usize,
            None => 0..0,
        }
    }

    /// `v`'s place among the nodes with an entry, if it has one.
    #[inline]
    fn slot(&self, v: u32) -> Option<usize> {
        let b = self.blocks.get(v as usize / 64)?;
        let bit = 1u64 << (v % 64);
        (b.bits & bit != 0).then(|| b.before as usize + (b.bits & (bit - 1)).count_ones() as usize)
    }

    /// Starts loading where `v`'s entries lie: the step before
    /// [`prefetch_entries`](Self::prefetch_entries), whose loads depend on it. The bitmap's
    /// blocks are small enough to be in cache already.
    pub fn prefetch_offsets(&self, v: u32) {
        if let Some(o) = self.slot(v).and_then(|k| self.offsets.get(k)) {
            crate::prefetch::prefetch(o);
        }
    }

    /// Starts loading `v`'s first neighbour and its edge.
    pub fn prefetch_entries(&self, v: u32) {
        let r = self.range(v);
        if !r.is_empty() {
            crate::prefetch::prefetch(&self.nbrs[r.start]);
            crate::prefetch::prefetch(&self.edges[r.start]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Csr;

    /// Against a plain per-node list, on random sparse and dense edge sets whose node
    /// counts straddle block edges.
    #[test]
    fn ranges_match_per_node_lists() {
        let mut next = crate::graph::index::xorshift(0x2545_f491_4f6c_dd1d);
        for n in [0usize, 1, 63, 64, 65, 200, 1000] {
            for m in [0usize, 1, 5, n / 3, 4 * n] {
                let es: Vec<(u32, u32, u32)> = (0..m)
                    .map(|i| {
                        let n = n.max(1) as u64;
                        (next(n) as u32, next(n) as u32, i as u32)
                    })
                    .filter(|_| n > 0)
                    .collect();
                let csr = Csr::new(n, es.iter().copied());
                for v in 0..n as u32 + 70 {
                    let want: Vec<(u32, u32)> =
                        es.iter().filter(|e| e.0 == v).map(|e| (e.1, e.2)).collect();
                    let r = csr.range(v);
                    let got: Vec<(u32, u32)> =
                        r.clone().map(|i| (csr.nbrs[i], csr.edges[i])).collect();
                    assert_eq!(got, want, "n {n}, m {m}, node {v}");
                    // Hints only: for any node, in the graph or past it, they neither
                    // panic nor change what is read.
                    csr.prefetch_offsets(v);
                    csr.prefetch_entries(v);
                    assert_eq!(csr.range(v), r);
                }
                assert_eq!(csr.nbrs.len(), es.len());
            }
        }
        assert_eq!(Csr::default().range(5), 0..0);
    }
}
