//! Reno (RFC 5681), as Linux's `tcp_reno_cong_avoid()` and
//! `tcp_reno_ssthresh()`: slow start by the packets each ACK covers (no
//! RFC 3465 limit, so cwnd still doubles per round trip with delayed ACKs),
//! then +1 packet per window.

use super::Cong;

/// `tcp_reno_ssthresh()`: max(cwnd / 2, 2).
pub fn ssthresh(cwnd: u32) -> u32 {
    (cwnd >> 1).max(2)
}

/// `tcp_reno_cong_avoid()` after the cwnd-limited check.
pub fn cong_avoid(c: &mut Cong, mut acked: u32) {
    if c.in_slow_start() {
        acked = c.slow_start(acked);
        if acked == 0 {
            return;
        }
    }
    let w = c.cwnd;
    c.cong_avoid_ai(w, acked);
}
