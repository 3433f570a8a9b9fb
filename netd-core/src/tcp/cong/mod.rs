//! Congestion control, shaped like Linux's `struct tcp_congestion_ops`: the
//! window lives in [`Cong`] in packets (`snd_cwnd`, `snd_ssthresh`,
//! `snd_cwnd_cnt`), and an algorithm supplies `ssthresh`, `cong_avoid`,
//! `undo_cwnd`, `pkts_acked` and `set_state`. Loss recovery (PRR, undo) is
//! `recovery`'s and drives these hooks as `tcp_input.c` does.

pub mod cubic;
pub mod reno;

use cubic::{Cubic, Hystart};

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
    Cubic(Box<Cubic>),
}

impl Algo {
    /// The algorithm called `name`, as `tcp_ca_find()`.
    pub fn by_name(name: &str) -> Option<Algo> {
        match name {
            "reno" => Some(Algo::Reno),
            "cubic" => Some(Algo::Cubic(Box::default())),
            _ => None,
        }
    }

    /// The algorithm a TCP_CONGESTION value names.
    pub fn from_padded(name: &[u8; 16]) -> Option<Algo> {
        let n = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Algo::by_name(std::str::from_utf8(&name[..n]).ok()?)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Algo::Reno => "reno",
            Algo::Cubic(_) => "cubic",
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
        match &mut self.algo {
            Algo::Reno => reno::ssthresh(self.cwnd),
            Algo::Cubic(c) => c.ssthresh(self.cwnd),
        }
    }

    /// `ca_ops->cong_avoid()`, called only when the flight was limited by the
    /// window (`tcp_is_cwnd_limited()` is the caller's).
    pub fn cong_avoid(&mut self, now: Instant, acked: u32) {
        match std::mem::replace(&mut self.algo, Algo::Reno) {
            Algo::Reno => reno::cong_avoid(self, acked),
            Algo::Cubic(mut c) => {
                Cubic::cong_avoid(self, &mut c, now, acked);
                self.algo = Algo::Cubic(c);
            }
        }
    }

    /// `ca_ops->undo_cwnd()`: the window to go back to after a false alarm
    /// (both use `tcp_reno_undo_cwnd()`).
    pub fn undo_cwnd(&self, prior_cwnd: u32) -> u32 {
        self.cwnd.max(prior_cwnd)
    }

    /// `ca_ops->pkts_acked()`: an ACK with an RTT sample; what HyStart found.
    pub fn pkts_acked(&mut self, s: &AckedSample) -> Hystart {
        match std::mem::replace(&mut self.algo, Algo::Reno) {
            Algo::Reno => Hystart::None,
            Algo::Cubic(mut c) => {
                let found = c.pkts_acked(self, s.now, s.rtt, s.snd_una, s.snd_nxt, s.ack_delay_us);
                self.algo = Algo::Cubic(c);
                found
            }
        }
    }

    /// `ca_ops->set_state(TCP_CA_Loss)`: CUBIC forgets its curve.
    pub fn on_loss_event(&mut self, now: Instant, snd_nxt: u32) {
        if let Algo::Cubic(c) = &mut self.algo {
            c.reset();
            c.hystart_reset(now, snd_nxt);
        }
    }

    /// `ca_ops->init()` when the connection is established.
    pub fn init(&mut self, now: Instant, snd_nxt: u32) {
        if let Algo::Cubic(c) = &mut self.algo {
            c.hystart_reset(now, snd_nxt);
        }
    }

    /// `cwnd_event(CA_EVENT_TX_START)`: sending again with nothing in flight.
    pub fn on_tx_start(&mut self, now: Instant, last_send: Instant) {
        if let Algo::Cubic(c) = &mut self.algo {
            c.tx_start(now, last_send);
        }
    }
}

/// What `pkts_acked()` is told about one ACK (`struct ack_sample`).
#[derive(Clone, Copy, Debug)]
pub struct AckedSample {
    pub now: Instant,
    pub acked: u32,
    /// RTT of the newest segment ACKed (`ca_rtt_us`).
    pub rtt: Option<Duration>,
    pub snd_una: u32,
    pub snd_nxt: u32,
    /// `hystart_ack_delay()`: the time one TSO burst's ACKs may spread over.
    pub ack_delay_us: u64,
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
