//! Loss recovery as `tcp_input.c` runs it: the congestion-avoidance state
//! machine (`tcp_fastretrans_alert()`), entering and leaving Recovery and
//! Loss, undoing a reduction that proved false (Eifel by timestamps,
//! RFC 3522; D-SACK, RFC 2883/3708; F-RTO, RFC 5682), Proportional Rate
//! Reduction (RFC 6937, `tcp_cwnd_reduction()`), NewReno's one-hole-per-ACK
//! marking for peers without SACK (RFC 6582, `tcp_newreno_mark_lost()`),
//! and the retransmission of what is marked lost (`tcp_xmit_retransmit_queue()`).
//!
//! Loss itself is detected by RACK (`rack`) when SACK is in use, as Linux
//! does with `tcp_recovery` = 1; with `tcp_recovery` = 0 the RFC 6675
//! duplicate-threshold rule (`tcp_mark_head_lost()`) does it instead.

use super::ack::*;
use super::rtx::{LOST, RETRANS, SACKED_ACKED, SACKED_RETRANS};
use super::tcb::Tcb;
use super::{Ctx, SeqNum};
use crate::sysctl::Sysctl;
use crate::time::Instant;

/// `icsk_ca_state` (`enum tcp_ca_state`), ordered as Linux compares them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaState {
    Open = 0,
    Disorder = 1,
    Cwr = 2,
    Recovery = 3,
    Loss = 4,
}

/// What to retransmit after this ACK (`enum { REXMIT_NONE, REXMIT_LOST, REXMIT_NEW }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rexmit {
    None,
    /// Retransmit the segments marked lost.
    Lost,
    /// F-RTO step 2b: send new data first.
    New,
}

/// The loss-recovery part of `struct tcp_sock`.
#[derive(Clone, Debug)]
pub struct Recovery {
    pub ca_state: CaState,
    /// snd_nxt when the current recovery (or CWR, or Loss) started.
    pub high_seq: SeqNum,
    /// snd_una when the reduction started; None: nothing to undo.
    pub undo_marker: Option<SeqNum>,
    /// Retransmissions not yet shown spurious by D-SACK; -1 when none were in flight.
    pub undo_retrans: i32,
    /// When this episode's first retransmission went out (Linux's
    /// `retrans_stamp` as `tcp_packet_delayed()` reads it).
    pub undo_stamp: Option<Instant>,
    /// ssthresh before the reduction, 0 when an undo must not restore it.
    pub prior_ssthresh: u32,
    pub prior_cwnd: u32,
    /// PRR: packets delivered and sent since the reduction started.
    pub prr_delivered: u32,
    pub prr_out: u32,
    /// `tp->reordering`: the reordering degree, in packets.
    pub reordering: u32,
    /// Reordering events seen (`reord_seen`).
    pub reord_seen: u32,
    /// F-RTO is probing after this RTO (`tp->frto`).
    pub frto: bool,
    /// snd_nxt when a tail loss probe went out; None: none outstanding.
    pub tlp_high_seq: Option<SeqNum>,
    /// The probe was a retransmission, not new data.
    pub tlp_retrans: bool,
    /// The receiver reneged on SACKed data.
    pub is_sack_reneg: bool,
    /// End of the highest SACKed segment (`tcp_highest_sack_seq()` while sacked_out > 0).
    pub highest_sack: SeqNum,
    /// Packets delivered (`tp->delivered`) and marked lost (`tp->lost`), ever.
    pub delivered: u32,
    pub lost: u32,
    /// Packets D-SACKed (`dsack_dups`).
    pub dsack_dups: u32,
    /// Transmissions so far, numbering each (re)transmission for RACK.
    pub tx_count: u64,
    /// `tcp_cwnd_validate()`'s view: the window limited the last flight.
    pub is_cwnd_limited: bool,
    pub max_packets_out: u32,
    pub cwnd_usage_seq: SeqNum,
}

impl Recovery {
    pub fn new(iss: SeqNum, sysctl: &Sysctl) -> Recovery {
        Recovery {
            ca_state: CaState::Open,
            high_seq: iss,
            undo_marker: None,
            undo_retrans: -1,
            undo_stamp: None,
            prior_ssthresh: 0,
            prior_cwnd: 0,
            prr_delivered: 0,
            prr_out: 0,
            reordering: sysctl.tcp_reordering.clamp(1, i64::from(u32::MAX >> 1)) as u32,
            reord_seen: 0,
            frto: false,
            tlp_high_seq: None,
            tlp_retrans: false,
            is_sack_reneg: false,
            highest_sack: iss,
            delivered: 0,
            lost: 0,
            dsack_dups: 0,
            tx_count: 0,
            is_cwnd_limited: false,
            max_packets_out: 0,
            cwnd_usage_seq: iss,
        }
    }
}

