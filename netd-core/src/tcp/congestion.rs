//! Reno congestion control with NewReno fast recovery (RFC 5681, RFC 6582),
//! in bytes. Linux counts cwnd in packets (`tcp_reno_cong_avoid()`); the
//! byte version behaves the same for full-sized segments, and `ss` shows
//! `cwnd / mss`. Slow start grows by the bytes each ACK covers, as Linux's
//! `tcp_slow_start()` does (no RFC 3465 limit), so with delayed ACKs cwnd
//! still doubles per round trip.

/// Linux's TCP_INIT_CWND (RFC 6928).
pub const INITIAL_WINDOW_SEGMENTS: u32 = 10;

#[derive(Clone, Debug)]
pub struct Reno {
    pub cwnd: u32,
    pub ssthresh: u32,
    /// Bytes acknowledged toward the next +1 MSS in congestion avoidance.
    cwnd_cnt: u32,
}

impl Reno {
    pub fn new(mss: u32) -> Reno {
        Reno {
            cwnd: INITIAL_WINDOW_SEGMENTS * mss,
            ssthresh: u32::MAX,
            cwnd_cnt: 0,
        }
    }

    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// New data acknowledged outside recovery. `cwnd_limited` is false when the
    /// application, not the window, limited the flight (Linux `tcp_is_cwnd_limited()`).
    pub fn on_ack(&mut self, acked: u32, mss: u32, cwnd_limited: bool) {
        if !cwnd_limited {
            return;
        }
        if self.in_slow_start() {
            self.cwnd = self
                .cwnd
                .saturating_add(acked)
                .min(self.ssthresh.max(self.cwnd));
            return;
        }
        self.cwnd_cnt += acked;
        if self.cwnd_cnt >= self.cwnd {
            self.cwnd_cnt -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(mss);
        }
    }

    /// RFC 5681 (4): ssthresh = max(FlightSize / 2, 2·SMSS).
    pub fn halve(&mut self, flight: u32, mss: u32) {
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd_cnt = 0;
    }

    /// Entering fast recovery on the third duplicate ACK (RFC 6582 §3.2 step 2).
    pub fn enter_recovery(&mut self, flight: u32, mss: u32) {
        self.halve(flight, mss);
        self.cwnd = self.ssthresh + 3 * mss;
    }

    /// Retransmission timeout: the loss window is one segment (RFC 5681 §3.1).
    pub fn on_rto(&mut self, flight: u32, mss: u32, first_timeout: bool) {
        if first_timeout {
            self.halve(flight, mss);
        }
        self.cwnd = mss;
        self.cwnd_cnt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_adds_acked_bytes_and_stops_at_ssthresh() {
        let mut reno = Reno::new(1000);
        reno.ssthresh = 12_500;
        reno.on_ack(2000, 1000, true);
        assert_eq!(reno.cwnd, 12_000);
        reno.on_ack(2000, 1000, true);
        assert_eq!(reno.cwnd, 12_500);
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_window() {
        let mut reno = Reno::new(1000);
        reno.ssthresh = 10_000;
        for _ in 0..9 {
            reno.on_ack(1000, 1000, true);
        }
        assert_eq!(reno.cwnd, 10_000);
        reno.on_ack(1000, 1000, true);
        assert_eq!(reno.cwnd, 11_000);
    }

    #[test]
    fn application_limited_flight_does_not_grow_cwnd() {
        let mut reno = Reno::new(1000);
        reno.on_ack(5000, 1000, false);
        assert_eq!(reno.cwnd, 10_000);
    }

    #[test]
    fn recovery_sets_ssthresh_to_half_flight_plus_three_segments() {
        let mut reno = Reno::new(1000);
        reno.enter_recovery(20_000, 1000);
        assert_eq!(reno.ssthresh, 10_000);
        assert_eq!(reno.cwnd, 13_000);
        reno.on_rto(1500, 1000, true);
        assert_eq!((reno.ssthresh, reno.cwnd), (2000, 1000));
    }
}
