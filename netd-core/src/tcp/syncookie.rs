//! SYN cookies with Linux's layout (net/ipv4/syncookies.c): nothing is stored
//! for a SYN; everything needed to build the connection comes back in the
//! client's ACK.
//!
//! ISN = H0(4-tuple) + client_isn + (minute << 24) + ((H1(4-tuple, minute) + mss_index) mod 2^24)
//!
//! A cookie is valid for the current and the previous minute
//! (MAX_SYNCOOKIE_AGE = 2). With timestamps on, the low 6 bits of our TSval
//! carry the peer's window scale (4 bits, 0xf = none) and SACK-permitted
//! (bit 4), as `cookie_init_timestamp()` does.

use super::{FourTuple, SeqNum};
use crate::time::Instant;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;

const COOKIEBITS: u32 = 24;
const COOKIEMASK: u32 = (1 << COOKIEBITS) - 1;
/// MAX_SYNCOOKIE_AGE.
const MAX_AGE: u32 = 2;
/// Linux's `msstab[]`.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

const TSBITS: u32 = 6;
const TSMASK: u32 = (1 << TSBITS) - 1;
const TS_OPT_WSCALE_MASK: u32 = 0xf;
const TS_OPT_SACK: u32 = 1 << 4;

/// The two keys of `syncookie_secret[]`, injected.
#[derive(Clone, Debug)]
pub struct CookieSecrets {
    pub keys: [[u8; 16]; 2],
}

fn hash(key: &[u8; 16], t: &FourTuple, count: u32) -> u32 {
    // cookie_hash(): siphash of saddr, daddr, sport<<16|dport, count.
    // The client is the source here: remote first, as the SYN named them.
    let mut h = SipHasher24::new_with_key(key);
    h.write(&t.remote.ip().octets());
    h.write(&t.local.ip().octets());
    h.write_u32((u32::from(t.remote.port()) << 16) | u32::from(t.local.port()));
    h.write_u32(count);
    h.finish() as u32
}

/// `tcp_cookie_time()`: minutes.
pub fn cookie_time(now: Instant) -> u32 {
    (now.as_micros() / 60_000_000) as u32
}

/// The index into MSS_TABLE for the client's MSS: the largest entry not above it.
pub fn mss_index(mss: u16) -> u32 {
    (1..MSS_TABLE.len())
        .rev()
        .find(|&i| mss >= MSS_TABLE[i])
        .unwrap_or(0) as u32
}

impl CookieSecrets {
    /// `secure_tcp_syn_cookie()`.
    pub fn make(&self, t: &FourTuple, client_isn: SeqNum, now: Instant, mss_index: u32) -> SeqNum {
        let count = cookie_time(now);
        let v = hash(&self.keys[0], t, 0)
            .wrapping_add(client_isn.0)
            .wrapping_add(count << COOKIEBITS)
            .wrapping_add(hash(&self.keys[1], t, count).wrapping_add(mss_index) & COOKIEMASK);
        SeqNum(v)
    }

    /// `check_tcp_syn_cookie()` + `__cookie_v4_check()`: the MSS the cookie
    /// carries, or None if it is forged or older than two minutes. `ack` and
    /// `seq` are the ACK segment's (each one past the cookie and the client ISN).
    pub fn check(&self, t: &FourTuple, ack: SeqNum, seq: SeqNum, now: Instant) -> Option<u16> {
        let cookie = (ack - 1u32).0;
        let client_isn = (seq - 1u32).0;
        let count = cookie_time(now);
        let c = cookie.wrapping_sub(hash(&self.keys[0], t, 0).wrapping_add(client_isn));
        let diff = count.wrapping_sub(c >> COOKIEBITS) & (u32::MAX >> COOKIEBITS);
        if diff >= MAX_AGE {
            return None;
        }
        let index = c.wrapping_sub(hash(&self.keys[1], t, count - diff)) & COOKIEMASK;
        MSS_TABLE.get(index as usize).copied()
    }
}

/// `cookie_init_timestamp()`: a TSval at or just below `now_ms` whose low six
/// bits encode the peer's window scale and SACK permission.
pub fn encode_ts(now_ms: u32, peer_wscale: Option<u8>, sack: bool) -> u32 {
    let mut options = peer_wscale.map_or(TS_OPT_WSCALE_MASK, |w| u32::from(w.min(14)));
    if sack {
        options |= TS_OPT_SACK;
    }
    let mut ts = ((now_ms >> TSBITS) << TSBITS) | options;
    if ts > now_ms {
        ts = ts.wrapping_sub(1 << TSBITS);
    }
    ts
}

/// `cookie_timestamp_decode()`: (peer window scale, SACK) from the echoed TSval.
pub fn decode_ts(tsecr: u32) -> (Option<u8>, bool) {
    let options = tsecr & TSMASK;
    let ws = options & TS_OPT_WSCALE_MASK;
    let wscale = (ws != TS_OPT_WSCALE_MASK).then_some(ws as u8);
    (wscale, options & TS_OPT_SACK != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn tuple() -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000),
        }
    }

    fn secrets() -> CookieSecrets {
        CookieSecrets {
            keys: [[1; 16], [2; 16]],
        }
    }

    #[test]
    fn cookie_round_trips_the_mss_index() {
        let s = secrets();
        let isn = SeqNum(123_456);
        for (i, mss) in MSS_TABLE.iter().enumerate() {
            let now = Instant::from_secs(1000);
            let cookie = s.make(&tuple(), isn, now, i as u32);
            assert_eq!(s.check(&tuple(), cookie + 1, isn + 1, now), Some(*mss));
        }
    }

    #[test]
    fn cookie_expires_after_two_minutes() {
        let s = secrets();
        let isn = SeqNum(7);
        let t0 = Instant::from_secs(600);
        let cookie = s.make(&tuple(), isn, t0, 3);
        assert_eq!(
            s.check(&tuple(), cookie + 1, isn + 1, Instant::from_secs(660)),
            Some(1460)
        );
        assert_eq!(
            s.check(&tuple(), cookie + 1, isn + 1, Instant::from_secs(720)),
            None
        );
    }

    #[test]
    fn forged_or_misdirected_cookie_fails() {
        let s = secrets();
        let now = Instant::from_secs(5);
        let cookie = s.make(&tuple(), SeqNum(1), now, 3);
        assert_eq!(
            s.check(&tuple(), cookie + 2, SeqNum(2), now),
            None,
            "wrong cookie"
        );
        // (An ISN off by a few only shifts the MSS index, as in Linux: the
        // protection is the keyed hash, which a blind attacker cannot compute.)
        assert_eq!(
            s.check(&tuple(), cookie + 1, SeqNum(0x0040_0002), now),
            None,
            "wrong client ISN"
        );
        let mut other = tuple();
        other.remote.set_port(40001);
        assert_eq!(
            s.check(&other, cookie + 1, SeqNum(2), now),
            None,
            "other 4-tuple"
        );
    }

    #[test]
    fn mss_index_picks_the_largest_entry_not_above() {
        assert_eq!(mss_index(1460), 3);
        assert_eq!(mss_index(1448), 2);
        assert_eq!(mss_index(1299), 0);
        assert_eq!(mss_index(9000), 3);
    }

    #[test]
    fn timestamp_carries_wscale_and_sack() {
        let ts = encode_ts(100_000, Some(7), true);
        assert!(ts <= 100_000 && 100_000 - ts < 64);
        assert_eq!(decode_ts(ts), (Some(7), true));
        assert_eq!(decode_ts(encode_ts(5_000, None, false)), (None, false));
    }
}
