//! CUBIC (RFC 9438) as Linux's `tcp_cubic.c`, with its defaults: beta
//! 717/1024, fast convergence, TCP friendliness, and HyStart (ACK-train and
//! delay detection) leaving slow start before the first loss. The curve is
//! computed in Linux's fixed point (`bictcp_update()`); time is counted in
//! milliseconds where Linux counts jiffies.

use super::Cong;
use crate::time::Instant;
use core::time::Duration;

/// BICTCP_BETA_SCALE and `beta`: the window keeps 717/1024 after a loss.
const BETA_SCALE: u64 = 1024;
const BETA: u64 = 717;
/// `bic_scale` 41 → `cube_rtt_scale` = 410; BICTCP_HZ = 10.
const CUBE_RTT_SCALE: u64 = 410;
const BICTCP_HZ: u32 = 10;
/// `cube_factor` = 2^(10 + 3·BICTCP_HZ) / cube_rtt_scale.
const CUBE_FACTOR: u64 = (1u64 << (10 + 3 * BICTCP_HZ)) / CUBE_RTT_SCALE;
/// `beta_scale` = 8·(1024 + beta) / 3 / (1024 − beta), for TCP friendliness.
const BETA_SCALE_FRIENDLY: u64 = 8 * (BETA_SCALE + BETA) / 3 / (BETA_SCALE - BETA);
/// The jiffy of Linux's clock here: netd counts in milliseconds (HZ = 1000).
const HZ: u64 = 1000;
/// `hystart_low_window`: HyStart looks only from 16 packets up.
const HYSTART_LOW_WINDOW: u32 = 16;
/// `hystart_ack_delta_us`: ACKs closer than this form a train.
const HYSTART_ACK_DELTA_US: u64 = 2000;
/// HYSTART_MIN_SAMPLES, HYSTART_DELAY_MIN/MAX.
const HYSTART_MIN_SAMPLES: u32 = 8;
const HYSTART_DELAY_MIN_US: u64 = 4000;
const HYSTART_DELAY_MAX_US: u64 = 16000;

/// `struct bictcp`.
#[derive(Clone, Debug, Default)]
pub struct Cubic {
    /// ACKed packets per +1 of cwnd.
    cnt: u32,
    /// W_max: the window before the last reduction.
    pub last_max_cwnd: u32,
    last_cwnd: u32,
    last_time_ms: u64,
    origin_point: u32,
    /// K, in 2^-10 seconds.
    k: u64,
    /// Lowest RTT seen, µs.
    pub delay_min_us: u64,
    /// Start of the current epoch, ms (0: none).
    epoch_start_ms: u64,
    ack_cnt: u32,
    /// The window Reno would have (TCP friendliness).
    tcp_cwnd: u32,
    // HyStart.
    sample_cnt: u32,
    pub found: bool,
    round_start_us: u64,
    end_seq: u32,
    last_ack_us: u64,
    curr_rtt_us: u64,
}

/// What HyStart decided on an ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hystart {
    None,
    /// The ACK train lasted half the minimum RTT (TCPHystartTrainDetect).
    Train,
    /// The round's RTT rose above the minimum by the threshold (TCPHystartDelayDetect).
    Delay,
}

fn ms(now: Instant) -> u64 {
    // Epoch 0 means "none": keep real times nonzero.
    now.as_millis() + 1
}

impl Cubic {
    /// `bictcp_hystart_reset()`: a new round starts at snd_nxt.
    pub fn hystart_reset(&mut self, now: Instant, snd_nxt: u32) {
        self.round_start_us = now.as_micros();
        self.last_ack_us = self.round_start_us;
        self.end_seq = snd_nxt;
        self.curr_rtt_us = u64::MAX;
        self.sample_cnt = 0;
    }

    /// `bictcp_reset()` (on entering Loss), keeping nothing.
    pub fn reset(&mut self) {
        *self = Cubic::default();
    }

