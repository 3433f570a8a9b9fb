//! The socket layer's vocabulary, which every protocol shares (Linux
//! `include/linux/net.h`, `include/net/sock.h`): handles, types, shutdown
//! directions, poll bits and the options a socket carries. A leaf: it
//! imports nothing else of the crate, so `tcp`, `udp` and the socket calls
//! can all use it without depending on one another.

pub use netd_proto::sockopt::{SockOpt, SockOptName, SockOptValue};

/// A socket, by the number the application holds. Handles are never
/// reused, so a stale one is reported as EBADF rather than reaching
/// someone else's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    /// SOCK_STREAM: TCP.
    Stream,
    /// SOCK_DGRAM: UDP.
    Datagram,
}

/// shutdown(2)'s `how` (SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// poll(2) event bits with Linux's values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollEvents(pub u16);

impl PollEvents {
    pub const IN: u16 = 0x001;
    pub const PRI: u16 = 0x002;
    pub const OUT: u16 = 0x004;
    pub const ERR: u16 = 0x008;
    pub const HUP: u16 = 0x010;
    pub const RDHUP: u16 = 0x2000;

    pub fn has(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
}

/// Per-socket options; children of a listener inherit them (Linux clones the
/// listening socket). Zero in a TCP_* field means "use the sysctl".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOpts {
    pub reuseaddr: bool,
    pub keepalive: bool,
    /// SO_LINGER: `Some(seconds)` when l_onoff is set.
    pub linger: Option<u32>,
    /// SO_RCVBUF/SO_SNDBUF as stored (already doubled), when set by the user.
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
    pub nodelay: bool,
    pub maxseg: u16,
    pub syncnt: u8,
    pub user_timeout: u32,
    pub keepidle: u32,
    pub keepintvl: u32,
    pub keepcnt: u8,
    /// TCP_CONGESTION, NUL-padded; unset: `tcp_congestion_control`.
    pub congestion: Option<[u8; 16]>,
}
