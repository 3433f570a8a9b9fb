//! The retransmit queue and its scoreboard (Linux's `tcp_rtx_queue` with
//! `TCP_SKB_CB(skb)->sacked`, and `tcp_sock`'s `packets_out`, `sacked_out`,
//! `lost_out`, `retrans_out`).
//!
//! One entry per transmitted chunk of sequence space, in sequence order; a
//! TSO chunk counts as `pcount` packets, as `tcp_skb_pcount()` does, and
//! every count here is in packets. An entry is split where Linux calls
//! `tcp_fragment()`: when a SACK block covers part of it, or a retransmission
//! sends part of it. The bytes themselves stay in the send buffer.

use super::SeqNum;
use crate::time::Instant;
use std::collections::VecDeque;

/// TCPCB_SACKED_ACKED: the receiver has this entry (a SACK block covered it).
pub const SACKED_ACKED: u8 = 0x01;
/// TCPCB_SACKED_RETRANS: a retransmission of it is in flight.
pub const SACKED_RETRANS: u8 = 0x02;
/// TCPCB_LOST: judged lost (RACK, NewReno, or a timeout).
pub const LOST: u8 = 0x04;
/// TCPCB_EVER_RETRANS: retransmitted at least once.
pub const EVER_RETRANS: u8 = 0x80;
/// TCPCB_RETRANS.
pub const RETRANS: u8 = SACKED_RETRANS | EVER_RETRANS;

/// One transmitted chunk (an skb of the retransmit queue).
#[derive(Clone, Debug)]
pub struct TxSeg {
    pub seq: SeqNum,
    /// `end_seq`: SYN and FIN count one.
    pub end: SeqNum,
    /// Packets it is on the wire (`tcp_skb_pcount()`).
    pub pcount: u32,
    /// `TCP_SKB_CB(skb)->sacked`.
    pub sacked: u8,
    /// Its last (re)transmission (`skb_mstamp_ns`).
    pub sent_at: Instant,
    pub syn: bool,
    pub fin: bool,
    /// `tp->delivered` at its (re)transmission (`tx.delivered`), for RACK's
    /// once-per-round-trip window update.
    pub tx_delivered: u32,
    /// Its place in the order of transmissions on this connection.
    pub tx_order: u64,
}

impl TxSeg {
    /// Payload bytes (SYN and FIN excluded).
    pub fn data_len(&self) -> u32 {
        (self.end - self.seq) - u32::from(self.syn) - u32::from(self.fin)
    }

    pub fn is(&self, flag: u8) -> bool {
        self.sacked & flag != 0
    }

    /// When, and in what order, it was last sent (RACK's view).
    pub fn mark(&self) -> super::rack::SentMark {
        super::rack::SentMark {
            at: self.sent_at,
            order: self.tx_order,
            end: self.end,
        }
    }
}

/// Packets a chunk of `len` payload bytes is at `mss` (`tcp_set_skb_tso_segs()`).
pub fn pcount(len: u32, mss: u32) -> u32 {
    if len <= mss.max(1) {
        1
    } else {
        len.div_ceil(mss.max(1))
    }
}

#[derive(Clone, Debug, Default)]
pub struct RtxQueue {
    segs: VecDeque<TxSeg>,
    /// Packets sent and not cumulatively acknowledged.
    pub packets_out: u32,
    /// Of those, packets a SACK block covered.
    pub sacked_out: u32,
    /// Packets marked lost.
    pub lost_out: u32,
    /// Retransmissions in flight.
    pub retrans_out: u32,
}

impl RtxQueue {
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn head(&self) -> Option<&TxSeg> {
        self.segs.front()
    }

