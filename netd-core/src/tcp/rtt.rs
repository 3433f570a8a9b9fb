//! Round-trip time estimation and the retransmission timeout (RFC 6298),
//! with Linux's floor: RTO = SRTT + max(4·RTTVAR, rto_min) (`tcp_rtt_estimator()`,
//! `tcp_set_rto()`), so a loopback RTO reads 200 ms plus a little.

use core::time::Duration;

/// TCP_TIMEOUT_INIT: the RTO before the first sample.
pub const RTO_INIT: Duration = Duration::from_secs(1);
/// TCP_RTO_MIN.
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// TCP_RTO_MAX.
pub const RTO_MAX: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct RttEstimator {
    /// Smoothed RTT; `None` before the first sample.
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    /// Lowest RTT seen (tcpi_min_rtt).
    pub min_rtt: Option<Duration>,
    /// The un-backed-off RTO.
    base_rto: Duration,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            min_rtt: None,
            base_rto: RTO_INIT,
        }
    }
}

impl RttEstimator {
    /// Feed one RTT measurement (RFC 6298 §2.2 and §2.3).
    pub fn sample(&mut self, rtt: Duration) {
        let rtt = rtt.max(Duration::from_micros(1));
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + err) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.base_rto = (srtt + (self.rttvar * 4).max(RTO_MIN)).min(RTO_MAX);
    }

    /// TCP_TIMEOUT_FALLBACK: 3 s when the handshake was retransmitted and gave
    /// no RTT sample (`tcp_init_transfer()`).
    pub fn fallback(&mut self) {
        if self.srtt.is_none() {
            self.base_rto = Duration::from_secs(3);
        }
    }

    /// The RTO after `backoff` doublings, capped at TCP_RTO_MAX.
    pub fn rto(&self, backoff: u32) -> Duration {
        let mut rto = self.base_rto;
        for _ in 0..backoff {
            rto = (rto * 2).min(RTO_MAX);
            if rto == RTO_MAX {
                break;
            }
        }
        rto
    }
}

/// Linux's `tcp_model_timeout()`: the time `boundary` retransmissions take when
/// the RTO starts at `rto_base` and doubles up to TCP_RTO_MAX. `tcp_retries2`
/// and `tcp_orphan_retries` are converted to time with it, so a connection with
/// a larger RTO gives up after fewer retransmissions.
pub fn model_timeout(boundary: u32, rto_base: Duration) -> Duration {
    let thresh = (RTO_MAX.as_millis() / rto_base.as_millis().max(1)).ilog2();
    if boundary <= thresh {
        rto_base * ((1u32 << (boundary + 1)) - 1)
    } else {
        rto_base * ((1u32 << (thresh + 1)) - 1) + RTO_MAX * (boundary - thresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries2_of_15_models_924_6_seconds() {
        assert_eq!(model_timeout(15, RTO_MIN), Duration::from_millis(924_600));
        // The sysctl.md table: 3 -> 3.0 s, 8 -> 102.2 s, 9 -> 204.6 s, 12 -> 564.6 s.
        assert_eq!(model_timeout(3, RTO_MIN), Duration::from_millis(3_000));
        assert_eq!(model_timeout(8, RTO_MIN), Duration::from_millis(102_200));
        assert_eq!(model_timeout(9, RTO_MIN), Duration::from_millis(204_600));
        assert_eq!(model_timeout(12, RTO_MIN), Duration::from_millis(564_600));
    }

    #[test]
    fn syn_retries_model_uses_one_second_base() {
        assert_eq!(model_timeout(1, RTO_INIT), Duration::from_secs(3));
        assert_eq!(model_timeout(6, RTO_INIT), Duration::from_secs(127));
    }

    #[test]
    fn rto_is_srtt_plus_floor_and_backs_off_to_120s() {
        let mut est = RttEstimator::default();
        assert_eq!(est.rto(0), RTO_INIT);
        est.sample(Duration::from_millis(2));
        assert_eq!(est.rto(0), Duration::from_millis(202));
        assert_eq!(est.rto(1), Duration::from_millis(404));
        assert_eq!(est.rto(20), RTO_MAX);
    }

    #[test]
    fn first_sample_sets_rttvar_to_half() {
        let mut est = RttEstimator::default();
        est.sample(Duration::from_millis(100));
        assert_eq!(est.srtt, Some(Duration::from_millis(100)));
        assert_eq!(est.rttvar, Duration::from_millis(50));
        assert_eq!(est.rto(0), Duration::from_millis(300));
    }
}