/// `tcp_recovery` bit 0: RACK loss detection (TCP_RACK_LOSS_DETECTION).
pub const RACK_LOSS_DETECTION: i64 = 0x1;
/// Bit 1: a static reordering window (TCP_RACK_STATIC_REO_WND).
pub const RACK_STATIC_REO_WND: i64 = 0x2;
/// Bit 2: no duplicate-threshold shortcut (TCP_RACK_NO_DUPTHRESH).
pub const RACK_NO_DUPTHRESH: i64 = 0x4;

impl Tcb {
    /// `tcp_is_rack()`.
    pub fn is_rack(&self, sysctl: &Sysctl) -> bool {
        sysctl.tcp_recovery & RACK_LOSS_DETECTION != 0
    }

    /// `tcp_in_cwnd_reduction()`: CWR or Recovery.
    pub fn in_cwnd_reduction(&self) -> bool {
        matches!(self.rec.ca_state, CaState::Cwr | CaState::Recovery)
    }

    /// `tcp_highest_sack_seq()`.
    pub fn highest_sack_seq(&self) -> SeqNum {
        if self.rtx.sacked_out == 0 {
            self.snd_una
        } else {
            self.rec.highest_sack
        }
    }

    /// `tcp_any_retrans_done()`.
    pub fn any_retrans_done(&self) -> bool {
        self.rtx.retrans_out > 0 || self.rtx.head().is_some_and(|h| h.is(RETRANS))
    }

    fn set_ca_state(&mut self, state: CaState) {
        self.rec.ca_state = state;
    }

    /// The echoed timestamp of this ACK is older than `when`
    /// (`tcp_tsopt_ecr_before()`): the peer answered a transmission before it.
    pub(super) fn tsecr_before(&self, ev: &AckEvent, when: Instant) -> bool {
        match ev.tsecr {
            Some(ecr) if ecr != 0 => {
                let ours = ecr.wrapping_sub(self.ts_offset);
                (ours.wrapping_sub(super::ts_now(when)) as i32) < 0
            }
            _ => false,
        }
    }

    /// `tcp_packet_delayed()`: the ACK echoes a timestamp from before the
    /// first retransmission, so the original arrived (Eifel, RFC 3522).
    fn packet_delayed(&self, ev: &AckEvent) -> bool {
        self.rec
            .undo_stamp
            .is_some_and(|t| self.tsecr_before(ev, t))
    }

    /// `tcp_may_undo()`.
    fn may_undo(&self, ev: &AckEvent) -> bool {
        self.rec.undo_marker.is_some() && (self.rec.undo_retrans == 0 || self.packet_delayed(ev))
    }

    /// `tcp_init_undo()`.
    fn init_undo(&mut self) {
        self.rec.undo_marker = Some(self.snd_una);
        self.rec.undo_retrans = if self.rtx.retrans_out > 0 {
            self.rtx.retrans_out as i32
        } else {
            -1
        };
    }

    /// `tcp_current_ssthresh()`.
    fn current_ssthresh(&self) -> u32 {
        if self.in_cwnd_reduction() {
            self.cc.ssthresh
        } else {
            self.cc
                .ssthresh
                .max((self.cc.cwnd >> 1) + (self.cc.cwnd >> 2))
        }
    }

    /// `tcp_init_cwnd_reduction()`: the start of a reduction (Recovery or CWR).
    pub(super) fn init_cwnd_reduction(&mut self) {
        self.rec.high_seq = self.snd_nxt;
        self.rec.tlp_high_seq = None;
        self.cc.cwnd_cnt = 0;
        self.rec.prior_cwnd = self.cc.cwnd;
        self.rec.prr_delivered = 0;
        self.rec.prr_out = 0;
        self.cc.ssthresh = self.cc.ssthresh_after_loss();
    }

