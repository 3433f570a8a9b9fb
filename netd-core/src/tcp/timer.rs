//! Connection timers (Linux `tcp_timer.c`): retransmission with the
//! `tcp_write_timeout()` give-up model, delayed ACK, zero-window probes.

use super::recovery::CaState;
use super::rtt::{model_timeout, RTO_INIT, RTO_MAX, RTO_MIN};
use super::tcb::{Tcb, ATO_MIN};
use super::{ConnState, Ctx};
use crate::sysctl::Sysctl;
use crate::time::Instant;
use core::time::Duration;
use netd_proto::Errno;

/// Timers never fire sooner than this after being armed: a zero tunable must
/// not make the caller spin (Linux's floor is one jiffy).
const MIN_TIMER: Duration = Duration::from_millis(1);

/// What the transmission timer is armed for (`icsk_pending`): Linux runs
/// the RTO, RACK's reordering timeout and the tail loss probe on one timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmitTimer {
    Retrans,
    ReoTimeout,
    LossProbe,
}

impl Tcb {
    /// `tcp_reset_xmit_timer()`.
    pub fn reset_xmit_timer(&mut self, now: Instant, kind: XmitTimer, when: Duration) {
        self.xmit_timer = kind;
        self.rtx_deadline = Some(now + when.min(RTO_MAX));
    }

    /// `tcp_rto_delta_us()`: µs until the RTO of the oldest outstanding segment.
    pub fn rto_delta_us(&self, now: Instant) -> i64 {
        let Some(head) = self.rtx.head() else {
            return self.rto().as_micros() as i64;
        };
        let due = head.sent_at + self.rto();
        if due >= now {
            (due - now).as_micros() as i64
        } else {
            -((now - due).as_micros() as i64)
        }
    }

    /// `tcp_rearm_rto()`: the RTO, counted from the oldest segment's send
    /// when it replaces a RACK or TLP timer.
    pub fn rearm_rto(&mut self, now: Instant) {
        if self.rtx.packets_out == 0 {
            self.rtx_deadline = None;
            self.xmit_timer = XmitTimer::Retrans;
            return;
        }
        let mut rto = self.rto();
        if matches!(
            self.xmit_timer,
            XmitTimer::ReoTimeout | XmitTimer::LossProbe
        ) {
            let delta = self.rto_delta_us(now).max(1);
            rto = Duration::from_micros(delta as u64);
        }
        self.reset_xmit_timer(now, XmitTimer::Retrans, rto);
    }

    /// Run every timer that is due at `ctx.now`.
    pub fn on_timer(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        if self.ack.deadline.is_some_and(|d| d <= now) {
            self.delack_timer(ctx);
        }
        if self.rtx_deadline.is_some_and(|d| d <= now) {
            // tcp_write_timer_handler()
            self.rtx_deadline = None;
            match self.xmit_timer {
                XmitTimer::Retrans => self.retransmit_timer(ctx),
                XmitTimer::ReoTimeout => self.rack_reo_timeout(ctx),
                XmitTimer::LossProbe => self.send_loss_probe(ctx),
            }
        }
        if self.persist_deadline.is_some_and(|d| d <= now) {
            self.probe_timer(ctx);
        }
        if self.keepalive_deadline.is_some_and(|d| d <= now) {
            self.keepalive_timer(ctx);
        }
    }

    /// `keepalive_time_when()`: TCP_KEEPIDLE or net.ipv4.tcp_keepalive_time.
    fn keepalive_time(&self, sysctl: &Sysctl) -> Duration {
        let secs = if self.opts.keepidle > 0 {
            i64::from(self.opts.keepidle)
        } else {
            sysctl.tcp_keepalive_time
        };
        Duration::from_secs(secs.max(0) as u64).max(MIN_TIMER)
    }

    fn keepalive_intvl(&self, sysctl: &Sysctl) -> Duration {
        let secs = if self.opts.keepintvl > 0 {
            i64::from(self.opts.keepintvl)
        } else {
            sysctl.tcp_keepalive_intvl
        };
        Duration::from_secs(secs.max(0) as u64).max(MIN_TIMER)
    }

    fn keepalive_probes(&self, sysctl: &Sysctl) -> u32 {
        if self.opts.keepcnt > 0 {
            u32::from(self.opts.keepcnt)
        } else {
            sysctl.tcp_keepalive_probes.clamp(0, 255) as u32
        }
    }

    /// Idle time as Linux measures it (`keepalive_time_elapsed()`): since the
    /// last data or ACK from the peer.
    fn keepalive_elapsed(&self, now: Instant) -> Duration {
        now.saturating_since(self.ack.lrcvtime.max(self.last_ack_recv))
    }

    /// (Re)arm keepalive after SO_KEEPALIVE, TCP_KEEPIDLE or establishment
    /// (`inet_csk_reset_keepalive_timer()` with the time still to go).
    pub fn arm_keepalive(&mut self, now: Instant, sysctl: &Sysctl) {
        if !self.opts.keepalive || !self.state.is_synchronized() {
            self.keepalive_deadline = None;
            return;
        }
        let time = self.keepalive_time(sysctl);
        let left = time
            .saturating_sub(self.keepalive_elapsed(now))
            .max(MIN_TIMER);
        self.keepalive_deadline = Some(now + left);
    }

