//! The SACK sender (RFC 2018, RFC 6675; Linux `tcp_sacktag_write_queue()`):
//! mark the retransmit queue with what the receiver reports holding, detect
//! D-SACKs (RFC 2883, `tcp_check_dsack()`) and the reordering they and
//! late SACKs reveal, and choose the D-SACK block this host reports as a
//! receiver (`tcp_dsack_set()`, `tcp_dsack_extend()`).

use super::ack::*;
use super::rtx::{pcount, LOST, RETRANS, SACKED_ACKED, SACKED_RETRANS};
use super::tcb::Tcb;
use super::{Ctx, SeqNum};
use crate::wire::tcp::TcpRepr;

impl Tcb {
    /// `tcp_is_sackblock_valid()`: a block inside what was sent, or a
    /// D-SACK for retransmitted data below snd_una.
    fn sackblock_valid(&self, is_dsack: bool, start: SeqNum, end: SeqNum) -> bool {
        if end.after(self.snd_nxt) || !start.before(end) {
            return false;
        }
        if !start.before(self.snd_nxt) {
            return false;
        }
        if start.after(self.snd_una) {
            return true;
        }
        let Some(undo) = self.rec.undo_marker.filter(|_| is_dsack) else {
            return false;
        };
        if end.after(self.snd_una) {
            return false;
        }
        if !start.before(undo) {
            return true;
        }
        if !end.after(undo) {
            return false;
        }
        !start.before(end - self.max_window)
    }

    /// `tcp_check_dsack()`: is the first block a D-SACK (below the ACK, or
    /// inside the second block)? Counts it and lets undo and RACK use it.
    fn check_dsack(&mut self, ctx: &mut Ctx, seg: &TcpRepr, ev: &mut AckEvent) -> bool {
        let blocks = seg.options.sack();
        let Some(&(start0, end0)) = blocks.first() else {
            return false;
        };
        let dup = if start0.before(seg.ack) {
            ctx.mib.tcp_ext.tcp_dsack_recv += 1;
            true
        } else if let Some(&(start1, end1)) = blocks.get(1) {
            let inside = !end0.after(end1) && !start0.before(start1);
            if inside {
                ctx.mib.tcp_ext.tcp_dsack_ofo_recv += 1;
            }
            inside
        } else {
            false
        };
        if !dup {
            return false;
        }
        let len = if end0.after(start0) { end0 - start0 } else { 0 };
        let dup_segs = pcount(len, self.mss);
        self.rec.dsack_dups = self.rec.dsack_dups.saturating_add(dup_segs);
        // More D-SACKed than ever retransmitted: not our retransmissions (a
        // duplicating network), so nothing to undo.
        if self.rec.dsack_dups > self.total_retrans {
            ctx.mib.tcp_ext.tcp_dsack_ignored_dubious += 1;
            return false;
        }
        ctx.mib.tcp_ext.tcp_dsack_recv_segs += u64::from(dup_segs);
        self.rack.dsack_seen = true;
        ev.flag |= FLAG_DSACKING_ACK;
        if let Some(undo) = self.rec.undo_marker {
            if self.rec.undo_retrans > 0 && !end0.after(ev.prior_snd_una) && end0.after(undo) {
                self.rec.undo_retrans = (self.rec.undo_retrans - dup_segs as i32).max(0);
            }
        }
        if self.rec.tlp_retrans && self.rec.tlp_high_seq == Some(end0) {
            ev.flag |= FLAG_DSACK_TLP;
        }
        true
    }

    /// `tcp_sacktag_write_queue()`.
    pub(super) fn sacktag(&mut self, ctx: &mut Ctx, seg: &TcpRepr, ev: &mut AckEvent) {
        let found_dup = self.check_dsack(ctx, seg, ev);
        let blocks = seg.options.sack();
        for (i, &(start, end)) in blocks.iter().enumerate() {
            let dup = found_dup && i == 0;
            if !self.sackblock_valid(dup, start, end) {
                if dup {
                    ctx.mib.tcp_ext.tcp_dsack_ignored_no_undo += 1;
                } else if i == 0 || !end.before_eq(ev.prior_snd_una) {
                    ctx.mib.tcp_ext.tcp_sack_discard += 1;
                }
                continue;
            }
            if !end.after(self.snd_una) {
                continue;
            }
            let start = if start.before(self.snd_una) {
                self.snd_una
            } else {
                start
            };
            self.sacktag_range(ctx, start, end, dup, ev);
        }
        if let Some(r) = ev.reord {
            if r.before(ev.prior_fack) {
                self.check_sack_reordering(ctx, r, false);
            }
        }
    }