    pub fn get(&self, i: usize) -> Option<&TxSeg> {
        self.segs.get(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TxSeg> {
        self.segs.iter()
    }

    /// `tcp_left_out()`.
    pub fn left_out(&self) -> u32 {
        self.sacked_out + self.lost_out
    }

    /// `tcp_packets_in_flight()`: packets_out - left_out + retrans_out.
    pub fn in_flight(&self) -> u32 {
        (self.packets_out + self.retrans_out).saturating_sub(self.left_out())
    }

    /// A chunk just sent for the first time (`tcp_event_new_data_sent()`).
    pub fn push(&mut self, seg: TxSeg) {
        self.packets_out += seg.pcount;
        self.segs.push_back(seg);
    }

    /// Remove every entry (the connection is gone).
    pub fn clear(&mut self) {
        *self = RtxQueue::default();
    }

    /// Change entry `i`'s packet count, keeping the counters it is part of
    /// in step (`tcp_adjust_pcount()`).
    fn set_pcount(&mut self, i: usize, pcount: u32) {
        let Some(s) = self.segs.get_mut(i) else {
            return;
        };
        let old = s.pcount;
        s.pcount = pcount;
        let sacked = s.sacked;
        let adj = |c: &mut u32| *c = (*c + pcount).saturating_sub(old);
        adj(&mut self.packets_out);
        if sacked & SACKED_ACKED != 0 {
            adj(&mut self.sacked_out);
        }
        if sacked & LOST != 0 {
            adj(&mut self.lost_out);
        }
        if sacked & SACKED_RETRANS != 0 {
            adj(&mut self.retrans_out);
        }
    }

    /// Split entry `i` at `at` (`tcp_fragment()`): the first part keeps
    /// [seq, at), a new entry after it takes [at, end) with the same marks
    /// and send time. A FIN stays with the second part. Returns false if
    /// `at` is not strictly inside the entry's data.
    pub fn split(&mut self, i: usize, at: SeqNum, mss: u32) -> bool {
        let Some(s) = self.segs.get(i) else {
            return false;
        };
        let data_start = s.seq + u32::from(s.syn);
        let data_end = s.end - u32::from(s.fin);
        if !at.after(data_start) || !at.before(data_end) {
            return false;
        }
        let mut tail = s.clone();
        tail.seq = at;
        tail.syn = false;
        let head_len = at - data_start;
        let tail_len = data_end - at;
        tail.pcount = 0;
        self.segs.insert(i + 1, tail);
        if let Some(h) = self.segs.get_mut(i) {
            h.end = at;
            h.fin = false;
        }
        self.set_pcount(i, pcount(head_len, mss));
        // The tail was inserted with no packets; give it its own.
        self.set_pcount(i + 1, pcount(tail_len, mss));
        true
    }

    /// Mark entry `i` lost (`tcp_mark_skb_lost()`); returns the packets newly
    /// lost and the packets of a retransmission that is lost again.
    pub fn mark_lost(&mut self, i: usize) -> (u32, u32) {
        let Some(s) = self.segs.get_mut(i) else {
            return (0, 0);
        };
        if s.sacked & SACKED_ACKED != 0 {
            return (0, 0);
        }
        let pc = s.pcount;
        if s.sacked & LOST != 0 {
            if s.sacked & SACKED_RETRANS != 0 {
                s.sacked &= !SACKED_RETRANS;
                self.retrans_out = self.retrans_out.saturating_sub(pc);
                return (pc, pc);
            }
            return (0, 0);
        }
        s.sacked |= LOST;
        self.lost_out += pc;
        (pc, 0)
    }

    /// Set and clear marks of entry `i`, keeping the counters in step.
    pub fn remark(&mut self, i: usize, set: u8, clear: u8) {
        let Some(s) = self.segs.get_mut(i) else {
            return;
        };
        let before = s.sacked;
        let after = (before & !clear) | set;
        s.sacked = after;
        let pc = s.pcount;
        let apply = |flag: u8, c: &mut u32| {
            let was = before & flag != 0;
            let is = after & flag != 0;
            if is && !was {
                *c += pc;
            } else if was && !is {
                *c = c.saturating_sub(pc);
            }
        };
        apply(SACKED_ACKED, &mut self.sacked_out);
        apply(LOST, &mut self.lost_out);
        apply(SACKED_RETRANS, &mut self.retrans_out);
    }

    pub fn seg_mut(&mut self, i: usize) -> Option<&mut TxSeg> {
        self.segs.get_mut(i)
    }

    /// Index of the entry holding `seq`.
    pub fn find(&self, seq: SeqNum) -> Option<usize> {
        // Entries are contiguous and ordered: binary search on start.
        let idx = self
            .segs
            .partition_point(|s| s.seq.before_eq(seq))
            .checked_sub(1)?;
        let s = self.segs.get(idx)?;
        s.end.after(seq).then_some(idx)
    }

    /// Take the head entry off (acknowledged in full).
    pub fn pop_head(&mut self) -> Option<TxSeg> {
        let s = self.segs.pop_front()?;
        let pc = s.pcount;
        self.packets_out = self.packets_out.saturating_sub(pc);
        if s.is(SACKED_ACKED) {
            self.sacked_out = self.sacked_out.saturating_sub(pc);
        }
        if s.is(LOST) {
            self.lost_out = self.lost_out.saturating_sub(pc);
        }
        if s.is(SACKED_RETRANS) {
            self.retrans_out = self.retrans_out.saturating_sub(pc);
        }
        Some(s)
    }

    /// The head entry was acknowledged up to `ack`, inside it (`tcp_tso_acked()`,
    /// `tcp_trim_head()`): trim it; returns the packets that left with the bytes.
    pub fn trim_head(&mut self, ack: SeqNum, mss: u32) -> u32 {
        let Some(s) = self.segs.front_mut() else {
            return 0;
        };
        if !ack.after(s.seq) || !ack.before(s.end) {
            return 0;
        }
        s.seq = ack;
        s.syn = false;
        let before = s.pcount;
        let left = s.data_len();
        self.set_pcount(0, pcount(left, mss));
        before.saturating_sub(self.segs.front().map_or(0, |s| s.pcount))
    }

    /// Every entry's marks cleared of `flags` (SACK reneging, undo).
    pub fn clear_all(&mut self, flags: u8) {
        for i in 0..self.segs.len() {
            self.remark(i, 0, flags);
        }
    }

    /// Check the counters against the entries (tests and debug builds).
    pub fn consistent(&self) -> bool {
        let sum = |f: &dyn Fn(&TxSeg) -> bool| -> u32 {
            self.segs.iter().filter(|s| f(s)).map(|s| s.pcount).sum()
        };
        let contiguous = self
            .segs
            .iter()
            .zip(self.segs.iter().skip(1))
            .all(|(a, b)| a.end == b.seq);
        contiguous
            && self.packets_out == sum(&|_| true)
            && self.sacked_out == sum(&|s| s.is(SACKED_ACKED))
            && self.lost_out == sum(&|s| s.is(LOST))
            && self.retrans_out == sum(&|s| s.is(SACKED_RETRANS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32, end: u32, mss: u32) -> TxSeg {
        TxSeg {
            seq: SeqNum(seq),
            end: SeqNum(end),
            pcount: pcount(end - seq, mss),
            sacked: 0,
            sent_at: Instant::ZERO,
            syn: false,
            fin: false,
            tx_delivered: 0,
            tx_order: 0,
        }
    }

    #[test]
    fn a_tso_chunk_counts_one_packet_per_mss() {
        let mut q = RtxQueue::default();
        q.push(seg(1, 10_001, 1000));
        q.push(seg(10_001, 10_501, 1000));
        assert_eq!(q.packets_out, 11);
        assert_eq!(q.in_flight(), 11);
        assert!(q.consistent());
    }

    #[test]
    fn splitting_keeps_marks_and_counts() {
        let mut q = RtxQueue::default();
        q.push(seg(1, 5001, 1000));
        q.remark(0, LOST, 0);
        assert_eq!(q.lost_out, 5);
        assert!(q.split(0, SeqNum(2001), 1000));
        assert_eq!(q.len(), 2);
        assert_eq!((q.get(0).unwrap().pcount, q.get(1).unwrap().pcount), (2, 3));
        assert_eq!(q.lost_out, 5);
        assert!(q.consistent());
        q.remark(1, SACKED_ACKED, LOST);
        assert_eq!((q.sacked_out, q.lost_out, q.in_flight()), (3, 2, 0));
        assert!(q.consistent());
    }

    #[test]
    fn a_partial_ack_trims_the_head() {
        let mut q = RtxQueue::default();
        q.push(seg(1, 4001, 1000));
        assert_eq!(q.trim_head(SeqNum(2001), 1000), 2);
        assert_eq!(q.head().unwrap().seq, SeqNum(2001));
        assert_eq!(q.packets_out, 2);
        assert_eq!(q.find(SeqNum(3000)), Some(0));
        assert_eq!(q.find(SeqNum(4001)), None);
        assert!(q.consistent());
    }

    #[test]
    fn a_lost_retransmission_counts_as_lost_again() {
        let mut q = RtxQueue::default();
        q.push(seg(1, 1001, 1000));
        q.mark_lost(0);
        q.remark(0, RETRANS, 0);
        assert_eq!(q.retrans_out, 1);
        assert_eq!(q.mark_lost(0), (1, 1));
        assert_eq!((q.lost_out, q.retrans_out), (1, 0));
        assert!(q.consistent());
    }
}