    /// `tcp_keepalive_timer()`: probe an idle peer; give up with RST and
    /// ETIMEDOUT after `probes` unanswered probes (or TCP_USER_TIMEOUT).
    fn keepalive_timer(&mut self, ctx: &mut Ctx) {
        self.keepalive_deadline = None;
        if !self.opts.keepalive
            || !self.state.is_synchronized()
            || self.state == ConnState::TimeWait
        {
            return;
        }
        let time = self.keepalive_time(ctx.sysctl);
        // Alive without keepalive while data is in flight or queued.
        if self.snd_max != self.snd_una || self.write_seq != self.snd_nxt {
            self.keepalive_deadline = Some(ctx.now + time);
            return;
        }
        let elapsed = self.keepalive_elapsed(ctx.now);
        if elapsed < time {
            self.keepalive_deadline = Some(ctx.now + (time - elapsed).max(MIN_TIMER));
            return;
        }
        let user_timeout = Duration::from_millis(u64::from(self.opts.user_timeout));
        let dead = if self.opts.user_timeout > 0 {
            elapsed >= user_timeout && self.probes_out > 0
        } else {
            self.probes_out >= self.keepalive_probes(ctx.sysctl)
        };
        if dead {
            self.send_active_reset(ctx);
            ctx.mib.tcp_ext.tcp_abort_on_timeout += 1;
            self.close_counted(ctx.mib);
            self.error = Some(self.soft_error.unwrap_or(Errno::ETIMEDOUT));
            return;
        }
        // tcp_write_wakeup(): a probe one below snd_una asks for an ACK.
        self.send_window_probe(ctx);
        ctx.mib.tcp_ext.tcp_keep_alive += 1;
        self.probes_out += 1;
        self.keepalive_deadline = Some(ctx.now + self.keepalive_intvl(ctx.sysctl));
    }

    /// `tcp_delack_timer_handler()`: the ACK waited long enough.
    fn delack_timer(&mut self, ctx: &mut Ctx) {
        self.ack.deadline = None;
        if !self.ack.pending || !self.state.is_synchronized() && self.state != ConnState::SynRcvd {
            return;
        }
        if !self.ack.pingpong {
            // Delayed ACK missed: inflate the timeout.
            self.ack.ato = (self.ack.ato * 2).min(self.rto());
        } else {
            // Interactive guess was wrong: leave pingpong mode.
            self.ack.pingpong = false;
            self.ack.ato = ATO_MIN;
        }
        ctx.mib.tcp_ext.delayed_acks += 1;
        self.send_ack(ctx);
    }

    /// `tcp_write_timeout()`: has this connection retransmitted long enough?
    /// Synchronized states convert `tcp_retries2` (or `tcp_orphan_retries`) to
    /// time with `tcp_model_timeout()` from a 200 ms base; SYN-SENT gives up
    /// after `tcp_syn_retries` (+ the linear ones) or the 1 s-based model time.
    fn write_timeout(&mut self, ctx: &mut Ctx) -> bool {
        let sysctl = ctx.sysctl;
        let expired = match self.state {
            ConnState::SynSent | ConnState::SynRcvd => {
                let retries = if self.opts.syncnt > 0 {
                    u32::from(self.opts.syncnt)
                } else {
                    sysctl.tcp_syn_retries.clamp(1, 127) as u32
                };
                let mut max = retries;
                if self.state == ConnState::SynSent {
                    max += sysctl.tcp_syn_linear_timeouts.clamp(0, 127) as u32;
                }
                let elapsed = ctx.now.saturating_since(self.syn_stamp);
                self.retransmits >= max
                    || (self.retransmits > 0 && elapsed >= model_timeout(retries, RTO_INIT))
            }
            _ => {
                let boundary = if self.orphan {
                    // tcp_orphan_retries(): 0 means 8.
                    match sysctl.tcp_orphan_retries.clamp(0, 255) as u32 {
                        0 => 8,
                        n => n,
                    }
                } else {
                    sysctl.tcp_retries2.clamp(0, 255) as u32
                };
                let timeout = if self.opts.user_timeout > 0 {
                    Duration::from_millis(u64::from(self.opts.user_timeout))
                } else {
                    model_timeout(boundary, RTO_MIN)
                };
                let start = self.retrans_stamp.or(self.rtx.head().map(|s| s.sent_at));
                self.retransmits > 0
                    && start.is_some_and(|s| ctx.now.saturating_since(s) >= timeout)
            }
        };
        if expired {
            // tcp_write_err(): the soft error or ETIMEDOUT; no RST is sent.
            ctx.mib.tcp_ext.tcp_abort_on_timeout += 1;
            self.close_counted(ctx.mib);
            self.error = Some(self.soft_error.unwrap_or(Errno::ETIMEDOUT));
        }
        expired
    }

