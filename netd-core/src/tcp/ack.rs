//! ACK processing (Linux `tcp_ack()` and `tcp_clean_rtx_queue()`): the
//! window update, SACK tagging, freeing what is cumulatively ACKed, the RTT
//! sample, then loss recovery and the congestion window. What each ACK did
//! travels as Linux's FLAG_* bits in an [`AckEvent`].

use super::cong::cubic::Hystart;
use super::cong::AckedSample;
use super::recovery::{CaState, Rexmit};
use super::rtx::{RETRANS, SACKED_ACKED};
use super::tcb::Tcb;
use super::{ts_now, Ctx, SeqNum};
use crate::time::Instant;
use crate::wire::tcp::TcpRepr;
use core::time::Duration;

/// Incoming segment carried data.
pub const FLAG_DATA: u32 = 0x01;
/// The ACK may update the send window.
pub const FLAG_WIN_UPDATE: u32 = 0x02;
/// New data was cumulatively ACKed.
pub const FLAG_DATA_ACKED: u32 = 0x04;
/// Some of it had been retransmitted.
pub const FLAG_RETRANS_DATA_ACKED: u32 = 0x08;
/// Our SYN was ACKed.
pub const FLAG_SYN_ACKED: u32 = 0x10;
/// New SACK blocks.
pub const FLAG_DATA_SACKED: u32 = 0x20;
/// ECE set on the ACK.
pub const FLAG_ECE: u32 = 0x40;
/// A retransmission was lost again.
pub const FLAG_LOST_RETRANS: u32 = 0x80;
/// Never-retransmitted data was (S)ACKed.
pub const FLAG_ORIG_SACK_ACKED: u32 = 0x200;
/// snd_una moved.
pub const FLAG_SND_UNA_ADVANCED: u32 = 0x400;
/// The ACK carried a D-SACK.
pub const FLAG_DSACKING_ACK: u32 = 0x800;
/// Re-arm the TLP or RTO timer afterwards.
pub const FLAG_SET_XMIT_TIMER: u32 = 0x1000;
/// The receiver dropped data it had SACKed.
pub const FLAG_SACK_RENEGING: u32 = 0x2000;
/// The D-SACK covers a tail loss probe.
pub const FLAG_DSACK_TLP: u32 = 0x20000;

pub const FLAG_ACKED: u32 = FLAG_DATA_ACKED | FLAG_SYN_ACKED;
pub const FLAG_NOT_DUP: u32 = FLAG_DATA | FLAG_WIN_UPDATE | FLAG_ACKED;
pub const FLAG_CA_ALERT: u32 = FLAG_DATA_SACKED | FLAG_ECE | FLAG_DSACKING_ACK;
pub const FLAG_FORWARD_PROGRESS: u32 = FLAG_ACKED | FLAG_DATA_SACKED;

/// What one ACK did (the `flag` word and `tcp_sacktag_state` of `tcp_ack()`).
#[derive(Clone, Debug)]
pub struct AckEvent {
    pub flag: u32,
    pub prior_snd_una: SeqNum,
    /// `tcp_highest_sack_seq()` before this ACK.
    pub prior_fack: SeqNum,
    /// The ACK's echoed timestamp (`rx_opt.rcv_tsecr`).
    pub tsecr: Option<u32>,
    /// Lowest never-retransmitted sequence delivered out of order (`state->reord`).
    pub reord: Option<SeqNum>,
    /// Send times of the first and last newly SACKed never-retransmitted segments.
    pub first_sackt: Option<Instant>,
    pub last_sackt: Option<Instant>,
    /// `rs->prior_delivered`: `delivered` when the newest delivered segment was sent.
    pub prior_delivered: Option<u32>,
    prior_delivered_at: Option<Instant>,
}

impl AckEvent {
    pub fn new(tcb: &Tcb, seg: &TcpRepr) -> AckEvent {
        AckEvent {
            flag: 0,
            prior_snd_una: tcb.snd_una,
            prior_fack: tcb.highest_sack_seq(),
            tsecr: seg.options.timestamp.map(|(_, ecr)| ecr),
            reord: None,
            first_sackt: None,
            last_sackt: None,
            prior_delivered: None,
            prior_delivered_at: None,
        }
    }

