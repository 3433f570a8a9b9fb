//! ICMP (Linux `icmp.c`): echo replies and the errors we send, and the errno
//! an error received for one of our sockets turns into (`icmp_err_convert`).

use crate::mib::IcmpMib;
use crate::sysctl::Sysctl;
use crate::time::Instant;
use crate::wire::icmp::{self, IcmpRepr};
use core::time::Duration;
use netd_proto::Errno;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// RFC 1812 §4.3.2.3 / Linux: an error carries as much of the offending
/// datagram as fits in a 576-byte reply.
pub const ERROR_BODY_MAX: usize = 576 - 20 - 8;

/// The body of an ICMP error quoting `original` (IP header and payload start).
pub fn error_body(original: &[u8]) -> &[u8] {
    &original[..original.len().min(ERROR_BODY_MAX)]
}

/// Linux's `icmp_err_convert[]` for destination-unreachable codes.
pub fn unreach_errno(code: u8) -> Errno {
    match code {
        icmp::CODE_NET_UNREACH => Errno::ENETUNREACH,
        icmp::CODE_HOST_UNREACH => Errno::EHOSTUNREACH,
        icmp::CODE_PROTO_UNREACH => Errno::ENOPROTOOPT,
        icmp::CODE_PORT_UNREACH => Errno::ECONNREFUSED,
        icmp::CODE_FRAG_NEEDED => Errno::EMSGSIZE,
        _ => Errno::EHOSTUNREACH,
    }
}

/// Serialise an ICMP message.
pub fn build(msg_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    IcmpRepr {
        msg_type,
        code,
        rest,
        body,
    }
    .emit(&mut out);
    out
}

/// Linux's `XRLIM_BURST_FACTOR`: a destination may take this many
/// rate-limited errors in a burst, then one per `icmp_ratelimit`.
const XRLIM_BURST_FACTOR: u64 = 6;
/// Destinations remembered at most. A forgotten one starts with a full
/// bucket, as a new inet_peer does; the host-wide limit still holds.
const MAX_PEERS: usize = 4096;
/// The host-wide bucket refills no more often than this (`HZ / 50`).
const GLOBAL_REFILL_MIN: Duration = Duration::from_millis(20);

/// ICMP rate limiting, as Linux's `icmp_send()` applies it: types in
/// `icmp_ratemask` (by default destination unreachable, source quench, time
/// exceeded, parameter problem; not echo replies), except "fragmentation
/// needed", pass a host-wide token bucket (`icmp_msgs_per_sec`,
/// `icmp_msgs_burst`) and a bucket per destination (`icmp_ratelimit`, the
/// inet_peer one). Without it a flood of datagrams to a closed port gets
/// one port unreachable each.
#[derive(Debug, Default)]
pub struct RateLimiter {
    peers: HashMap<Ipv4Addr, PeerBucket>,
    /// Host-wide credit and when it was last refilled; None until first used (full).
    global: Option<(u64, Instant)>,
}

#[derive(Clone, Copy, Debug)]
struct PeerBucket {
    /// Milliseconds of credit (`rate_tokens`).
    tokens: u64,
    last: Instant,
}

impl RateLimiter {
    /// May an ICMP message of this type and code go to `dst` now? Refusals
    /// are counted as OutRateLimitGlobal or OutRateLimitHost.
    pub fn allow(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        msg_type: u8,
        code: u8,
        sysctl: &Sysctl,
        mib: &mut IcmpMib,
    ) -> bool {
        // icmpv4_mask_allow(): unknown types, PMTU discovery and types
        // outside the mask are never limited; nor is anything to ourselves.
        let limited = msg_type <= icmp::NR_ICMP_TYPES
            && !(msg_type == icmp::DEST_UNREACH && code == icmp::CODE_FRAG_NEEDED)
            && (sysctl.icmp_ratemask >> msg_type) & 1 == 1
            && !dst.is_loopback();
        if !limited {
            return true;
        }
        // The host-wide bucket is checked first and spent last, only for a
        // message the destination's bucket lets through (Linux 6.12 order).
        if !self.global_has_credit(now, sysctl) {
            mib.out_rate_limit_global += 1;
            return false;
        }
        if !self.peer_allow(now, dst, sysctl.icmp_ratelimit.max(0) as u64) {
            mib.out_rate_limit_host += 1;
            return false;
        }
        if let Some((credit, _)) = self.global.as_mut() {
            *credit = credit.saturating_sub(1);
        }
        true
    }

    /// `icmp_global_allow()`: refill at icmp_msgs_per_sec, at most once per
    /// 20 ms and for at most a second's worth, up to icmp_msgs_burst.
    fn global_has_credit(&mut self, now: Instant, sysctl: &Sysctl) -> bool {
        let burst = sysctl.icmp_msgs_burst.max(0) as u64;
        let per_sec = sysctl.icmp_msgs_per_sec.max(0) as u64;
        let (credit, stamp) = self.global.get_or_insert((burst, now));
        let delta = now.saturating_since(*stamp).min(Duration::from_secs(1));
        if delta >= GLOBAL_REFILL_MIN {
            let incr = per_sec * delta.as_millis() as u64 / 1000;
            if incr > 0 {
                *stamp = now;
                *credit = (*credit + incr).min(burst);
            }
        }
        *credit > 0
    }

    /// `inet_peer_xrlim_allow()`: credit accrues with time up to six
    /// intervals; each message spends one interval.
    fn peer_allow(&mut self, now: Instant, dst: Ipv4Addr, interval_ms: u64) -> bool {
        let cap = XRLIM_BURST_FACTOR * interval_ms;
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&dst) {
            // Forget those whose bucket has refilled: they lose nothing.
            self.peers
                .retain(|_, p| now.saturating_since(p.last).as_millis() < u128::from(cap));
            if self.peers.len() >= MAX_PEERS {
                self.peers.clear();
            }
        }
        let p = self.peers.entry(dst).or_insert(PeerBucket {
            tokens: cap,
            last: now,
        });
        let elapsed = now.saturating_since(p.last).as_millis() as u64;
        p.last = now;
        let mut tokens = p.tokens.saturating_add(elapsed).min(cap);
        let ok = tokens >= interval_ms;
        if ok {
            tokens -= interval_ms;
        }
        p.tokens = tokens;
        ok
    }
}