    /// `tcp_retransmit_timer()`.
    fn retransmit_timer(&mut self, ctx: &mut Ctx) {
        self.rtx_deadline = None;
        self.xmit_timer = XmitTimer::Retrans;
        if self.rtx.packets_out == 0 || self.is_closed() {
            return;
        }
        if self.write_timeout(ctx) {
            return;
        }
        ctx.mib.tcp_ext.tcp_timeouts += 1;
        // tcp_update_rto_stats()
        if self.retransmits == 0 {
            self.total_rto_recoveries += 1;
        }
        self.total_rto += 1;
        match self.state {
            ConnState::SynSent | ConnState::SynRcvd => {
                ctx.mib.tcp_ext.tcp_syn_retrans += 1;
                self.send_syn(ctx);
                self.retransmits += 1;
                // tcp_syn_linear_timeouts: the first SYN retransmissions keep a 1 s RTO.
                let linear = ctx.sysctl.tcp_syn_linear_timeouts.clamp(0, 127) as u32;
                if !(self.state == ConnState::SynSent && self.retransmits <= linear) {
                    self.backoff += 1;
                }
            }
            _ => {
                if self.retransmits == 0 {
                    let m = &mut ctx.mib.tcp_ext;
                    match self.rec.ca_state {
                        CaState::Recovery if self.is_sack() => m.tcp_sack_recovery_fail += 1,
                        CaState::Recovery => m.tcp_reno_recovery_fail += 1,
                        CaState::Loss => m.tcp_loss_failures += 1,
                        _ if self.rec.ca_state == CaState::Disorder || self.rtx.sacked_out > 0 => {
                            if self.is_sack() {
                                m.tcp_sack_failures += 1;
                            } else {
                                m.tcp_reno_failures += 1;
                            }
                        }
                        _ => {}
                    }
                }
                if self.retrans_stamp.is_none() {
                    self.retrans_stamp = self.rtx.head().map(|s| s.sent_at);
                }
                self.enter_loss(ctx);
                self.retransmits += 1;
                // The head alone; ACKs clock out the rest (tcp_retransmit_skb(head, 1)).
                self.retransmit_entry(ctx, 0, 1);
                self.backoff += 1;
            }
        }
        let rto = self.rto();
        self.reset_xmit_timer(ctx.now, XmitTimer::Retrans, rto);
    }

    /// `tcp_probe_timer()` + `tcp_send_probe0()`: the peer's window is zero.
    /// A peer that keeps answering is probed forever (RFC 1122 §4.2.2.17); an
    /// unanswering one is dropped after tcp_retries2 probes (orphans:
    /// tcp_orphan_retries) or TCP_USER_TIMEOUT.
    fn probe_timer(&mut self, ctx: &mut Ctx) {
        self.persist_deadline = None;
        if !self.state.is_synchronized()
            || self.snd_una != self.snd_max
            || self.write_seq == self.snd_nxt
        {
            self.probes_out = 0;
            self.probes_tstamp = None;
            return;
        }
        if self.snd_wnd >= (self.write_seq - self.snd_nxt).min(self.mss) {
            self.persist_backoff = 0;
            self.transmit(ctx);
            return;
        }
        let started = *self.probes_tstamp.get_or_insert(ctx.now);
        let user_timeout = Duration::from_millis(u64::from(self.opts.user_timeout));
        let mut max_probes = ctx.sysctl.tcp_retries2.clamp(0, 255) as u32;
        let mut abort =
            self.opts.user_timeout > 0 && ctx.now.saturating_since(started) >= user_timeout;
        if self.orphan {
            let alive = self.probe0_when() < RTO_MAX;
            max_probes = match ctx.sysctl.tcp_orphan_retries.clamp(0, 255) as u32 {
                0 if alive => 8,
                0 => 0,
                n => n,
            };
            abort |= !alive && self.persist_backoff >= max_probes;
        }
        if abort || self.probes_out >= max_probes {
            ctx.mib.tcp_ext.tcp_abort_on_timeout += 1;
            self.close_counted(ctx.mib);
            self.error = Some(self.soft_error.unwrap_or(Errno::ETIMEDOUT));
            return;
        }
        if self.send_probe_data(ctx) {
            // Data is in flight now: the retransmission timer takes over.
            self.probes_out = 0;
            self.persist_backoff = 0;
            return;
        }
        ctx.mib.tcp_ext.tcp_win_probe += 1;
        self.probes_out += 1;
        if self.persist_backoff < ctx.sysctl.tcp_retries2.clamp(0, 255) as u32 {
            self.persist_backoff += 1;
        }
        let mut when = self.probe0_when();
        if self.opts.user_timeout > 0 {
            // tcp_clamp_probe0_to_user_timeout()
            let left = user_timeout.saturating_sub(ctx.now.saturating_since(started));
            when = when.min(left.max(MIN_TIMER));
        }
        self.persist_deadline = Some(ctx.now + when);
    }
}
