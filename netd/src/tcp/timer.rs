//! Connection timers (Linux `tcp_timer.c`): retransmission with the
//! `tcp_write_timeout()` give-up model, delayed ACK, zero-window probes.

use super::rtt::{model_timeout, RTO_INIT, RTO_MIN};
use super::tcb::{Tcb, ATO_MIN};
use super::{Ctx, State};
use crate::errno::Errno;
use core::time::Duration;

impl Tcb {
    /// Run every timer that is due at `ctx.now`.
    pub fn on_timer(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        if self.ack.deadline.is_some_and(|d| d <= now) {
            self.delack_timer(ctx);
        }
        if self.rtx_deadline.is_some_and(|d| d <= now) {
            self.retransmit_timer(ctx);
        }
        if self.persist_deadline.is_some_and(|d| d <= now) {
            self.probe_timer(ctx);
        }
    }

    /// `tcp_delack_timer_handler()`: the ACK waited long enough.
    fn delack_timer(&mut self, ctx: &mut Ctx) {
        self.ack.deadline = None;
        if !self.ack.pending || !self.state.is_synchronized() && self.state != State::SynRcvd {
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
            State::SynSent | State::SynRcvd => {
                let retries = if self.opts.syncnt > 0 {
                    u32::from(self.opts.syncnt)
                } else {
                    sysctl.tcp_syn_retries.clamp(1, 127) as u32
                };
                let mut max = retries;
                if self.state == State::SynSent {
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
                let start = self.retrans_stamp.or(self.sent.front().map(|s| s.sent_at));
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
        if self.snd_una == self.snd_max || self.is_closed() {
            return;
        }
        if self.write_timeout(ctx) {
            return;
        }
        ctx.mib.tcp_ext.tcp_timeouts += 1;
        match self.state {
            State::SynSent | State::SynRcvd => {
                ctx.mib.tcp_ext.tcp_syn_retrans += 1;
                self.retransmit_head(ctx);
                self.retransmits += 1;
                // tcp_syn_linear_timeouts: the first SYN retransmissions keep a 1 s RTO.
                let linear = ctx.sysctl.tcp_syn_linear_timeouts.clamp(0, 127) as u32;
                if !(self.state == State::SynSent && self.retransmits <= linear) {
                    self.backoff += 1;
                }
            }
            _ => {
                let first = self.retransmits == 0;
                let flight = self.flight();
                self.cc.on_rto(flight, self.mss, first);
                self.recover = None;
                self.dupacks = 0;
                self.high_seq = self.snd_max;
                if self.retrans_stamp.is_none() {
                    self.retrans_stamp = self.sent.front().map(|s| s.sent_at);
                }
                // Everything outstanding is presumed lost: go back to snd_una.
                for s in self.sent.iter_mut() {
                    s.retransmitted = true;
                }
                self.snd_nxt = self.snd_una;
                self.retransmit_head(ctx);
                self.retransmits += 1;
                self.backoff += 1;
            }
        }
        self.rtx_deadline = Some(ctx.now + self.rto());
    }

    /// `tcp_probe_timer()`: the peer's window is zero; poke it.
    fn probe_timer(&mut self, ctx: &mut Ctx) {
        self.persist_deadline = None;
        if !self.state.is_synchronized() || self.snd_una != self.snd_max {
            return;
        }
        if self.snd_wnd > 0 {
            self.probes_out = 0;
            self.transmit(ctx);
            return;
        }
        self.send_window_probe(ctx);
        ctx.mib.tcp_ext.tcp_win_probe += 1;
        self.probes_out += 1;
        self.persist_deadline = Some(ctx.now + self.rtt.rto(self.probes_out));
    }
}