    /// `tcp_cwnd_reduction()`, PRR as Linux 6.x runs it (RFC 6937, with
    /// the RFC 6937bis slow-start bound): send in proportion to what is
    /// delivered while the flight is above ssthresh, then grow back to it.
    pub(super) fn cwnd_reduction(&mut self, newly_acked_sacked: u32, newly_lost: u32, flag: u32) {
        if newly_acked_sacked == 0 || self.rec.prior_cwnd == 0 {
            return;
        }
        let in_flight = self.packets_in_flight() as i64;
        let delta = i64::from(self.cc.ssthresh) - in_flight;
        self.rec.prr_delivered += newly_acked_sacked;
        let prr_delivered = i64::from(self.rec.prr_delivered);
        let prr_out = i64::from(self.rec.prr_out);
        let mut sndcnt = if delta < 0 {
            let prior = i64::from(self.rec.prior_cwnd);
            (i64::from(self.cc.ssthresh) * prr_delivered + prior - 1) / prior - prr_out
        } else {
            let mut n = (prr_delivered - prr_out).max(i64::from(newly_acked_sacked));
            if flag & FLAG_SND_UNA_ADVANCED != 0 && newly_lost == 0 {
                n += 1;
            }
            n.min(delta)
        };
        // A fast retransmission goes out on entering recovery, whatever the sum.
        sndcnt = sndcnt.max(if self.rec.prr_out > 0 { 0 } else { 1 });
        let cwnd = (in_flight + sndcnt).clamp(0, i64::from(u32::MAX)) as u32;
        self.cc.set_cwnd(cwnd);
    }

    /// `tcp_end_cwnd_reduction()`: back to ssthresh unless undone.
    pub(super) fn end_cwnd_reduction(&mut self) {
        if self.cc.ssthresh_known()
            && (self.rec.ca_state == CaState::Cwr || self.rec.undo_marker.is_some())
        {
            self.cc.set_cwnd(self.cc.ssthresh);
        }
    }

    /// `tcp_enter_cwr()`: reduce once without recovery (ECN, a repaired tail loss).
    pub(super) fn enter_cwr(&mut self) {
        self.rec.prior_ssthresh = 0;
        if self.rec.ca_state < CaState::Cwr {
            self.rec.undo_marker = None;
            self.init_cwnd_reduction();
            self.set_ca_state(CaState::Cwr);
        }
    }

    /// `tcp_enter_recovery()`.
    pub(super) fn enter_recovery(&mut self, ctx: &mut Ctx, ece_ack: bool) {
        if self.is_sack() {
            ctx.mib.tcp_ext.tcp_sack_recovery += 1;
        } else {
            ctx.mib.tcp_ext.tcp_reno_recovery += 1;
        }
        self.rec.prior_ssthresh = 0;
        self.init_undo();
        if !self.in_cwnd_reduction() {
            if !ece_ack {
                self.rec.prior_ssthresh = self.current_ssthresh();
            }
            self.init_cwnd_reduction();
        }
        self.set_ca_state(CaState::Recovery);
    }

    /// `tcp_undo_cwnd_reduction()`.
    fn undo_cwnd_reduction(&mut self, unmark_loss: bool) {
        if unmark_loss {
            self.rtx.clear_all(LOST);
        }
        if self.rec.prior_ssthresh != 0 {
            let cwnd = self.cc.undo_cwnd(self.rec.prior_cwnd);
            self.cc.set_cwnd(cwnd);
            if self.rec.prior_ssthresh > self.cc.ssthresh {
                self.cc.ssthresh = self.rec.prior_ssthresh;
            }
        }
        self.rec.undo_marker = None;
        // Make RACK look at the queue again.
        self.rack.advanced = true;
    }

    /// `tcp_try_keep_open()`.
    pub(super) fn try_keep_open(&mut self) {
        let state = if self.rtx.left_out() > 0 || self.any_retrans_done() {
            CaState::Disorder
        } else {
            CaState::Open
        };
        if self.rec.ca_state != state {
            self.set_ca_state(state);
            self.rec.high_seq = self.snd_nxt;
        }
    }

    /// `tcp_try_to_open()`.
    fn try_to_open(&mut self, flag: u32) {
        if !self.any_retrans_done() {
            self.rec.undo_stamp = None;
        }
        if flag & FLAG_ECE != 0 {
            self.enter_cwr();
        }
        if self.rec.ca_state != CaState::Cwr {
            self.try_keep_open();
        }
    }

    /// `tcp_try_undo_recovery()`: the recovery ended; was it needed?
    /// Returns true to hold the state (Reno, until something above high_seq is ACKed).
    fn try_undo_recovery(&mut self, ctx: &mut Ctx, ev: &AckEvent) -> bool {
        if self.may_undo(ev) {
            self.undo_cwnd_reduction(false);
            if self.rec.ca_state == CaState::Loss {
                ctx.mib.tcp_ext.tcp_loss_undo += 1;
            } else {
                ctx.mib.tcp_ext.tcp_full_undo += 1;
            }
        } else if self.rack.reo_wnd_persist > 0 {
            self.rack.reo_wnd_persist -= 1;
        }
        if self.snd_una == self.rec.high_seq && !self.is_sack() {
            // RFC 6582 §3.2 step 3: hold until an ACK above high_seq, so a
            // Reno sender does not start a false fast retransmit.
            if !self.any_retrans_done() {
                self.rec.undo_stamp = None;
            }
            return true;
        }
        self.set_ca_state(CaState::Open);
        self.rec.is_sack_reneg = false;
        false
    }