    /// `bictcp_recalc_ssthresh()`: W_max with fast convergence, then
    /// cwnd·beta.
    pub fn ssthresh(&mut self, cwnd: u32) -> u32 {
        self.epoch_start_ms = 0;
        self.last_max_cwnd = if cwnd < self.last_max_cwnd {
            ((u64::from(cwnd) * (BETA_SCALE + BETA)) / (2 * BETA_SCALE)) as u32
        } else {
            cwnd
        };
        ((u64::from(cwnd) * BETA / BETA_SCALE) as u32).max(2)
    }

    /// `bictcp_update()`: packets to ACK per +1 of cwnd on the cubic curve,
    /// bounded by what Reno would do (TCP friendliness).
    fn update(&mut self, now: Instant, cwnd: u32, acked: u32) {
        let now_ms = ms(now);
        self.ack_cnt = self.ack_cnt.saturating_add(acked);
        if self.last_cwnd == cwnd && now_ms.saturating_sub(self.last_time_ms) <= HZ / 32 {
            return;
        }
        if !(self.epoch_start_ms != 0 && now_ms == self.last_time_ms) {
            self.last_cwnd = cwnd;
            self.last_time_ms = now_ms;
            if self.epoch_start_ms == 0 {
                self.epoch_start_ms = now_ms;
                self.ack_cnt = acked;
                self.tcp_cwnd = cwnd;
                if self.last_max_cwnd <= cwnd {
                    self.k = 0;
                    self.origin_point = cwnd;
                } else {
                    let x = CUBE_FACTOR * u64::from(self.last_max_cwnd - cwnd);
                    self.k = (x as f64).cbrt() as u64;
                    self.origin_point = self.last_max_cwnd;
                }
            }
            // t = time since the epoch plus the minimum delay, in 2^-10 s.
            let mut t = now_ms - self.epoch_start_ms + self.delay_min_us.div_ceil(1000);
            t = (t << BICTCP_HZ) / HZ;
            let offs = t.abs_diff(self.k);
            let delta =
                ((CUBE_RTT_SCALE as u128 * (offs as u128).pow(3)) >> (10 + 3 * BICTCP_HZ)) as u64;
            let target = if t < self.k {
                u64::from(self.origin_point).saturating_sub(delta)
            } else {
                u64::from(self.origin_point) + delta
            };
            self.cnt = if target > u64::from(cwnd) {
                (u64::from(cwnd) / (target - u64::from(cwnd))) as u32
            } else {
                100 * cwnd
            };
            // Before any loss, at least 5 % growth per round trip.
            if self.last_max_cwnd == 0 && self.cnt > 20 {
                self.cnt = 20;
            }
        }
        // TCP friendliness: grow at least as fast as Reno would.
        let delta = ((u64::from(cwnd) * BETA_SCALE_FRIENDLY) >> 3).max(1) as u32;
        while self.ack_cnt > delta {
            self.ack_cnt -= delta;
            self.tcp_cwnd += 1;
        }
        if self.tcp_cwnd > cwnd {
            let max_cnt = cwnd / (self.tcp_cwnd - cwnd);
            self.cnt = self.cnt.min(max_cnt);
        }
        // At most 1 packet per 2 ACKed: 1.5x per round trip.
        self.cnt = self.cnt.max(2);
    }

