//! The out-of-order queue (Linux's `out_of_order_queue`, an rbtree by
//! sequence number; `tcp_data_queue_ofo()`, `tcp_ofo_queue()`,
//! `tcp_prune_ofo_queue()`): data that arrived beyond rcv_nxt, held until
//! the hole before it fills. Every operation is logarithmic in the number
//! of blocks, so a peer sending one byte at every other sequence number
//! costs netd no more per segment than a well-behaved one; and the queue
//! is charged what it costs in memory (truesize), not only its payload.

use crate::wire::seq::SeqNum;
use std::collections::{BTreeMap, VecDeque};

/// What one held block costs beyond its payload: Linux charges an skb's
/// `truesize`, whose fixed part is `SKB_TRUESIZE(0)` (the aligned
/// `struct sk_buff` and `struct skb_shared_info`, 576 bytes on x86-64).
pub const BLOCK_OVERHEAD: usize = 576;

/// Held bytes, non-overlapping, keyed by their distance from a base that
/// follows rcv_nxt: 64-bit keys, so their order never wraps.
#[derive(Clone, Debug, Default)]
pub struct OooQueue {
    blocks: BTreeMap<u64, Vec<u8>>,
    /// The sequence number whose key is `base_key`.
    base: SeqNum,
    base_key: u64,
    bytes: usize,
}

impl OooQueue {
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What the queue costs in memory, as Linux counts it against the
    /// receive buffer: payload plus each block's skb overhead.
    pub fn truesize(&self) -> usize {
        self.bytes + self.blocks.len() * BLOCK_OVERHEAD
    }