    /// `tcp_try_undo_dsack()`: every retransmission was D-SACKed.
    fn try_undo_dsack(&mut self, ctx: &mut Ctx) -> bool {
        if self.rec.undo_marker.is_some() && self.rec.undo_retrans == 0 {
            self.rack.reo_wnd_persist =
                (self.rack.reo_wnd_persist + 1).min(super::rack::RECOVERY_THRESH);
            self.undo_cwnd_reduction(false);
            ctx.mib.tcp_ext.tcp_dsack_undo += 1;
            return true;
        }
        false
    }

    /// `tcp_try_undo_loss()`: the RTO was spurious (timestamps, D-SACK or F-RTO).
    fn try_undo_loss(&mut self, ctx: &mut Ctx, ev: &AckEvent, frto_undo: bool) -> bool {
        if frto_undo || self.may_undo(ev) {
            self.undo_cwnd_reduction(true);
            ctx.mib.tcp_ext.tcp_loss_undo += 1;
            if frto_undo {
                ctx.mib.tcp_ext.tcp_spurious_rtos += 1;
            }
            self.retransmits = 0;
            if frto_undo || self.is_sack() {
                self.set_ca_state(CaState::Open);
                self.rec.is_sack_reneg = false;
            }
            return true;
        }
        false
    }

    /// `tcp_try_undo_partial()`: a partial ACK for data sent before the
    /// first retransmission means reordering, not loss. True: stop here.
    fn try_undo_partial(&mut self, ctx: &mut Ctx, ev: &AckEvent) -> bool {
        if self.rec.undo_marker.is_some() && self.packet_delayed(ev) {
            self.check_sack_reordering(ctx, ev.prior_snd_una, true);
            if self.rtx.retrans_out > 0 {
                return true;
            }
            if !self.any_retrans_done() {
                self.rec.undo_stamp = None;
            }
            self.undo_cwnd_reduction(true);
            ctx.mib.tcp_ext.tcp_partial_undo += 1;
            self.try_keep_open();
        }
        false
    }

    /// `tcp_add_reno_sack()`: without SACK, each duplicate ACK stands for a
    /// segment that left the network.
    fn add_reno_sack(&mut self, ctx: &mut Ctx, num_dupack: u32) {
        if num_dupack == 0 {
            return;
        }
        let prior = self.rtx.sacked_out;
        self.rtx.sacked_out += num_dupack;
        self.check_reno_reordering(ctx, 0);
        let delivered = self.rtx.sacked_out.saturating_sub(prior);
        self.rec.delivered += delivered;
    }

    /// `tcp_remove_reno_sacks()`: a cumulative ACK takes back emulated SACKs.
    pub(super) fn remove_reno_sacks(&mut self, ctx: &mut Ctx, acked: u32) {
        if acked > 0 {
            self.rec.delivered += acked.saturating_sub(self.rtx.sacked_out).max(1);
            if acked > self.rtx.sacked_out {
                self.rtx.sacked_out = 0;
            } else {
                self.rtx.sacked_out -= acked - 1;
            }
        }
        self.check_reno_reordering(ctx, acked);
    }

    fn reset_reno_sack(&mut self) {
        self.rtx.sacked_out = 0;
    }

    /// `tcp_limit_reno_sacked()` + `tcp_check_reno_reordering()`: more
    /// duplicate ACKs than holes can explain mean reordering.
    fn check_reno_reordering(&mut self, ctx: &mut Ctx, addend: u32) {
        let holes = self.rtx.lost_out.max(1).min(self.rtx.packets_out);
        if self.rtx.sacked_out + holes <= self.rtx.packets_out {
            return;
        }
        self.rtx.sacked_out = self.rtx.packets_out.saturating_sub(holes);
        self.rec.reordering = (self.rtx.packets_out + addend).min(max_reordering(ctx.sysctl));
        self.rec.reord_seen += 1;
        ctx.mib.tcp_ext.tcp_reno_reorder += 1;
    }

