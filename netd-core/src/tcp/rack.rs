//! RACK-TLP (RFC 8985) as Linux's `tcp_recovery.c` and the loss-probe
//! part of `tcp_output.c`: a segment is lost when one sent after it was
//! delivered and more than RACK's RTT plus a reordering window has passed
//! since it was sent (`tcp_rack_detect_loss()`); the reordering window
//! grows with D-SACKs (`tcp_rack_update_reo_wnd()`); a tail loss probe
//! after about two RTTs of silence draws the ACK that lets RACK see a lost
//! tail (`tcp_schedule_loss_probe()`, `tcp_send_loss_probe()`,
//! `tcp_process_tlp_ack()`).

use super::ack::*;
use super::recovery::{CaState, RACK_NO_DUPTHRESH, RACK_STATIC_REO_WND};
use super::rtt::{RTO_INIT, RTO_MIN};
use super::rtx::{LOST, RETRANS, SACKED_ACKED, SACKED_RETRANS};
use super::tcb::Tcb;
use super::timer::XmitTimer;
use super::{Ctx, SeqNum};
use crate::sysctl::Sysctl;
use crate::time::Instant;
use core::time::Duration;

/// TCP_RACK_RECOVERY_THRESH: recoveries a widened reordering window persists.
pub const RECOVERY_THRESH: u32 = 16;
/// One jiffy of the kernels netd is measured against: Debian's and this
/// project's CI kernels run HZ = 250. RACK's and TLP's timers are set in
/// jiffies, so their granularity is part of the behaviour packetdrill sees.
const JIFFY_US: u128 = 4000;
/// TCP_TIMEOUT_MIN: two jiffies, added to RACK's reordering timer.
const TIMEOUT_MIN: Duration = Duration::from_micros(2 * JIFFY_US as u64);
/// TCP_TIMEOUT_MIN_US: 2 ms, added to the probe timeout.
const TIMEOUT_MIN_US: Duration = Duration::from_millis(2);

#[derive(Clone, Debug)]
pub struct Rack {
    /// Send time and end of the most recently sent segment that was delivered.
    pub mstamp: Option<Instant>,
    pub end_seq: SeqNum,
    /// Its place in the order of transmissions (see [`sent_after`]).
    pub tx_order: u64,
    /// RTT of that delivery.
    pub rtt: Duration,
    /// A newer delivery arrived since the queue was last scanned.
    pub advanced: bool,
    /// The reordering window in units of min_rtt/4.
    pub reo_wnd_steps: u32,
    pub dsack_seen: bool,
    /// `tp->delivered` when the window was last widened.
    pub last_delivered: u32,
    /// Recoveries left before the window shrinks back.
    pub reo_wnd_persist: u32,
}

impl Default for Rack {
    fn default() -> Rack {
        Rack {
            mstamp: None,
            end_seq: SeqNum(0),
            tx_order: 0,
            rtt: Duration::ZERO,
            advanced: false,
            reo_wnd_steps: 1,
            dsack_seen: false,
            last_delivered: 0,
            reo_wnd_persist: 0,
        }
    }
}

/// When and in what order a segment was (re)transmitted.
#[derive(Clone, Copy, Debug)]
pub struct SentMark {
    pub at: Instant,
    pub order: u64,
    pub end: SeqNum,
}

/// `tcp_rack_sent_after()`: `a` was sent after `b`. Linux's clock has
/// nanoseconds, so equal times are pieces of one TSO chunk, ordered by
/// sequence; virtual time stands still between the transmissions of one
/// event, so the transmission order decides first.
fn sent_after(a: SentMark, b: SentMark) -> bool {
    a.at > b.at
        || (a.at == b.at && (a.order > b.order || (a.order == b.order && a.end.after(b.end))))
}

/// `usecs_to_jiffies()`: rounds up to whole jiffies.
fn to_jiffies(d: Duration) -> Duration {
    Duration::from_micros((d.as_micros().div_ceil(JIFFY_US) * JIFFY_US) as u64)
}

impl Tcb {
    /// `tcp_rack_advance()`: a segment sent at `xmit_time` was delivered.
    pub(super) fn rack_advance(&mut self, now: Instant, sacked: u8, sent: SentMark) {
        let (end_seq, xmit_time) = (sent.end, sent.at);
        let rtt = now.saturating_since(xmit_time);
        // A retransmitted segment ACKed faster than min_rtt: it was the
        // original that arrived, so its time says nothing.
        if sacked & RETRANS != 0 && self.rtt.min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        self.rack.advanced = true;
        self.rack.rtt = rtt;
        let newer = match self.rack.mstamp {
            None => true,
            Some(t) => sent_after(
                sent,
                SentMark {
                    at: t,
                    order: self.rack.tx_order,
                    end: self.rack.end_seq,
                },
            ),
        };
        if newer {
            self.rack.mstamp = Some(xmit_time);
            self.rack.end_seq = end_seq;
            self.rack.tx_order = sent.order;
        }
    }

