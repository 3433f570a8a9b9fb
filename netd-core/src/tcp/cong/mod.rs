//! Congestion control, shaped like Linux's `struct tcp_congestion_ops`: the
//! window lives in [`Cong`] in packets (`snd_cwnd`, `snd_ssthresh`,
//! `snd_cwnd_cnt`), and an algorithm supplies `ssthresh`, `cong_avoid`,
//! `undo_cwnd`, `pkts_acked` and `set_state`. Loss recovery (PRR, undo) is
//! `recovery`'s and drives these hooks as `tcp_input.c` does.

pub mod reno;

use crate::time::Instant;
use core::time::Duration;

/// Linux's TCP_INIT_CWND (RFC 6928).
pub const INITIAL_WINDOW_SEGMENTS: u32 = 10;
/// TCP_INFINITE_SSTHRESH.
pub const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// The algorithm in use (`icsk_ca_ops`), with its private state (`icsk_ca_priv`).
#[derive(Clone, Debug)]
pub enum Algo {
    Reno,
}

impl Algo {
    /// The algorithm called `name`, as `tcp_ca_find()`.
    pub fn by_name(name: &str) -> Option<Algo> {
        match name {
            "reno" => Some(Algo::Reno),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Algo::Reno => "reno",
        }
    }
}

/// The congestion window and its algorithm.
#[derive(Clone, Debug)]
pub struct Cong {
    /// `snd_cwnd`, packets.
    pub cwnd: u32,
    /// `snd_ssthresh`, packets.
    pub ssthresh: u32,
    /// `snd_cwnd_cnt`: ACKed packets toward the next +1 in congestion avoidance.
    pub cwnd_cnt: u32,
    /// `snd_cwnd_clamp`.
    pub cwnd_clamp: u32,
    pub algo: Algo,
}

impl Cong {
    pub fn new(algo: Algo) -> Cong {
        Cong {
            cwnd: INITIAL_WINDOW_SEGMENTS,
            ssthresh: INFINITE_SSTHRESH,
            cwnd_cnt: 0,
            cwnd_clamp: u32::MAX >> 16,
            algo,
        }
    }

    /// `tcp_in_slow_start()`.
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// ssthresh was set by a loss (ss shows it then).
    pub fn ssthresh_known(&self) -> bool {
        self.ssthresh < INFINITE_SSTHRESH
    }

    pub fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.min(self.cwnd_clamp);
    }

    /// `tcp_slow_start()`: grow by the packets ACKed, up to ssthresh;
    /// returns the ACKed packets left over for congestion avoidance.
    pub fn slow_start(&mut self, acked: u32) -> u32 {
        let cwnd = self.cwnd.saturating_add(acked).min(self.ssthresh);
        let left = acked - (cwnd.saturating_sub(self.cwnd)).min(acked);
        self.set_cwnd(cwnd);
        left
    }

    /// `tcp_cong_avoid_ai()`: +1 packet per `w` packets ACKed.
    pub fn cong_avoid_ai(&mut self, w: u32, acked: u32) {
        let w = w.max(1);
        if self.cwnd_cnt >= w {
            self.cwnd_cnt = 0;
            self.set_cwnd(self.cwnd + 1);
        }
        self.cwnd_cnt += acked;
        if self.cwnd_cnt >= w {
            let delta = self.cwnd_cnt / w;
            self.cwnd_cnt -= delta * w;
            self.set_cwnd(self.cwnd + delta);
        }
    }

    /// `ca_ops->ssthresh()`: the window after a loss.
    pub fn ssthresh_after_loss(&mut self) -> u32 {
        match self.algo {
            Algo::Reno => reno::ssthresh(self.cwnd),
        }
    }

    /// `ca_ops->cong_avoid()`, called only when the flight was limited by the
    /// window (`tcp_is_cwnd_limited()` is the caller's).
    pub fn cong_avoid(&mut self, _now: Instant, acked: u32) {
        match self.algo {
            Algo::Reno => reno::cong_avoid(self, acked),
        }
    }

    /// `ca_ops->undo_cwnd()`: the window to go back to after a false alarm.
    pub fn undo_cwnd(&self, prior_cwnd: u32) -> u32 {
        match self.algo {
            Algo::Reno => self.cwnd.max(prior_cwnd),
        }
    }

    /// `ca_ops->pkts_acked()`: an ACK for `acked` packets with an RTT sample.
    pub fn pkts_acked(&mut self, _now: Instant, _acked: u32, _rtt: Option<Duration>) {}

    /// `ca_ops->set_state(TCP_CA_Loss)` and `cwnd_event(CA_EVENT_LOSS)`.
    pub fn on_loss_event(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_adds_acked_packets_and_stops_at_ssthresh() {
        let mut c = Cong::new(Algo::Reno);
        c.ssthresh = 12;
        assert_eq!(c.slow_start(1), 0);
        assert_eq!(c.cwnd, 11);
        assert_eq!(c.slow_start(3), 2, "what crossed ssthresh is left over");
        assert_eq!(c.cwnd, 12);
    }

    #[test]
    fn congestion_avoidance_adds_one_packet_per_window() {
        let mut c = Cong::new(Algo::Reno);
        c.ssthresh = 10;
        for _ in 0..9 {
            c.cong_avoid(Instant::ZERO, 1);
        }
        assert_eq!(c.cwnd, 10);
        c.cong_avoid(Instant::ZERO, 1);
        assert_eq!(c.cwnd, 11);
    }

    #[test]
    fn reno_ssthresh_is_half_the_window_and_at_least_two() {
        let mut c = Cong::new(Algo::Reno);
        c.cwnd = 20;
        assert_eq!(c.ssthresh_after_loss(), 10);
        c.cwnd = 3;
        assert_eq!(c.ssthresh_after_loss(), 2);
        c.cwnd = 5;
        assert_eq!(c.undo_cwnd(12), 12);
    }
}