    /// `tcp_check_sack_reordering()`: data below the highest SACK arrived
    /// late; widen `reordering` to the distance.
    pub(super) fn check_sack_reordering(&mut self, ctx: &mut Ctx, low_seq: SeqNum, ts: bool) {
        let fack = self.highest_sack_seq();
        if !low_seq.before(fack) {
            return;
        }
        let mss = self.mss.max(1);
        let metric = fack - low_seq;
        if metric > self.rec.reordering.saturating_mul(mss) {
            self.rec.reordering = metric.div_ceil(mss).min(max_reordering(ctx.sysctl));
        }
        self.rec.reord_seen += 1;
        if ts {
            ctx.mib.tcp_ext.tcp_ts_reorder += 1;
        } else {
            ctx.mib.tcp_ext.tcp_sack_reorder += 1;
        }
    }

    /// `tcp_newreno_mark_lost()`: without SACK, the head is lost after
    /// `reordering` duplicate ACKs, and again on each partial ACK in recovery.
    fn newreno_mark_lost(&mut self, ctx: &mut Ctx, snd_una_advanced: bool) {
        let state = self.rec.ca_state;
        if (state < CaState::Recovery && self.rtx.sacked_out >= self.rec.reordering)
            || (state == CaState::Recovery && snd_una_advanced)
        {
            let Some(head) = self.rtx.head() else {
                return;
            };
            if head.is(LOST) {
                return;
            }
            if head.pcount > 1 {
                let at = head.seq + u32::from(head.syn) + self.mss;
                self.rtx.split(0, at, self.mss);
            }
            self.mark_lost(ctx, 0);
        }
    }

    /// `tcp_mark_skb_lost()` with `tcp_notify_skb_loss_event()`.
    pub(super) fn mark_lost(&mut self, ctx: &mut Ctx, i: usize) {
        let (lost, lost_again) = self.rtx.mark_lost(i);
        if lost_again > 0 {
            ctx.mib.tcp_ext.tcp_lost_retransmit += u64::from(lost_again);
        }
        self.rec.lost += lost;
    }

    /// RFC 6675 §5 `IsLost()` as Linux's `tcp_mark_head_lost()`, used only
    /// when RACK is off (`tcp_recovery` = 0): an unSACKed segment is lost
    /// once `reordering` SACKed packets lie above it.
    fn mark_head_lost(&mut self, ctx: &mut Ctx) {
        let mut sacked_above = 0u32;
        let mut lost = Vec::new();
        for i in (0..self.rtx.len()).rev() {
            let Some(s) = self.rtx.get(i) else { continue };
            if s.is(SACKED_ACKED) {
                sacked_above += s.pcount;
            } else if sacked_above >= self.rec.reordering && !s.is(LOST) {
                lost.push(i);
            }
        }
        for i in lost {
            self.mark_lost(ctx, i);
        }
    }

    /// `tcp_identify_packet_loss()`.
    fn identify_packet_loss(&mut self, ctx: &mut Ctx, ev: &mut AckEvent) {
        if self.rtx.is_empty() {
            return;
        }
        if !self.is_sack() {
            self.newreno_mark_lost(ctx, ev.flag & FLAG_SND_UNA_ADVANCED != 0);
        } else if self.is_rack(ctx.sysctl) {
            let prior_retrans = self.rtx.retrans_out;
            if self.rack_mark_lost(ctx) {
                ev.flag &= !FLAG_SET_XMIT_TIMER;
            }
            if prior_retrans > self.rtx.retrans_out {
                ev.flag |= FLAG_LOST_RETRANS;
            }
        }
    }

    /// `tcp_time_to_recover()`.
    fn time_to_recover(&self, sysctl: &Sysctl) -> bool {
        if self.rtx.lost_out > 0 {
            return true;
        }
        !self.is_rack(sysctl) && self.rtx.sacked_out + 1 > self.rec.reordering
    }

    /// `tcp_check_sack_reneging()`: the receiver dropped SACKed data; wait a
    /// little for the ACK that should follow, then time out.
    fn check_sack_reneging(&mut self, ctx: &mut Ctx, ev: &mut AckEvent) -> bool {
        if ev.flag & FLAG_SACK_RENEGING != 0 && ev.flag & FLAG_SND_UNA_ADVANCED != 0 {
            let srtt = self.rtt.srtt.unwrap_or_default();
            let delay = (srtt / 2).max(core::time::Duration::from_millis(10));
            self.reset_xmit_timer(ctx.now, super::timer::XmitTimer::Retrans, delay);
            ev.flag &= !FLAG_SET_XMIT_TIMER;
            return true;
        }
        false
    }

