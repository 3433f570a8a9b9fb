//! The bind rules (Linux `inet_connection_sock.c`, `inet_hashtables.c`):
//! which sockets hold each port, when a new bind conflicts with them, and
//! how bind(port 0) and connect() choose an ephemeral port. The protocol
//! says who holds a port and with what flags ([`Holder`]), as Linux's
//! bind buckets list their owners; the rules here need nothing else.

use crate::sock::SocketHandle;
use crate::sysctl::Sysctl;
use netd_proto::Errno;
use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Sockets holding each port of one protocol (a bind hash). Sets, not
/// lists: a server port holds every accepted child, and closing one must
/// not cost a scan of all the others.
#[derive(Debug, Default)]
pub struct BindTable {
    ports: HashMap<u16, BTreeSet<SocketHandle>>,
}

impl BindTable {
    pub fn add(&mut self, port: u16, h: SocketHandle) {
        self.ports.entry(port).or_default().insert(h);
    }

    pub fn remove(&mut self, port: u16, h: SocketHandle) {
        if let Some(v) = self.ports.get_mut(&port) {
            v.remove(&h);
            if v.is_empty() {
                self.ports.remove(&port);
            }
        }
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ports.contains_key(&port)
    }

    pub fn holders(&self, port: u16) -> impl Iterator<Item = SocketHandle> + '_ {
        self.ports.get(&port).into_iter().flatten().copied()
    }
}

/// One claim on a port as the conflict rule reads it: a socket, or a
/// TIME-WAIT bucket (which Linux keeps on the bind bucket too).
#[derive(Clone, Copy, Debug)]
pub struct Holder {
    pub ip: Ipv4Addr,
    /// SO_REUSEADDR.
    pub reuse: bool,
    pub listening: bool,
}

/// `inet_csk_bind_conflict()`: does binding `addr`, with SO_REUSEADDR
/// `reuse`, clash with a holder of its port? Addresses overlap when equal or
/// either is the wildcard; SO_REUSEADDR on both sides allows it unless the
/// holder listens.
pub fn conflicts(
    addr: SocketAddrV4,
    reuse: bool,
    holders: impl IntoIterator<Item = Holder>,
) -> bool {
    let ip = *addr.ip();
    holders.into_iter().any(|o| {
        let overlap = o.ip.is_unspecified() || ip.is_unspecified() || o.ip == ip;
        overlap && !(reuse && o.reuse && !o.listening)
    })
}

/// The address bind() takes (`inet_csk_get_port()`, `udp_lib_get_port()`):
/// a named port unless one of its holders conflicts (EADDRINUSE), else the
/// first ephemeral port that no socket holds and nothing conflicts with.
pub fn choose(
    addr: SocketAddrV4,
    reuse: bool,
    table: &BindTable,
    holders: impl Fn(u16) -> Vec<Holder>,
    rover: &mut PortRover,
    sysctl: &Sysctl,
) -> Result<SocketAddrV4, Errno> {
    if addr.port() != 0 {
        return match conflicts(addr, reuse, holders(addr.port())) {
            true => Err(Errno::EADDRINUSE),
            false => Ok(addr),
        };
    }
    let ip = *addr.ip();
    let free = |port| {
        !table.contains(port) && !conflicts(SocketAddrV4::new(ip, port), false, holders(port))
    };
    let port = rover.bind_port(port_range(sysctl), free);
    port.map(|p| SocketAddrV4::new(ip, p))
        .ok_or(Errno::EADDRINUSE)
}

/// `__inet_bind()`'s address check: one of ours, loopback, or the wildcard.
pub fn is_local(host: Ipv4Addr, ip: Ipv4Addr) -> bool {
    ip.is_unspecified() || ip == host || ip.is_loopback()
}

/// `ip_local_port_range`, as the port choices read it.
pub fn port_range(sysctl: &Sysctl) -> (u32, u32) {
    let [lo, hi] = sysctl.ip_local_port_range;
    let lo = lo.clamp(1, 65535) as u32;
    (lo, (hi.clamp(1, 65535) as u32).max(lo))
}

/// Where the next ephemeral-port search starts, shared by TCP and UDP as
/// Linux's per-namespace hash offsets are.
#[derive(Clone, Copy, Debug)]
pub struct PortRover {
    offset: u32,
}

impl PortRover {
    pub fn new(seed: u64) -> PortRover {
        PortRover {
            offset: (seed as u32).wrapping_mul(2_654_435_761),
        }
    }

    /// bind(port 0): the first port `usable` accepts, preferring the parity
    /// opposite to connect()'s (`inet_csk_find_open_port()`).
    pub fn bind_port(&mut self, range: (u32, u32), usable: impl FnMut(u16) -> bool) -> Option<u16> {
        self.offset = self.offset.wrapping_add(7919);
        search(range, self.offset, false, usable)
    }

    /// connect() autobind (`__inet_hash_connect()`): the same parity as the
    /// range start first.
    pub fn connect_port(
        &mut self,
        range: (u32, u32),
        usable: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let start = self.offset;
        self.offset = self.offset.wrapping_add(2);
        search(range, start, true, usable)
    }
}

/// Scan the range from `start` (mod its size), ports of one parity first:
/// the range start's parity when `lo_parity_first`, the other one otherwise.
fn search(
    (lo, hi): (u32, u32),
    start: u32,
    lo_parity_first: bool,
    mut usable: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let n = hi - lo + 1;
    let start = start % n;
    for pass in 0..2 {
        let want_lo_parity = lo_parity_first == (pass == 0);
        for i in 0..n {
            let port = lo + (start + i) % n;
            if (port % 2 == lo % 2) != want_lo_parity {
                continue;
            }
            if usable(port as u16) {
                return Some(port as u16);
            }
        }
    }
    None
}
