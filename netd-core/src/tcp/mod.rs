//! TCP, split by concern as Linux splits it: the tables and the
//! bookkeeping after every event (`table`), demultiplexing, connect, bind
//! and listen (`ipv4`, as `tcp_ipv4.c` and `inet_connection_sock.c`), what
//! the socket calls do to a connection (`sock`, as `tcp.c`), segment
//! arrival (`input`), what to send (`output`), timers (`timer`), the listen
//! path (`listen`), TIME-WAIT minisockets (`timewait`), RTT/RTO (`rtt`),
//! the retransmit queue and scoreboard (`rtx`), ACK processing (`ack`),
//! SACK tagging (`sack`), loss recovery with PRR and undo (`recovery`),
//! RACK-TLP (`rack`), congestion control (`cong`), receive-buffer autotuning
//! (`autotune`), SYN cookies (`syncookie`) and `ss`'s view (`diag`).

pub mod ack;
pub mod autotune;
pub mod cong;
pub mod diag;
pub mod info;
pub mod input;
pub mod ipv4;
pub mod listen;
pub mod ooo;
pub mod output;
pub mod rack;
pub mod recovery;
pub mod rtt;
pub mod rtx;
pub mod sack;
pub mod sock;
pub mod syncookie;
pub mod table;
pub mod tcb;
pub mod timer;
pub mod timewait;

use crate::ip::Tx;
use crate::mib::Mib;
use crate::net::Net;
use crate::sysctl::Sysctl;
use crate::time::Instant;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::SocketAddrV4;

pub use crate::wire::seq::SeqNum;
pub use table::TcpTables;
pub use tcb::Tcb;

/// A TCP socket's state with Linux's numbering (`include/net/tcp_states.h`),
/// as `ss`, `/proc/net/tcp` and `tcp_info.tcpi_state` report it: a
/// connection's [`ConnState`], or LISTEN for a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Established = 1,
    SynSent = 2,
    SynRcvd = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Closed = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

impl State {
    /// The name `ss` prints.
    pub fn ss_name(self) -> &'static str {
        match self {
            State::Established => "ESTAB",
            State::SynSent => "SYN-SENT",
            State::SynRcvd => "SYN-RECV",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::TimeWait => "TIME-WAIT",
            State::Closed => "UNCONN",
            State::CloseWait => "CLOSE-WAIT",
            State::LastAck => "LAST-ACK",
            State::Listen => "LISTEN",
            State::Closing => "CLOSING",
        }
    }
}

/// The state of a connection (a [`Tcb`] or a TIME-WAIT bucket): RFC 9293
/// §3.3.2's states less LISTEN, which only a listener is in, so no control
/// block can be in it. The numbers are [`State`]'s; the two types do not
/// compare, so a test for LISTEN on a control block cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    Established = 1,
    SynSent = 2,
    SynRcvd = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Closed = 7,
    CloseWait = 8,
    LastAck = 9,
    Closing = 11,
}

impl ConnState {
    /// RFC 9293's "synchronized" states: a connection exists in both directions.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            ConnState::Closed | ConnState::SynSent | ConnState::SynRcvd
        )
    }
}

impl From<ConnState> for State {
    fn from(s: ConnState) -> State {
        match s {
            ConnState::Established => State::Established,
            ConnState::SynSent => State::SynSent,
            ConnState::SynRcvd => State::SynRcvd,
            ConnState::FinWait1 => State::FinWait1,
            ConnState::FinWait2 => State::FinWait2,
            ConnState::TimeWait => State::TimeWait,
            ConnState::Closed => State::Closed,
            ConnState::CloseWait => State::CloseWait,
            ConnState::LastAck => State::LastAck,
            ConnState::Closing => State::Closing,
        }
    }
}

/// A connection's identity as seen from this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourTuple {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

/// Everything a TCP routine needs besides its own control block.
pub struct Ctx<'a> {
    pub now: Instant,
    pub sysctl: &'a Sysctl,
    pub mib: &'a mut Mib,
    pub tx: &'a mut Tx,
    pub secrets: &'a Secrets,
    pub challenge: &'a mut ChallengeLimiter,
}