    /// `tcp_fastretrans_alert()`: the state machine, run for every ACK that
    /// is a duplicate, carries SACK or D-SACK, or arrives outside Open.
    pub(super) fn fastretrans_alert(
        &mut self,
        ctx: &mut Ctx,
        ev: &mut AckEvent,
        num_dupack: u32,
    ) -> Rexmit {
        let flag = ev.flag;
        let ece_ack = flag & FLAG_ECE != 0;
        let do_lost = num_dupack > 0 || flag & FLAG_DATA_SACKED != 0;
        if self.rtx.packets_out == 0 && self.rtx.sacked_out > 0 {
            self.rtx.sacked_out = 0;
        }
        if ece_ack {
            self.rec.prior_ssthresh = 0;
        }
        if self.check_sack_reneging(ctx, ev) {
            return Rexmit::None;
        }
        // D. Leave the state once high_seq is ACKed.
        if self.rec.ca_state == CaState::Open {
            self.rec.undo_stamp = None;
        } else if !self.snd_una.before(self.rec.high_seq) {
            match self.rec.ca_state {
                // CWR holds until something above high_seq is ACKed, so the
                // CWR flag reached the receiver.
                CaState::Cwr if self.snd_una != self.rec.high_seq => {
                    self.end_cwnd_reduction();
                    self.set_ca_state(CaState::Open);
                }
                CaState::Recovery => {
                    if !self.is_sack() {
                        self.reset_reno_sack();
                    }
                    if self.try_undo_recovery(ctx, ev) {
                        return Rexmit::None;
                    }
                    self.end_cwnd_reduction();
                }
                _ => {}
            }
        }
        // E. Process the state.
        match self.rec.ca_state {
            CaState::Recovery => {
                if flag & FLAG_SND_UNA_ADVANCED == 0 {
                    if !self.is_sack() {
                        self.add_reno_sack(ctx, num_dupack);
                    }
                } else if self.try_undo_partial(ctx, ev) {
                    return Rexmit::None;
                }
                if self.try_undo_dsack(ctx) {
                    self.try_to_open(flag);
                }
                self.identify_packet_loss(ctx, ev);
                if self.rec.ca_state != CaState::Recovery {
                    if !self.time_to_recover(ctx.sysctl) {
                        return Rexmit::None;
                    }
                    // Undone, but loss is evident: a new recovery.
                    self.enter_recovery(ctx, ece_ack);
                }
            }
            CaState::Loss => {
                let rexmit = self.process_loss(ctx, ev, num_dupack);
                self.identify_packet_loss(ctx, ev);
                if !(self.rec.ca_state == CaState::Open || ev.flag & FLAG_LOST_RETRANS != 0) {
                    return rexmit;
                }
                // Undone, or retransmissions lost again: fall through.
                if !self.open_or_enter_recovery(ctx, ev, num_dupack, ece_ack) {
                    return rexmit;
                }
            }
            _ => {
                if !self.open_or_enter_recovery(ctx, ev, num_dupack, ece_ack) {
                    return Rexmit::None;
                }
            }
        }
        if !self.is_rack(ctx.sysctl) && do_lost && self.is_sack() {
            self.mark_head_lost(ctx);
        }
        Rexmit::Lost
    }

    /// The default branch of `tcp_fastretrans_alert()`: stay open, or start
    /// a recovery. Returns false when no recovery started.
    fn open_or_enter_recovery(
        &mut self,
        ctx: &mut Ctx,
        ev: &mut AckEvent,
        num_dupack: u32,
        ece_ack: bool,
    ) -> bool {
        if !self.is_sack() {
            if ev.flag & FLAG_SND_UNA_ADVANCED != 0 {
                self.reset_reno_sack();
            }
            self.add_reno_sack(ctx, num_dupack);
        }
        if self.rec.ca_state <= CaState::Disorder {
            self.try_undo_dsack(ctx);
        }
        self.identify_packet_loss(ctx, ev);
        if !self.time_to_recover(ctx.sysctl) {
            self.try_to_open(ev.flag);
            return false;
        }
        self.enter_recovery(ctx, ece_ack);
        true
    }