    /// `tcp_rack_reo_wnd()`: no settling time while recovering or past the
    /// duplicate threshold, unless reordering was seen; else min_rtt/4 per
    /// step, at most SRTT.
    pub(super) fn rack_reo_wnd(&self, sysctl: &Sysctl) -> Duration {
        if self.rec.reord_seen == 0 {
            if self.rec.ca_state >= CaState::Recovery {
                return Duration::ZERO;
            }
            if self.rtx.sacked_out >= self.rec.reordering
                && sysctl.tcp_recovery & RACK_NO_DUPTHRESH == 0
            {
                return Duration::ZERO;
            }
        }
        let srtt = self.rtt.srtt.unwrap_or_default();
        match self.rtt.min_rtt {
            Some(m) => (m / 4 * self.rack.reo_wnd_steps).min(srtt),
            None => srtt,
        }
    }

    /// `tcp_rack_skb_timeout()`: µs until a segment sent at `sent_at` counts as lost.
    pub(super) fn rack_skb_timeout(
        &self,
        now: Instant,
        sent_at: Instant,
        reo_wnd: Duration,
    ) -> i64 {
        let wait = (self.rack.rtt + reo_wnd).as_micros() as i64;
        wait - now.saturating_since(sent_at).as_micros() as i64
    }

    /// `tcp_rack_detect_loss()`: mark what RACK judges lost; the longest
    /// wait still to go for the rest.
    fn rack_detect_loss(&mut self, ctx: &mut Ctx) -> Option<Duration> {
        let mstamp = self.rack.mstamp?;
        let reo_wnd = self.rack_reo_wnd(ctx.sysctl);
        let mut wait = 0i64;
        let mut lost = Vec::new();
        for (i, s) in self.rtx.iter().enumerate() {
            if s.is(SACKED_ACKED) || (s.is(LOST) && !s.is(SACKED_RETRANS)) {
                continue;
            }
            let latest = SentMark {
                at: mstamp,
                order: self.rack.tx_order,
                end: self.rack.end_seq,
            };
            if !sent_after(latest, s.mark()) {
                continue;
            }
            let remaining = self.rack_skb_timeout(ctx.now, s.sent_at, reo_wnd);
            if remaining <= 0 {
                lost.push(i);
            } else {
                wait = wait.max(remaining);
            }
        }
        for i in lost {
            self.mark_lost(ctx, i);
        }
        (wait > 0).then(|| Duration::from_micros(wait as u64))
    }

    /// `tcp_rack_mark_lost()`: after a newer delivery, mark losses and arm
    /// the reordering timer for the undecided. True if it armed the timer.
    pub(super) fn rack_mark_lost(&mut self, ctx: &mut Ctx) -> bool {
        if !self.rack.advanced {
            return false;
        }
        self.rack.advanced = false;
        match self.rack_detect_loss(ctx) {
            Some(wait) => {
                let when = to_jiffies(wait) + TIMEOUT_MIN;
                self.reset_xmit_timer(ctx.now, XmitTimer::ReoTimeout, when);
                true
            }
            None => false,
        }
    }

    /// `tcp_rack_reo_timeout()`: the reordering window passed.
    pub(super) fn rack_reo_timeout(&mut self, ctx: &mut Ctx) {
        let lost = self.rec.lost;
        let prior_inflight = self.packets_in_flight();
        self.rack_detect_loss(ctx);
        if prior_inflight != self.packets_in_flight() {
            if self.rec.ca_state != CaState::Recovery {
                self.enter_recovery(ctx, false);
                self.cwnd_reduction(1, self.rec.lost - lost, 0);
            }
            self.xmit_retransmit_queue(ctx);
        }
        if !(self.xmit_timer == XmitTimer::Retrans && self.rtx_deadline.is_some()) {
            self.rearm_rto(ctx.now);
        }
    }