    /// `cubictcp_cong_avoid()` after the cwnd-limited check.
    pub fn cong_avoid(c: &mut Cong, cubic: &mut Cubic, now: Instant, mut acked: u32) {
        if c.in_slow_start() {
            acked = c.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        cubic.update(now, c.cwnd, acked);
        c.cong_avoid_ai(cubic.cnt, acked);
    }

    /// `cubictcp_cwnd_event(CA_EVENT_TX_START)`: after an idle period, shift
    /// the epoch so the curve does not jump.
    pub fn tx_start(&mut self, now: Instant, last_send: Instant) {
        let now_ms = ms(now);
        let delta = now_ms.saturating_sub(ms(last_send));
        if self.epoch_start_ms != 0 && delta > 0 {
            self.epoch_start_ms = (self.epoch_start_ms + delta).min(now_ms);
        }
    }

    /// `cubictcp_acked()` and `hystart_update()`: track the minimum delay
    /// and let HyStart end slow start. `ack_delay_us` is
    /// `hystart_ack_delay()`; returns what HyStart found.
    #[allow(clippy::too_many_arguments)]
    pub fn pkts_acked(
        &mut self,
        c: &mut Cong,
        now: Instant,
        rtt: Option<Duration>,
        snd_una: u32,
        snd_nxt: u32,
        ack_delay_us: u64,
    ) -> Hystart {
        let Some(rtt) = rtt else {
            return Hystart::None;
        };
        if self.epoch_start_ms != 0 && ms(now).saturating_sub(self.epoch_start_ms) < HZ {
            return Hystart::None;
        }
        let delay = (rtt.as_micros() as u64).max(1);
        if self.delay_min_us == 0 || self.delay_min_us > delay {
            self.delay_min_us = delay;
        }
        if self.found || !c.in_slow_start() || c.cwnd < HYSTART_LOW_WINDOW {
            return Hystart::None;
        }
        if (snd_una.wrapping_sub(self.end_seq) as i32) > 0 {
            self.hystart_reset(now, snd_nxt);
        }
        let now_us = now.as_micros();
        let mut found = Hystart::None;
        if now_us.saturating_sub(self.last_ack_us) <= HYSTART_ACK_DELTA_US {
            self.last_ack_us = now_us;
            // No pacing: the train must last half the minimum delay.
            let threshold = (self.delay_min_us + ack_delay_us) >> 1;
            if now_us.saturating_sub(self.round_start_us) > threshold {
                self.found = true;
                found = Hystart::Train;
                c.ssthresh = c.cwnd;
            }
        }
        if self.curr_rtt_us > delay {
            self.curr_rtt_us = delay;
        }
        if self.sample_cnt < HYSTART_MIN_SAMPLES {
            self.sample_cnt += 1;
        } else {
            let thresh = (self.delay_min_us >> 3).clamp(HYSTART_DELAY_MIN_US, HYSTART_DELAY_MAX_US);
            if self.curr_rtt_us > self.delay_min_us + thresh {
                self.found = true;
                found = Hystart::Delay;
                c.ssthresh = c.cwnd;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::cong::Algo;

    #[test]
    fn a_loss_keeps_seven_tenths_and_remembers_the_peak() {
        let mut cu = Cubic::default();
        assert_eq!(cu.ssthresh(100), 70);
        assert_eq!(cu.last_max_cwnd, 100);
        // Fast convergence: a loss below the last peak lowers W_max further.
        assert_eq!(cu.ssthresh(80), 56);
        assert_eq!(cu.last_max_cwnd, (80 * (1024 + 717) / 2048) as u32);
    }

    #[test]
    fn the_window_climbs_back_to_w_max_in_k_seconds_then_probes_beyond() {
        // W_max 100, cwnd 70: K = cbrt(30 / 0.4) ≈ 4.2 s.
        let mut c = Cong::new(Algo::Reno);
        let mut cu = Cubic {
            last_max_cwnd: 100,
            delay_min_us: 10_000,
            ..Cubic::default()
        };
        c.cwnd = 70;
        c.ssthresh = 70;
        let mut at = Vec::new();
        // A 200 ms round trip, so the curve, not Reno friendliness, leads:
        // a window's worth of ACKs per round trip, every 10 ms a twentieth.
        cu.delay_min_us = 200_000;
        for t in (10..=8000u64).step_by(10) {
            let now = Instant::from_millis(t);
            let acked = (c.cwnd / 20).max(1);
            Cubic::cong_avoid(&mut c, &mut cu, now, acked);
            if t % 1000 == 0 {
                at.push(c.cwnd);
            }
        }
        // Concave up to W_max, flat around K (4.2 s), convex beyond it.
        assert!(at[0] < at[1] && at[1] < at[2] && at[2] <= 100, "{at:?}");
        assert!(
            at[2..=4].iter().all(|w| (98..=101).contains(w)),
            "plateau at W_max: {at:?}"
        );
        assert!(at[5] > at[4] && at[6] > at[5], "{at:?}");
        assert!(at[7] > 110, "probing past W_max: {at:?}");
    }
}