    /// `tcp_process_loss()`: ACKs after an RTO, with F-RTO (RFC 5682 §3.1,
    /// the SACK-enhanced version).
    fn process_loss(&mut self, ctx: &mut Ctx, ev: &mut AckEvent, num_dupack: u32) -> Rexmit {
        let flag = ev.flag;
        let recovered = !self.snd_una.before(self.rec.high_seq);
        if flag & FLAG_SND_UNA_ADVANCED != 0 && self.try_undo_loss(ctx, ev, false) {
            return Rexmit::None;
        }
        if self.rec.frto {
            // Step 3.b: never-retransmitted data was (S)ACKed, so the timeout was spurious.
            if flag & FLAG_ORIG_SACK_ACKED != 0 && self.try_undo_loss(ctx, ev, true) {
                return Rexmit::None;
            }
            if self.snd_nxt.after(self.rec.high_seq) {
                if flag & FLAG_DATA_SACKED != 0 || num_dupack > 0 {
                    // Step 3.a: the loss was real.
                    self.rec.frto = false;
                }
            } else if flag & FLAG_SND_UNA_ADVANCED != 0 && !recovered {
                self.rec.high_seq = self.snd_nxt;
                // Step 2.b: send new data, if there is any and the window allows.
                let wnd_end = self.snd_una + self.snd_wnd;
                if self.write_seq.after(self.snd_nxt) && wnd_end.after(self.snd_nxt) {
                    return Rexmit::New;
                }
                self.rec.frto = false;
            }
        }
        if recovered {
            // Step 2.a and the first part of 3.a.
            self.try_undo_recovery(ctx, ev);
            return Rexmit::None;
        }
        if !self.is_sack() {
            if self.snd_nxt.after(self.rec.high_seq) && num_dupack > 0 {
                self.add_reno_sack(ctx, num_dupack);
            } else if flag & FLAG_SND_UNA_ADVANCED != 0 {
                self.reset_reno_sack();
            }
        }
        Rexmit::Lost
    }

    /// `tcp_enter_loss()`: a retransmission timeout.
    pub(super) fn enter_loss(&mut self, ctx: &mut Ctx) {
        let new_recovery = self.rec.ca_state < CaState::Recovery;
        self.timeout_mark_lost(ctx);
        if self.rec.ca_state <= CaState::Disorder
            || !self.rec.high_seq.after(self.snd_una)
            || (self.rec.ca_state == CaState::Loss && self.retransmits == 0)
        {
            self.rec.prior_ssthresh = self.current_ssthresh();
            self.rec.prior_cwnd = self.cc.cwnd;
            self.cc.ssthresh = self.cc.ssthresh_after_loss();
            self.init_undo();
        }
        let cwnd = self.packets_in_flight() + 1;
        self.cc.set_cwnd(cwnd);
        self.cc.cwnd_cnt = 0;
        // A timeout after many duplicate ACKs in Disorder: reordering was overestimated.
        let reordering = ctx.sysctl.tcp_reordering.clamp(1, i64::from(u32::MAX >> 1)) as u32;
        if self.rec.ca_state <= CaState::Disorder && self.rtx.sacked_out >= reordering {
            self.rec.reordering = self.rec.reordering.min(reordering);
        }
        // tcp_set_ca_state(TCP_CA_Loss) -> ca_ops->set_state(): CUBIC resets.
        self.cc.on_loss_event(ctx.now, self.snd_nxt.0);
        self.set_ca_state(CaState::Loss);
        self.rec.high_seq = self.snd_nxt;
        self.rec.tlp_high_seq = None;
        // F-RTO step 1: only when no earlier recovery is under way.
        self.rec.frto = ctx.sysctl.tcp_frto != 0 && (new_recovery || self.retransmits > 0);
    }

    /// `tcp_timeout_mark_lost()`: after an RTO the head is lost, and every
    /// unSACKed segment older than RACK's RTT; a SACKed head means reneging.
    fn timeout_mark_lost(&mut self, ctx: &mut Ctx) {
        let is_reneg = self.rtx.head().is_some_and(|h| h.is(SACKED_ACKED));
        if is_reneg {
            ctx.mib.tcp_ext.tcp_sack_reneging += 1;
            self.rtx.clear_all(SACKED_ACKED);
            self.rec.is_sack_reneg = true;
        } else if !self.is_sack() {
            self.reset_reno_sack();
        }
        for i in 0..self.rtx.len() {
            if i > 0 && !is_reneg {
                let Some(s) = self.rtx.get(i) else { continue };
                if self.rack_skb_timeout(ctx.now, s.sent_at, core::time::Duration::ZERO) > 0 {
                    continue;
                }
            }
            self.mark_lost(ctx, i);
        }
    }