    /// `tcp_rack_update_reo_wnd()`: a D-SACK widens the window, at most once per round trip.
    pub(super) fn rack_update_reo_wnd(&mut self, sysctl: &Sysctl, ev: &AckEvent) {
        if sysctl.tcp_recovery & RACK_STATIC_REO_WND != 0 {
            return;
        }
        let Some(prior_delivered) = ev.prior_delivered else {
            return;
        };
        if (prior_delivered.wrapping_sub(self.rack.last_delivered) as i32) < 0 {
            self.rack.dsack_seen = false;
        }
        if self.rack.dsack_seen {
            self.rack.reo_wnd_steps = (self.rack.reo_wnd_steps + 1).min(0xff);
            self.rack.dsack_seen = false;
            self.rack.last_delivered = self.rec.delivered;
            self.rack.reo_wnd_persist = RECOVERY_THRESH;
        } else if self.rack.reo_wnd_persist == 0 {
            self.rack.reo_wnd_steps = 1;
        }
    }

    /// `tcp_schedule_loss_probe()`: arm the probe timeout (PTO) in place of
    /// the RTO, for a SACK connection with data out and no recovery.
    pub(super) fn schedule_loss_probe(&mut self, ctx: &Ctx, advancing_rto: bool) -> bool {
        let early = ctx.sysctl.tcp_early_retrans;
        if !(early == 3 || early == 4)
            || self.rtx.packets_out == 0
            || !self.is_sack()
            || !matches!(self.rec.ca_state, CaState::Open | CaState::Cwr)
        {
            return false;
        }
        // PTO = 2·SRTT, plus room for a delayed ACK when one packet is out.
        let mut timeout = match self.rtt.srtt {
            Some(srtt) => {
                let extra = if self.rtx.packets_out == 1 {
                    RTO_MIN
                } else {
                    TIMEOUT_MIN_US
                };
                to_jiffies(srtt * 2 + extra)
            }
            None => RTO_INIT,
        };
        let rto_delta = if advancing_rto {
            self.rto().as_micros() as i64
        } else {
            self.rto_delta_us(ctx.now)
        };
        if rto_delta > 0 {
            timeout = timeout.min(to_jiffies(Duration::from_micros(rto_delta as u64)));
        }
        self.reset_xmit_timer(ctx.now, XmitTimer::LossProbe, timeout);
        true
    }

    /// `tcp_send_loss_probe()`: new data if the window has room, else the
    /// last segment again; one probe per tail.
    pub(super) fn send_loss_probe(&mut self, ctx: &mut Ctx) {
        if self.rec.tlp_high_seq.is_none() {
            self.rec.tlp_retrans = false;
            let mut sent = false;
            if self.write_seq.after(self.snd_nxt) {
                let first_end = self.snd_nxt + (self.write_seq - self.snd_nxt).min(self.mss);
                if !first_end.after(self.snd_una + self.snd_wnd) {
                    let before = self.rtx.packets_out;
                    self.send_probe_data(ctx);
                    sent = self.rtx.packets_out > before;
                }
            } else if let Some(last) = self.rtx.len().checked_sub(1) {
                let mut i = last;
                if let Some(s) = self.rtx.get(last) {
                    if s.pcount > 1 && s.data_len() > (s.pcount - 1) * self.mss {
                        let at = s.seq + u32::from(s.syn) + (s.pcount - 1) * self.mss;
                        if self.rtx.split(last, at, self.mss) {
                            i = last + 1;
                        }
                    }
                }
                if self.resend_entry(ctx, i, 1).is_some() {
                    self.rec.tlp_retrans = true;
                    sent = true;
                }
            }
            if sent {
                self.rec.tlp_high_seq = Some(self.snd_nxt);
                ctx.mib.tcp_ext.tcp_loss_probes += 1;
                // The RTO restarts from now.
                self.xmit_timer = XmitTimer::Retrans;
            }
        }
        self.rearm_rto(ctx.now);
    }

    /// `tcp_process_tlp_ack()`: did the probe repair a loss?
    pub(super) fn process_tlp_ack(&mut self, ctx: &mut Ctx, ack: SeqNum, flag: u32) {
        let Some(high) = self.rec.tlp_high_seq else {
            return;
        };
        if ack.before(high) {
            return;
        }
        if !self.rec.tlp_retrans || flag & FLAG_DSACK_TLP != 0 {
            // New data was ACKed, or the D-SACK shows original and probe both arrived.
            self.rec.tlp_high_seq = None;
        } else if ack.after(high) {
            // The probe repaired a loss: reduce once.
            self.init_cwnd_reduction();
            self.rec.ca_state = CaState::Cwr;
            self.end_cwnd_reduction();
            self.try_keep_open();
            ctx.mib.tcp_ext.tcp_loss_probe_recovery += 1;
        } else if flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DATA_SACKED) == 0 {
            // A pure duplicate: original and probe both arrived.
            self.rec.tlp_high_seq = None;
        }
    }
}