    /// Blocks held (each would be one skb in Linux).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.bytes = 0;
    }

    /// Move the base up to `rcv_nxt`, which only advances; every held
    /// block lies at or beyond it, within 2^31.
    fn rebase(&mut self, rcv_nxt: SeqNum) {
        if rcv_nxt.after(self.base) || self.blocks.is_empty() {
            let ahead = if self.blocks.is_empty() {
                0
            } else {
                u64::from(rcv_nxt - self.base)
            };
            self.base_key += ahead;
            self.base = rcv_nxt;
        }
    }

    fn key(&self, seq: SeqNum) -> u64 {
        self.base_key + u64::from(seq - self.base)
    }

    fn seq_of(&self, key: u64) -> SeqNum {
        self.base + (key - self.base_key) as u32
    }

    /// Hold `data` at `seq` (beyond `rcv_nxt`), keeping only the bytes no
    /// held block has; a piece that directly follows the block before it is
    /// appended to that block (`tcp_ooo_try_coalesce()`). Returns how many
    /// bytes were new.
    pub fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) -> usize {
        self.rebase(rcv_nxt);
        let start = self.key(seq);
        let end = start + data.len() as u64;
        // The held ranges that overlap [start, end), in order.
        let mut held: Vec<(u64, u64)> = Vec::new();
        if let Some((&k, d)) = self.blocks.range(..start).next_back() {
            if k + d.len() as u64 > start {
                held.push((k, k + d.len() as u64));
            }
        }
        for (&k, d) in self.blocks.range(start..end) {
            held.push((k, k + d.len() as u64));
        }
        let mut added = 0;
        let mut pos = start;
        for (k, e) in held.into_iter().chain([(end, end)]) {
            if pos < k {
                let piece = &data[(pos - start) as usize..(k.min(end) - start) as usize];
                self.put(pos, piece);
                added += piece.len();
            }
            pos = pos.max(e);
        }
        added
    }

    /// Store a piece no block overlaps.
    fn put(&mut self, key: u64, piece: &[u8]) {
        self.bytes += piece.len();
        if let Some((&k, prev)) = self.blocks.range_mut(..key).next_back() {
            if k + prev.len() as u64 == key {
                prev.extend_from_slice(piece);
                return;
            }
        }
        self.blocks.insert(key, piece.to_vec());
    }

    /// Append what is now in order at `rcv_nxt` to `out` (`tcp_ofo_queue()`);
    /// returns how many bytes moved.
    pub fn drain(&mut self, rcv_nxt: SeqNum, out: &mut VecDeque<u8>) -> usize {
        self.rebase(rcv_nxt);
        let mut next = self.key(rcv_nxt);
        let mut moved = 0;
        while let Some(entry) = self.blocks.first_entry() {
            let k = *entry.key();
            if k > next {
                break;
            }
            let d = entry.remove();
            self.bytes -= d.len();
            let e = k + d.len() as u64;
            if e > next {
                let skip = (next - k) as usize;
                out.extend(&d[skip..]);
                moved += d.len() - skip;
                next = e;
            }
        }
        moved
    }

    /// Drop blocks from the highest sequence down until `goal` bytes of
    /// truesize are freed, stopping at a block that starts before `seq`
    /// (`tcp_prune_ofo_queue()`: an arrival that would land last is dropped
    /// itself instead). Returns whether anything was dropped.
    pub fn prune_above(&mut self, seq: SeqNum, goal: usize) -> bool {
        let floor = self.key(seq);
        let mut freed = 0;
        let mut pruned = false;
        while freed < goal {
            let Some(entry) = self.blocks.last_entry() else {
                break;
            };
            if *entry.key() < floor {
                break;
            }
            let d = entry.remove();
            self.bytes -= d.len();
            freed += d.len() + BLOCK_OVERHEAD;
            pruned = true;
        }
        pruned
    }

    /// The held ranges in order, adjacent blocks merged: the SACK blocks.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        let mut it = self.blocks.iter().peekable();
        std::iter::from_fn(move || {
            let (&k, d) = it.next()?;
            let mut e = k + d.len() as u64;
            while let Some((&k2, d2)) = it.peek() {
                if k2 != e {
                    break;
                }
                e = k2 + d2.len() as u64;
                it.next();
            }
            Some((self.seq_of(k), self.seq_of(e)))
        })
    }

    /// The merged range holding `seq`, if any.
    pub fn range_containing(&self, seq: SeqNum) -> Option<(SeqNum, SeqNum)> {
        if self.blocks.is_empty() || seq.before(self.base) {
            return None;
        }
        let key = self.key(seq);
        let (&k, d) = self.blocks.range(..=key).next_back()?;
        if key >= k + d.len() as u64 {
            return None;
        }
        let mut start = k;
        while let Some((&pk, pd)) = self.blocks.range(..start).next_back() {
            if pk + pd.len() as u64 != start {
                break;
            }
            start = pk;
        }
        let mut end = k + d.len() as u64;
        while let Some(nd) = self.blocks.get(&end) {
            end += nd.len() as u64;
        }
        Some((self.seq_of(start), self.seq_of(end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rcv_nxt: u32, blocks: &[(u32, &[u8])]) -> OooQueue {
        let mut q = OooQueue::default();
        for (s, d) in blocks {
            q.insert(SeqNum(rcv_nxt), SeqNum(*s), d);
        }
        q
    }

    #[test]
    fn overlapping_arrivals_keep_each_byte_once() {
        let mut q = q(100, &[(110, b"abcd"), (120, b"uvwx")]);
        assert_eq!(
            q.insert(SeqNum(100), SeqNum(108), b"--abcdEF"),
            4,
            "-- and EF are new"
        );
        assert_eq!(q.bytes(), 12);
        let ranges: Vec<_> = q.ranges().collect();
        assert_eq!(
            ranges,
            [(SeqNum(108), SeqNum(116)), (SeqNum(120), SeqNum(124))]
        );
        let mut out = VecDeque::new();
        assert_eq!(q.drain(SeqNum(108), &mut out), 8);
        assert_eq!(out.iter().copied().collect::<Vec<u8>>(), b"--abcdEF");
        assert_eq!(
            q.range_containing(SeqNum(121)),
            Some((SeqNum(120), SeqNum(124)))
        );
    }

    #[test]
    fn keys_do_not_wrap_with_the_sequence_space() {
        let near = u32::MAX - 5;
        let mut q = q(
            near,
            &[
                (near.wrapping_add(10), b"after"),
                (near.wrapping_add(2), b"x"),
            ],
        );
        let mut out = VecDeque::new();
        assert_eq!(q.drain(SeqNum(near.wrapping_add(2)), &mut out), 1);
        let ranges: Vec<_> = q.ranges().collect();
        assert_eq!(
            ranges,
            [(SeqNum(near.wrapping_add(10)), SeqNum(near.wrapping_add(15)))]
        );
    }

    #[test]
    fn pruning_drops_from_the_top_down_to_the_arrival() {
        let mut q = q(0, &[(10, b"a"), (20, b"b"), (30, b"c")]);
        assert!(q.prune_above(SeqNum(15), usize::MAX));
        assert_eq!(q.ranges().collect::<Vec<_>>(), [(SeqNum(10), SeqNum(11))]);
        assert!(
            !q.prune_above(SeqNum(15), usize::MAX),
            "nothing above 15 is left"
        );
    }
}