    /// `tcp_xmit_retransmit_queue()`: resend what is marked lost, oldest
    /// first, as far as the window allows.
    pub(super) fn xmit_retransmit_queue(&mut self, ctx: &mut Ctx) {
        if self.rtx.packets_out == 0 {
            return;
        }
        let max_segs = self.tso_segs(ctx);
        let mut rearm = false;
        let mut i = 0;
        while i < self.rtx.len() {
            let quota = i64::from(self.cc.cwnd) - i64::from(self.packets_in_flight());
            if quota <= 0 {
                break;
            }
            if self.rtx.retrans_out >= self.rtx.lost_out {
                break;
            }
            let Some(s) = self.rtx.get(i) else { break };
            if !s.is(LOST) || s.is(SACKED_ACKED | SACKED_RETRANS) {
                i += 1;
                continue;
            }
            let segs = (quota as u32).min(max_segs);
            let Some(pcount) = self.retransmit_entry(ctx, i, segs) else {
                break;
            };
            if self.rec.ca_state == CaState::Loss {
                ctx.mib.tcp_ext.tcp_slow_start_retrans += u64::from(pcount);
            } else {
                ctx.mib.tcp_ext.tcp_fast_retrans += u64::from(pcount);
            }
            if self.in_cwnd_reduction() {
                self.rec.prr_out += pcount;
            }
            if i == 0 && self.xmit_timer != super::timer::XmitTimer::ReoTimeout {
                rearm = true;
            }
            i += 1;
        }
        if rearm {
            let rto = self.rto();
            self.reset_xmit_timer(ctx.now, super::timer::XmitTimer::Retrans, rto);
        }
    }

    /// `tcp_xmit_recovery()`.
    pub(super) fn xmit_recovery(&mut self, ctx: &mut Ctx, rexmit: Rexmit) {
        match rexmit {
            Rexmit::None => return,
            Rexmit::New => {
                self.transmit_nagle_off(ctx);
                if self.snd_nxt.after(self.rec.high_seq) {
                    return;
                }
                self.rec.frto = false;
            }
            Rexmit::Lost => {}
        }
        self.xmit_retransmit_queue(ctx);
    }

    /// `tcp_cong_control()` for algorithms without their own: PRR while
    /// reducing, otherwise growth when the ACK allows it (`tcp_may_raise_cwnd()`).
    pub(super) fn cong_control(&mut self, ctx: &mut Ctx, acked_sacked: u32, lost: u32, flag: u32) {
        if self.in_cwnd_reduction() {
            self.cwnd_reduction(acked_sacked, lost, flag);
        } else if self.may_raise_cwnd(ctx.sysctl, flag) && self.is_cwnd_limited() {
            self.cc.cong_avoid(ctx.now, acked_sacked);
        }
    }

    /// `tcp_may_raise_cwnd()`: with high reordering grow on any delivery,
    /// otherwise only on in-order delivery (RFC 5681).
    fn may_raise_cwnd(&self, sysctl: &Sysctl, flag: u32) -> bool {
        if i64::from(self.rec.reordering) > sysctl.tcp_reordering {
            return flag & FLAG_FORWARD_PROGRESS != 0;
        }
        flag & FLAG_DATA_ACKED != 0
    }

    /// `tcp_is_cwnd_limited()`.
    pub fn is_cwnd_limited(&self) -> bool {
        if self.rec.is_cwnd_limited {
            return true;
        }
        self.cc.in_slow_start() && self.cc.cwnd < 2 * self.rec.max_packets_out
    }

    /// `tcp_slow_start_after_idle_check()` (RFC 2861 §3,
    /// `tcp_slow_start_after_idle`): after an RTO of silence with nothing in
    /// flight, halve the window once per RTO idle, down to the initial
    /// window (`tcp_cwnd_restart()`).
    pub(super) fn slow_start_after_idle_check(&mut self, ctx: &Ctx) {
        if ctx.sysctl.tcp_slow_start_after_idle == 0 || self.rtx.packets_out > 0 {
            return;
        }
        let rto = self.rto();
        let mut idle = ctx.now.saturating_since(self.last_data_sent);
        if idle <= rto {
            return;
        }
        self.cc.ssthresh = self.current_ssthresh();
        let restart = super::cong::INITIAL_WINDOW_SEGMENTS.min(self.cc.cwnd);
        let mut cwnd = self.cc.cwnd;
        while idle > rto && cwnd > restart {
            idle -= rto;
            cwnd >>= 1;
        }
        self.cc.set_cwnd(cwnd.max(restart));
    }

    /// `tcp_cwnd_validate()`: remember whether the window limited this flight.
    pub(super) fn cwnd_validate(&mut self, is_cwnd_limited: bool) {
        if !self.snd_una.before(self.rec.cwnd_usage_seq)
            || is_cwnd_limited
            || (!self.rec.is_cwnd_limited && self.rtx.packets_out > self.rec.max_packets_out)
        {
            self.rec.is_cwnd_limited = is_cwnd_limited;
            self.rec.max_packets_out = self.rtx.packets_out;
            self.rec.cwnd_usage_seq = self.snd_nxt;
        }
    }
}

/// `tcp_max_reordering`.
fn max_reordering(sysctl: &Sysctl) -> u32 {
    sysctl.tcp_max_reordering.clamp(1, i64::from(u32::MAX >> 1)) as u32
}