    /// Tag every queue entry inside [start, end), splitting entries the
    /// block covers in part (`tcp_sacktag_walk()`, `tcp_match_skb_to_sack()`).
    fn sacktag_range(
        &mut self,
        ctx: &mut Ctx,
        start: SeqNum,
        end: SeqNum,
        dup: bool,
        ev: &mut AckEvent,
    ) {
        let mss = self.mss;
        let Some(mut i) = self.rtx.find(start) else {
            return;
        };
        while let Some(s) = self.rtx.get(i) {
            if !s.seq.before(end) {
                break;
            }
            if s.is(SACKED_ACKED) && !dup {
                i += 1;
                continue;
            }
            let in_sack = !start.after(s.seq) && !end.before(s.end);
            if !in_sack {
                // A block covering part of an entry (`tcp_match_skb_to_sack()`):
                // a multi-packet entry is split on whole MSS, rounded so a
                // SACK never covers part of a packet; a one-packet entry
                // partly covered is not SACKed at all.
                let (seq, len) = (s.seq, s.end - s.seq);
                if s.pcount <= 1 || !s.end.after(start) {
                    i += 1;
                    continue;
                }
                let head_in = !start.after(seq);
                let mut pkt_len = if head_in {
                    let l = end - seq;
                    if l < mss {
                        i += 1;
                        continue;
                    }
                    l
                } else {
                    (start - seq).max(mss)
                };
                if pkt_len > mss {
                    let mut rounded = pkt_len / mss * mss;
                    if !head_in && rounded < pkt_len {
                        rounded += mss;
                    }
                    pkt_len = rounded;
                }
                if (pkt_len >= len && !head_in) || !self.rtx.split(i, seq + pkt_len, mss) {
                    i += 1;
                    continue;
                }
                if head_in {
                    self.sacktag_one(ctx, i, dup, ev);
                }
                i += 1;
                continue;
            }
            self.sacktag_one(ctx, i, dup, ev);
            i += 1;
        }
    }

    /// `tcp_sacktag_one()`.
    fn sacktag_one(&mut self, ctx: &mut Ctx, i: usize, dup: bool, ev: &mut AckEvent) {
        let Some(s) = self.rtx.get(i) else { return };
        let (seq, end, sacked, pc, sent_at, tx_delivered) =
            (s.seq, s.end, s.sacked, s.pcount, s.sent_at, s.tx_delivered);
        let mark = s.mark();
        if dup && sacked & RETRANS != 0 {
            if let Some(undo) = self.rec.undo_marker {
                if self.rec.undo_retrans > 0 && end.after(undo) {
                    self.rec.undo_retrans = (self.rec.undo_retrans - pc as i32).max(0);
                }
            }
        }
        if !end.after(self.snd_una) {
            return;
        }
        if sacked & SACKED_ACKED == 0 {
            self.rack_advance(ctx.now, sacked, mark);
            let mut clear = 0;
            if sacked & SACKED_RETRANS != 0 {
                if sacked & LOST != 0 {
                    clear |= LOST | SACKED_RETRANS;
                }
            } else {
                if sacked & RETRANS == 0 {
                    // A never-retransmitted segment SACKed below the highest
                    // SACK was in a hole: reordering.
                    if seq.before(self.highest_sack_seq()) {
                        ev.note_reord(seq);
                    }
                    if !end.after(self.rec.high_seq) {
                        ev.flag |= FLAG_ORIG_SACK_ACKED;
                    }
                    ev.first_sackt.get_or_insert(sent_at);
                    ev.last_sackt = Some(sent_at);
                }
                if sacked & LOST != 0 {
                    clear |= LOST;
                }
            }
            self.rtx.remark(i, SACKED_ACKED, clear);
            ev.flag |= FLAG_DATA_SACKED;
            self.rec.delivered += pc;
            ev.delivered_seg(sent_at, tx_delivered);
            if self.rtx.sacked_out == pc || end.after(self.rec.highest_sack) {
                self.rec.highest_sack = end;
            }
        }
        // A D-SACK shows a retransmission was needless: it is not in flight.
        if dup && self.rtx.get(i).is_some_and(|s| s.is(SACKED_RETRANS)) {
            self.rtx.remark(i, 0, SACKED_RETRANS);
        }
    }

    /// `tcp_dsack_set()`: as a receiver, report [seq, end) as a duplicate in
    /// the next ACK (RFC 2883 §4), if D-SACK is on and SACK was agreed.
    pub(super) fn dsack_set(&mut self, ctx: &mut Ctx, seq: SeqNum, end: SeqNum) {
        if !self.neg.sack_ok || ctx.sysctl.tcp_dsack == 0 || !seq.before(end) {
            return;
        }
        if seq.before(self.rcv_nxt) {
            ctx.mib.tcp_ext.tcp_dsack_old_sent += 1;
        } else {
            ctx.mib.tcp_ext.tcp_dsack_ofo_sent += 1;
        }
        self.dsack = Some((seq, end));
    }
}