    /// `tcp_rate_skb_delivered()`'s choice: the most recently sent delivery.
    pub fn delivered_seg(&mut self, sent_at: Instant, tx_delivered: u32) {
        if self.prior_delivered_at.is_none_or(|t| sent_at > t) {
            self.prior_delivered_at = Some(sent_at);
            self.prior_delivered = Some(tx_delivered);
        }
    }

    pub fn note_reord(&mut self, seq: SeqNum) {
        if self.reord.is_none_or(|r| seq.before(r)) {
            self.reord = Some(seq);
        }
    }
}

impl Tcb {
    /// ACK field processing (`tcp_ack()`); false drops the segment.
    pub(super) fn process_ack(&mut self, ctx: &mut Ctx, seg: &TcpRepr) -> bool {
        let ack = seg.ack;
        if ack.after(self.snd_max) {
            // An ACK for data not yet sent is dropped with a challenge ACK,
            // rate-limited (RFC 5961 §5.2, RFC 9293 §3.10.7.4; Linux since
            // 42726ec644cb, in 6.18 stable): one answer per
            // tcp_invalid_ratelimit, not one per segment a forger sends.
            self.challenge_ack(ctx, seg);
            return false;
        }
        let mut ev = AckEvent::new(self, seg);
        let sack = self.is_sack() && !seg.options.sack().is_empty();
        if ack.before(self.snd_una) {
            // RFC 5961 §5.2: an ACK older than the largest window gets a challenge.
            if ack.before(self.snd_una - self.max_window) {
                self.challenge_ack(ctx, seg);
                return false;
            }
            // An old ACK still reports what the receiver holds (tcp_ack() "old_ack").
            if sack {
                let prior_delivered = self.rec.delivered;
                self.sacktag(ctx, seg, &mut ev);
                let rexmit = self.fastretrans_alert(ctx, &mut ev, 0);
                ctx.mib.tcp_ext.tcp_delivered += u64::from(self.rec.delivered - prior_delivered);
                self.xmit_recovery(ctx, rexmit);
            }
            return true;
        }
        self.replace_ts_recent(ctx, seg);
        let prior_delivered = self.rec.delivered;
        let prior_lost = self.rec.lost;
        let prior_packets = self.rtx.packets_out;
        self.ack_update_window(seg, &mut ev);
        if ack.after(self.snd_una) {
            ev.flag |= FLAG_SND_UNA_ADVANCED;
            self.snd_una_update(ack);
            self.backoff = 0;
            self.retransmits = 0;
            self.retrans_stamp = None;
        }
        if !seg.payload.is_empty() {
            ev.flag |= FLAG_DATA;
        }
        // Any acceptable ACK shows the peer is alive (tcp_ack(): probes_out = 0, rcv_tstamp).
        self.last_ack_recv = ctx.now;
        self.probes_out = 0;
        if self.persist_deadline.is_some() {
            // tcp_ack_probe(): a usable window ends probing; otherwise keep backing off.
            let head_fits = self.snd_wnd >= (self.write_seq - self.snd_una).min(self.mss);
            if self.snd_wnd > 0 && head_fits {
                self.persist_deadline = None;
                self.persist_backoff = 0;
                self.probes_tstamp = None;
            } else {
                self.persist_deadline = Some(ctx.now + self.probe0_when());
            }
        }
        if sack {
            self.sacktag(ctx, seg, &mut ev);
        }
        if prior_packets == 0 {
            // Nothing was outstanding (tcp_ack() "no_queue").
            if ev.flag & FLAG_DSACKING_ACK != 0 {
                let rexmit = self.fastretrans_alert(ctx, &mut ev, 0);
                self.xmit_recovery(ctx, rexmit);
            }
            return true;
        }
        self.clean_rtx_queue(ctx, &mut ev);
        self.rack_update_reo_wnd(ctx.sysctl, &ev);
        if self.rec.tlp_high_seq.is_some() {
            self.process_tlp_ack(ctx, ack, ev.flag);
        }
        let mut rexmit = Rexmit::None;
        if self.ack_is_dubious(ev.flag) {
            let num_dupack =
                if ev.flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DSACKING_ACK) == 0 {
                    1
                } else {
                    0
                };
            rexmit = self.fastretrans_alert(ctx, &mut ev, num_dupack);
        }
        if ev.flag & FLAG_SET_XMIT_TIMER != 0 {
            self.set_xmit_timer(ctx);
        }
        let delivered = self.rec.delivered - prior_delivered;
        ctx.mib.tcp_ext.tcp_delivered += u64::from(delivered);
        let lost = self.rec.lost - prior_lost;
        self.cong_control(ctx, delivered, lost, ev.flag);
        self.xmit_recovery(ctx, rexmit);
        true
    }

    /// `tcp_ack_is_dubious()`: not a plain in-order ACK in the Open state.
    fn ack_is_dubious(&self, flag: u32) -> bool {
        flag & FLAG_NOT_DUP == 0 || flag & FLAG_CA_ALERT != 0 || self.rec.ca_state != CaState::Open
    }

    /// `tcp_ack_update_window()` with `tcp_may_update_window()` (RFC 9293
    /// §3.10.7.4 SND.WL1/WL2): sets FLAG_WIN_UPDATE whenever the window may
    /// move, which is what keeps such an ACK from counting as a duplicate.
    fn ack_update_window(&mut self, seg: &TcpRepr, ev: &mut AckEvent) {
        let ack = seg.ack;
        let nwin = if seg.flags.syn() {
            u32::from(seg.window)
        } else {
            u32::from(seg.window) << self.neg.snd_wscale
        };
        let may_update = ack.after(self.snd_una)
            || seg.seq.after(self.snd_wl1)
            || (seg.seq == self.snd_wl1 && (nwin > self.snd_wnd || nwin == 0));
        if may_update {
            ev.flag |= FLAG_WIN_UPDATE;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if self.snd_wnd != nwin {
                self.snd_wnd = nwin;
                self.max_window = self.max_window.max(nwin);
            }
        }
    }

    /// `tcp_snd_una_update()`: move snd_una and free the acknowledged bytes
    /// (SYN and FIN occupy sequence space but no buffer).
    fn snd_una_update(&mut self, ack: SeqNum) {
        let data_start = if self.snd_una.after(self.iss) {
            self.snd_una
        } else {
            self.iss + 1
        };
        let upto = ack.min(self.write_seq);
        let freed = if upto.after(data_start) {
            (upto - data_start) as usize
        } else {
            0
        };
        self.send_buf.drain(..freed.min(self.send_buf.len()));
        self.bytes_acked += u64::from(ack - self.snd_una);
        self.snd_una = ack;
        if self.snd_nxt.before(ack) {
            self.snd_nxt = ack;
        }
    }

    /// `tcp_skb_spurious_retrans()`: the ACK echoes a time before this
    /// retransmission, so the original was what arrived.
    fn spurious_retrans(&self, ev: &AckEvent, sacked: u8, sent_at: Instant) -> bool {
        sacked & RETRANS != 0 && self.tsecr_before(ev, sent_at)
    }

    /// `tcp_clean_rtx_queue()`: drop what the cumulative ACK covers, count
    /// it delivered, take the RTT sample (Karn's rule: never from a
    /// retransmission; else from SACK; else from the timestamp echo).
    fn clean_rtx_queue(&mut self, ctx: &mut Ctx, ev: &mut AckEvent) {
        let ack = self.snd_una;
        let now = ctx.now;
        let mss = self.mss;
        let mut first_ackt = None;
        let mut last_ackt = None;
        let mut pkts_acked = 0u32;
        let mut flag = 0u32;
        let mut reord: Option<SeqNum> = None;
        while let Some(head) = self.rtx.head() {
            let fully = !head.end.after(ack);
            if !fully && !ack.after(head.seq) {
                break;
            }
            let (seq, end, sacked, sent_at, syn, tx_delivered) = (
                head.seq,
                head.end,
                head.sacked,
                head.sent_at,
                head.syn,
                head.tx_delivered,
            );
            let mark = head.mark();
            let acked_pcount = if fully {
                let pc = head.pcount;
                self.rtx.pop_head();
                pc
            } else {
                self.rtx.trim_head(ack, mss)
            };
            if sacked & RETRANS != 0 {
                flag |= FLAG_RETRANS_DATA_ACKED;
            } else if sacked & SACKED_ACKED == 0 {
                last_ackt = Some(sent_at);
                first_ackt.get_or_insert(sent_at);
                if reord.is_none_or(|r| seq.before(r)) {
                    reord = Some(seq);
                }
                if !end.after(self.rec.high_seq) {
                    flag |= FLAG_ORIG_SACK_ACKED;
                }
            }
            if sacked & SACKED_ACKED == 0 && self.is_sack() {
                self.rec.delivered += acked_pcount;
                ev.delivered_seg(sent_at, tx_delivered);
                if !self.spurious_retrans(ev, sacked, sent_at) {
                    self.rack_advance(now, sacked, mark);
                }
            }
            pkts_acked += acked_pcount;
            if syn {
                flag |= FLAG_SYN_ACKED;
            } else {
                flag |= FLAG_DATA_ACKED;
            }
            if !fully {
                break;
            }
        }
        // RTT (tcp_ack_update_rtt()).
        let seq_rtt = first_ackt
            .filter(|_| flag & FLAG_RETRANS_DATA_ACKED == 0)
            .map(|t| now - t);
        let sack_rtt = ev.first_sackt.map(|t| now - t);
        let mut rtt = seq_rtt.or(sack_rtt);
        if rtt.is_none() && flag & FLAG_ACKED != 0 && self.neg.ts_ok {
            if let Some(ecr) = ev.tsecr.filter(|e| *e != 0) {
                let ms = ts_now(now).wrapping_sub(ecr.wrapping_sub(self.ts_offset));
                if ms < 1 << 30 {
                    rtt = Some(Duration::from_millis(u64::from(ms.max(1))));
                }
            }
        }
        if let Some(r) = rtt {
            self.rtt.sample(r);
        }
        let ca_rtt = last_ackt.or(ev.last_sackt).map(|t| now - t);
        if pkts_acked > 0 || ca_rtt.is_some() {
            self.cc_pkts_acked(ctx, pkts_acked, ca_rtt);
        }
        if flag & FLAG_ACKED != 0 {
            flag |= FLAG_SET_XMIT_TIMER;
            if !self.is_sack() {
                self.remove_reno_sacks(ctx, pkts_acked);
                // Without SACK marks a cumulative ACK over retransmitted data
                // cannot show that an original arrived.
                if flag & FLAG_RETRANS_DATA_ACKED != 0 {
                    flag &= !FLAG_ORIG_SACK_ACKED;
                }
            } else if let Some(r) = reord {
                // A never-retransmitted hole filled below the highest SACK: reordering.
                if r.before(ev.prior_fack) {
                    self.check_sack_reordering(ctx, r, false);
                }
            }
        }
        if self.rtx.head().is_some_and(|h| h.is(SACKED_ACKED)) {
            flag |= FLAG_SACK_RENEGING;
        }
        ev.flag |= flag;
    }

    /// `tcp_ack_update_rtt()`'s call of `ca_ops->pkts_acked()`, counting what HyStart finds.
    fn cc_pkts_acked(&mut self, ctx: &mut Ctx, acked: u32, rtt: Option<Duration>) {
        // hystart_ack_delay(): min(1 ms, gso_max_size · 4 / pacing rate).
        let rate = self.pacing_rate(ctx.sysctl).max(1);
        let gso = u64::from(ctx.tx.size_goal(self.mss.max(1)));
        let ack_delay_us = (gso * 4 * 1_000_000 / rate).min(1000);
        let sample = AckedSample {
            now: ctx.now,
            acked,
            rtt,
            snd_una: self.snd_una.0,
            snd_nxt: self.snd_nxt.0,
            ack_delay_us,
        };
        match self.cc.pkts_acked(&sample) {
            Hystart::None => {}
            Hystart::Train => {
                ctx.mib.tcp_ext.tcp_hystart_train_detect += 1;
                ctx.mib.tcp_ext.tcp_hystart_train_cwnd += u64::from(self.cc.cwnd);
            }
            Hystart::Delay => {
                ctx.mib.tcp_ext.tcp_hystart_delay_detect += 1;
                ctx.mib.tcp_ext.tcp_hystart_delay_cwnd += u64::from(self.cc.cwnd);
            }
        }
    }

    /// `tcp_set_xmit_timer()`: a loss probe if one applies, else the RTO.
    pub(super) fn set_xmit_timer(&mut self, ctx: &Ctx) {
        if !self.schedule_loss_probe(ctx, true) {
            self.rearm_rto(ctx.now);
        }
    }
}
