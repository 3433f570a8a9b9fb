//! Receive-buffer autotuning (dynamic right-sizing), as Linux's
//! `tcp_rcv_space_adjust()`: once per receiver-side RTT, the bytes the
//! program read in that RTT size the receive buffer, so the window keeps
//! ahead of a sender that doubles its rate every round trip. The RTT the
//! receiver sees comes from timestamp echoes, or without timestamps from
//! the time one window takes to arrive (`tcp_rcv_rtt_measure()`).

use super::tcb::Tcb;
use super::{ts_now, Ctx, SeqNum};
use crate::time::Instant;

/// Linux's `TCP_INIT_CWND`: the first measurement assumes this many segments per RTT.
const INIT_CWND: u32 = 10;

/// `tp->rcvq_space`: what the program read in the last measured RTT.
#[derive(Clone, Copy, Debug)]
pub struct RcvSpace {
    /// Bytes read per RTT so far (`rcvq_space.space`), what `ss -i` calls rcv_space.
    pub space: u32,
    /// Bytes read in total when this measurement started (`rcvq_space.seq`).
    pub copied_at: u64,
    pub time: Instant,
}

/// `tp->rcv_rtt_est`: the receiver's RTT estimate.
#[derive(Clone, Copy, Debug)]
pub struct RcvRtt {
    /// Smoothed RTT in microseconds, times 8 (`rcv_rtt_est.rtt_us`); 0 until measured.
    pub rtt_us8: u64,
    /// Without timestamps: the measurement ends when rcv_nxt passes this.
    pub seq: SeqNum,
    pub time: Option<Instant>,
    /// The last echo measured, so one echo gives one sample (`rcv_rtt_last_tsecr`).
    pub last_tsecr: u32,
}

impl RcvSpace {
    pub fn new(now: Instant, adv_mss: u16) -> RcvSpace {
        RcvSpace {
            space: INIT_CWND * u32::from(adv_mss),
            copied_at: 0,
            time: now,
        }
    }
}

impl RcvRtt {
    pub fn new() -> RcvRtt {
        RcvRtt {
            rtt_us8: 0,
            seq: SeqNum(0),
            time: None,
            last_tsecr: 0,
        }
    }

    /// `tcp_rcv_rtt_update()`. A timestamp sample moves a 1/8-weighted
    /// average; a once-per-window sample (`win_dep`) can only lower the
    /// estimate, since a window takes at least an RTT to arrive.
    fn update(&mut self, sample_us: u64, win_dep: bool) {
        let sample_us = sample_us.max(1);
        self.rtt_us8 = if self.rtt_us8 == 0 {
            sample_us << 3
        } else if win_dep {
            self.rtt_us8.min(sample_us << 3)
        } else {
            self.rtt_us8 - (self.rtt_us8 >> 3) + sample_us
        };
    }

    /// The estimate in microseconds (`tcpi_rcv_rtt`).
    pub fn rtt_us(&self) -> u64 {
        self.rtt_us8 >> 3
    }
}

impl Default for RcvRtt {
    fn default() -> Self {
        Self::new()
    }
}

impl Tcb {
    /// Bytes the program has read so far (`copied_seq`, as a count).
    fn copied(&self) -> u64 {
        self.bytes_received
            .saturating_sub(self.recv_buf.len() as u64)
    }

    /// After in-order data arrived (`tcp_rcv_rtt_measure()` and
    /// `tcp_rcv_rtt_measure_ts()`): one sample per timestamp echo on a
    /// full-sized segment, or without timestamps one per window.
    pub(crate) fn rcv_rtt_measure(&mut self, ctx: &Ctx, len: u32, tsecr: Option<u32>) {
        if self.neg.ts_ok {
            let Some(ecr) = tsecr.filter(|e| *e != 0) else {
                return;
            };
            if ecr == self.rcv_rtt.last_tsecr {
                return;
            }
            self.rcv_rtt.last_tsecr = ecr;
            if len < self.ack.rcv_mss {
                return;
            }
            let ms = ts_now(ctx.now).wrapping_sub(ecr.wrapping_sub(self.ts_offset));
            if ms < 1 << 30 {
                // Millisecond timestamps: a 0 ms echo counts as 1 ms, as in Linux.
                self.rcv_rtt.update(u64::from(ms.max(1)) * 1000, false);
            }
            return;
        }
        if let Some(start) = self.rcv_rtt.time {
            if self.rcv_nxt.before(self.rcv_rtt.seq) {
                return;
            }
            let took = ctx.now.saturating_since(start).as_micros() as u64;
            self.rcv_rtt.update(took, true);
        }
        self.rcv_rtt.seq = self.rcv_nxt + self.rcv_wnd;
        self.rcv_rtt.time = Some(ctx.now);
    }

    /// After the program read (`tcp_rcv_space_adjust()`): at most once per
    /// receiver RTT, if it read more than in the last one, grow the buffer
    /// to twice what it read plus 16 segments (room for a loss), more again
    /// in proportion to the growth (the sender is still speeding up),
    /// capped at tcp_rmem[2]. SO_RCVBUF turns this off, as it sets
    /// SOCK_RCVBUF_LOCK in Linux; so does net.ipv4.tcp_moderate_rcvbuf=0.
    pub(crate) fn rcv_space_adjust(&mut self, ctx: &Ctx) {
        let rtt_us = self.rcv_rtt.rtt_us();
        let elapsed = ctx.now.saturating_since(self.rcvq.time).as_micros() as u64;
        if self.rcv_rtt.rtt_us8 == 0 || elapsed < rtt_us {
            return;
        }
        let copied_total = self.copied();
        let copied = copied_total.saturating_sub(self.rcvq.copied_at);
        let space = u64::from(self.rcvq.space.max(1));
        if copied > space {
            if ctx.sysctl.tcp_moderate_rcvbuf != 0 && self.opts.rcvbuf.is_none() {
                let mut rcvwin = (copied << 1) + 16 * u64::from(self.adv_mss);
                let grow = rcvwin * (copied - space) / space;
                rcvwin += grow << 1;
                let cap = ctx.sysctl.tcp_rmem[2].max(1) as u64;
                let rcvbuf = rcvwin.min(cap) as usize;
                if rcvbuf > self.rcvbuf {
                    self.rcvbuf = rcvbuf;
                }
            }
            self.rcvq.space = copied.min(u64::from(u32::MAX)) as u32;
        }
        self.rcvq.copied_at = copied_total;
        self.rcvq.time = ctx.now;
    }
}
