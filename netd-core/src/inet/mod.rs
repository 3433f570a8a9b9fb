//! What TCP and UDP share as IPv4 transports (Linux `inet_*` code): the
//! address a socket is bound to and the bind rules (`bind`).

pub mod bind;

use std::net::{Ipv4Addr, SocketAddrV4};

/// The addressing part of a socket (Linux `struct inet_sock`).
#[derive(Clone, Debug, Default)]
pub struct InetSock {
    /// Bound local address (port 0 = not bound).
    pub local: Option<SocketAddrV4>,
    /// What getsockname() shows once a disconnect gave the port back:
    /// Linux clears the bind but not `inet_sport`, so the old port stays
    /// visible until the next bind, connect or listen.
    pub stale_name: Option<SocketAddrV4>,
    /// bind() was called (the port, even one it picked, is not shared with
    /// connect()'s choices).
    pub bound_explicit: bool,
    /// bind() named a port (`SOCK_BINDPORT_LOCK`): it stays bound when a
    /// connection ends or the socket disconnects; a port bind() picked, or
    /// connect() or listen() took, is given back then.
    pub port_locked: bool,
}

impl InetSock {
    /// bind() took `addr`; `port_named` is SOCK_BINDPORT_LOCK.
    pub fn bound(&mut self, addr: SocketAddrV4, port_named: bool) {
        self.local = Some(addr);
        self.bound_explicit = true;
        self.port_locked = port_named;
    }

    /// The bound address, the wildcard where nothing is bound.
    pub fn bound_ip(&self) -> Ipv4Addr {
        self.local.map_or(Ipv4Addr::UNSPECIFIED, |a| *a.ip())
    }
}

/// `addr:port` on every local address.
pub fn wildcard(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)
}
