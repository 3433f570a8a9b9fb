//! Socket-level types: handles, options, shutdown, readiness. The calls
//! themselves are methods of [`crate::Stack`] (stack.rs), which owns the tables.

use crate::tcp::listen::Listener;
use crate::tcp::Tcb;
use crate::udp::UdpSock;
use std::net::SocketAddrV4;

pub use netd_proto::sockopt::{SockOpt, SockOptName, SockOptValue};

/// A socket in the stack's table. Handles are never reused, so a stale one
/// is reported as EBADF rather than reaching someone else's socket.
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
}

/// TCP side of a socket.
#[derive(Debug)]
pub(crate) enum TcpSock {
    /// Created, maybe bound, not listening or connected.
    Idle,
    Listen(Box<Listener>),
    Conn(Box<Tcb>),
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub ty: SockType,
    /// Bound local address (port 0 = not bound).
    pub local: Option<SocketAddrV4>,
    /// What getsockname() shows once a disconnect gave the port back:
    /// Linux clears the bind but not `inet_sport`, so the old port stays
    /// visible until the next bind, connect or listen.
    pub stale_name: Option<SocketAddrV4>,
    /// TCP_MAXSEG after a disconnect: the connection's `mss_cache`.
    pub stale_mss: Option<u32>,
    /// bind() was called (the port, even one it picked, is not shared with
    /// connect()'s choices).
    pub bound_explicit: bool,
    /// bind() named a port (`SOCK_BINDPORT_LOCK`): it stays bound when a
    /// connection ends or the socket disconnects; a port bind() picked, or
    /// connect() or listen() took, is given back then.
    pub port_locked: bool,
    pub opts: SockOpts,
    pub tcp: TcpSock,
    pub udp: Option<UdpSock>,
    /// The socket has held a connection: it sent a SYN (SYN-SENT), or was
    /// born from a listener's queue. Linux 6.18 then refuses `listen()` with
    /// EINVAL for the rest of the socket's life, whatever ended the
    /// connection (RST, timeout, AF_UNSPEC); a listener that was shut down
    /// may listen again. Measured on 6.18.44; kernels before it allowed
    /// `listen()` once `__inet_stream_connect()` left SS_UNCONNECTED.
    pub had_connection: bool,
    /// close()d by the application: invisible to it, alive until the protocol is done.
    pub orphan: bool,
    /// A completed connection waiting in this listener's accept queue.
    pub accept_parent: Option<SocketHandle>,
    /// Earliest timer entry queued for this socket.
    pub scheduled: Option<crate::time::Instant>,
}

impl Socket {
    pub fn new(ty: SockType) -> Socket {
        Socket {
            ty,
            local: None,
            stale_name: None,
            stale_mss: None,
            bound_explicit: false,
            port_locked: false,
            opts: SockOpts::default(),
            tcp: TcpSock::Idle,
            udp: (ty == SockType::Datagram).then(UdpSock::default),
            had_connection: false,
            orphan: false,
            accept_parent: None,
            scheduled: None,
        }
    }

    pub fn tcb(&self) -> Option<&Tcb> {
        match &self.tcp {
            TcpSock::Conn(t) => Some(t),
            _ => None,
        }
    }

    pub fn tcb_mut(&mut self) -> Option<&mut Tcb> {
        match &mut self.tcp {
            TcpSock::Conn(t) => Some(t),
            _ => None,
        }
    }

    /// The options in force: a connection's own copy once it exists.
    pub fn opts(&self) -> &SockOpts {
        match &self.tcp {
            TcpSock::Conn(t) => &t.opts,
            TcpSock::Listen(l) => &l.opts,
            TcpSock::Idle => &self.opts,
        }
    }

    pub fn opts_mut(&mut self) -> &mut SockOpts {
        match &mut self.tcp {
            TcpSock::Conn(t) => &mut t.opts,
            TcpSock::Listen(l) => &mut l.opts,
            TcpSock::Idle => &mut self.opts,
        }
    }
}