impl<'a> Ctx<'a> {
    /// A TCP context from the stack's view and TCP's own secrets and
    /// challenge-ACK budget.
    pub fn new(
        net: &'a mut Net<'_>,
        secrets: &'a Secrets,
        challenge: &'a mut ChallengeLimiter,
    ) -> Ctx<'a> {
        Ctx {
            now: net.now,
            sysctl: net.sysctl,
            mib: &mut *net.mib,
            tx: &mut net.host.tx,
            secrets,
            challenge,
        }
    }
}

/// The per-namespace RFC 5961 challenge-ACK budget (`tcp_challenge_ack_limit`):
/// each wall-clock second gets a random budget in [limit/2, 1.5·limit), as in
/// Linux's `tcp_send_challenge_ack()`. The draw is keyed, not random, so runs
/// repeat exactly.
#[derive(Clone, Debug, Default)]
pub struct ChallengeLimiter {
    second: Option<u64>,
    count: u32,
}

impl ChallengeLimiter {
    pub fn allow(&mut self, now: Instant, limit: i64, key: &[u8; 16]) -> bool {
        if limit >= i64::from(i32::MAX) {
            return true;
        }
        let limit = limit.max(0) as u64;
        let sec = now.as_micros() / 1_000_000;
        if self.second != Some(sec) {
            self.second = Some(sec);
            let half = (limit + 1) >> 1;
            let mut h = SipHasher24::new_with_key(key);
            h.write_u64(sec);
            let span = limit.max(1);
            self.count = (half + h.finish() % span) as u32;
        }
        if self.count > 0 {
            self.count -= 1;
            return true;
        }
        false
    }
}

/// Injected secrets: the core never draws randomness itself.
#[derive(Clone, Debug)]
pub struct Secrets {
    pub isn: [u8; 16],
    pub ts_offset: [u8; 16],
    pub cookie: syncookie::CookieSecrets,
}

impl Secrets {
    pub fn from_seed(seed: u64) -> Secrets {
        let mut isn = [0u8; 16];
        let mut ts_offset = [0u8; 16];
        let mut c0 = [0u8; 16];
        let mut c1 = [0u8; 16];
        let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
        let chunks = isn
            .chunks_mut(8)
            .chain(ts_offset.chunks_mut(8))
            .chain(c0.chunks_mut(8))
            .chain(c1.chunks_mut(8));
        for chunk in chunks {
            // splitmix64: spreads a small seed over the key bytes.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        Secrets {
            isn,
            ts_offset,
            cookie: syncookie::CookieSecrets { keys: [c0, c1] },
        }
    }

    fn keyed(key: &[u8; 16], t: &FourTuple, with_ports: bool) -> u64 {
        let mut h = SipHasher24::new_with_key(key);
        h.write(&t.local.ip().octets());
        h.write(&t.remote.ip().octets());
        if with_ports {
            h.write_u16(t.local.port());
            h.write_u16(t.remote.port());
        }
        h.finish()
    }

    /// RFC 6528 ISN: a keyed hash of the 4-tuple plus a clock ticking every
    /// 64 ns, as Linux's `secure_tcp_seq()` + `seq_scale()`.
    pub fn isn(&self, t: &FourTuple, now: Instant) -> SeqNum {
        let hash = Self::keyed(&self.isn, t, true) as u32;
        SeqNum(hash.wrapping_add((now.as_micros().wrapping_mul(1000) >> 6) as u32))
    }

    /// Per-host-pair timestamp offset (`secure_tcp_ts_off()`, tcp_timestamps = 1).
    pub fn ts_offset(&self, t: &FourTuple) -> u32 {
        Self::keyed(&self.ts_offset, t, false) as u32
    }
}

/// The TCP timestamp clock: milliseconds (Linux's TCP_TS_HZ).
pub fn ts_now(now: Instant) -> u32 {
    now.as_millis() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
        }
    }

    #[test]
    fn isn_differs_per_tuple_and_advances_with_time() {
        let s = Secrets::from_seed(1);
        let t0 = Instant::ZERO;
        assert_ne!(s.isn(&tuple(1000), t0), s.isn(&tuple(1001), t0));
        let later = Instant::from_millis(1);
        // 1 ms is 15625 ticks of 64 ns.
        assert_eq!(s.isn(&tuple(1000), later) - s.isn(&tuple(1000), t0), 15_625);
        assert_ne!(
            Secrets::from_seed(2).isn(&tuple(1000), t0),
            s.isn(&tuple(1000), t0)
        );
    }
}
