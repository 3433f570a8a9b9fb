//! UDP (Linux `udp.c`): the socket table and its lookup, datagram queues
//! bounded by the receive buffer, connected-socket filtering, ICMP errors
//! turned into errno, and the socket calls' UDP side.

use crate::icmp;
use crate::inet::bind::{choose, port_range, BindTable, Holder, PortRover};
use crate::inet::{wildcard, InetSock};
use crate::net::Net;
use crate::sock::{PollEvents, SockOpts, SocketHandle};
use crate::sysctl::Sysctl;
use crate::wire::icmp as icmpw;
use crate::wire::ipv4::{Ipv4Repr, PROTO_UDP};
use crate::wire::udp::UdpRepr;
use crate::wire::WireError;
use netd_proto::{Errno, SockInfo, WireAddr};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

/// Largest UDP payload over IPv4: 65535 - 20 - 8.
pub const MAX_PAYLOAD: usize = 65_507;

#[derive(Debug, Default)]
pub struct UdpSock {
    pub inet: InetSock,
    pub opts: SockOpts,
    /// Default destination and source filter after connect().
    pub remote: Option<SocketAddrV4>,
    pub rx: VecDeque<(SocketAddrV4, Vec<u8>)>,
    pub rx_bytes: usize,
    /// From an ICMP error on a connected socket (`sk_err`), reported once.
    pub error: Option<Errno>,
}

impl UdpSock {
    /// Queue a datagram unless the buffer is full (Udp RcvbufErrors).
    pub fn enqueue(&mut self, from: SocketAddrV4, data: &[u8], rcvbuf: usize) -> bool {
        if self.rx_bytes + data.len() > rcvbuf {
            return false;
        }
        self.rx_bytes += data.len();
        self.rx.push_back((from, data.to_vec()));
        true
    }

    pub fn dequeue(&mut self, peek: bool) -> Option<(SocketAddrV4, Vec<u8>)> {
        if peek {
            return self.rx.front().cloned();
        }
        let (from, data) = self.rx.pop_front()?;
        self.rx_bytes -= data.len();
        Some((from, data))
    }

    /// Readiness as `udp_poll()` computes it: always writable.
    pub fn poll(&self) -> PollEvents {
        let mut m = PollEvents::OUT;
        if !self.rx.is_empty() {
            m |= PollEvents::IN;
        }
        if self.error.is_some() {
            m |= PollEvents::ERR;
        }
        PollEvents(m)
    }
}

/// Every UDP socket and the ports they hold.
#[derive(Debug, Default)]
pub struct UdpTable {
    socks: HashMap<SocketHandle, UdpSock>,
    ports: BindTable,
}

impl UdpTable {
    pub fn socket(&mut self, h: SocketHandle) {
        self.socks.insert(h, UdpSock::default());
    }

    pub fn get(&self, h: SocketHandle) -> Option<&UdpSock> {
        self.socks.get(&h)
    }

    pub fn get_mut(&mut self, h: SocketHandle) -> Option<&mut UdpSock> {
        self.socks.get_mut(&h)
    }

    pub fn len(&self) -> usize {
        self.socks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.socks.is_empty()
    }

    pub fn destroy(&mut self, h: SocketHandle) {
        if let Some(s) = self.socks.remove(&h) {
            if let Some(a) = s.inet.local {
                self.ports.remove(a.port(), h);
            }
        }
    }

    pub fn clear(&mut self) {
        let handles: Vec<SocketHandle> = self.socks.keys().copied().collect();
        handles.into_iter().for_each(|h| self.destroy(h));
    }

    /// Best match for a datagram: a connected socket, then one bound to the
    /// address, then the wildcard (`udp4_lib_lookup` scoring, simplified).
    fn lookup(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<SocketHandle> {
        let mut best = None;
        let mut best_score = -1;
        for h in self.ports.holders(local.port()) {
            let Some(s) = self.socks.get(&h) else {
                continue;
            };
            let bound = s.inet.bound_ip();
            if !bound.is_unspecified() && bound != *local.ip() {
                continue;
            }
            let mut score = i32::from(!bound.is_unspecified());
            if let Some(r) = s.remote {
                if r != remote {
                    continue;
                }
                score += 2;
            }
            if score > best_score {
                best = Some(h);
                best_score = score;
            }
        }
        best
    }

    /// A datagram from the link (`udp_rcv()`); no socket for it means a
    /// port unreachable, but never for a fragment other than the first.
    pub fn rcv(
        &mut self,
        net: &mut Net,
        hdr: &Ipv4Repr,
        payload: &[u8],
        packet: &[u8],
        csum_ok: bool,
    ) {
        let dgram = match UdpRepr::parse_with(hdr.src, hdr.dst, payload, !csum_ok) {
            Ok(d) => d,
            Err(e) => {
                net.mib.udp.in_errors += 1;
                if e == WireError::Checksum {
                    net.mib.udp.in_csum_errors += 1;
                }
                return;
            }
        };
        let local = SocketAddrV4::new(hdr.dst, dgram.dst_port);
        let remote = SocketAddrV4::new(hdr.src, dgram.src_port);
        let Some(h) = self.lookup(local, remote) else {
            net.mib.udp.no_ports += 1;
            if hdr.frag_offset == 0 {
                let body = icmp::error_body(packet);
                let msg = icmp::build(icmpw::DEST_UNREACH, icmpw::CODE_PORT_UNREACH, [0; 4], body);
                net.send_icmp(hdr.src, &msg);
            }
            return;
        };
        let rmem_default = usize::try_from(net.sysctl.rmem_default).unwrap_or(0);
        let Some(s) = self.socks.get_mut(&h) else {
            return;
        };
        let rcvbuf = s.opts.rcvbuf.unwrap_or(rmem_default);
        if s.enqueue(remote, dgram.payload, rcvbuf) {
            net.wake(h);
            net.mib.udp.in_datagrams += 1;
        } else {
            net.mib.udp.rcvbuf_errors += 1;
            net.mib.udp.in_errors += 1;
        }
    }

    /// An ICMP error quoting one of our datagrams (`udp_err()`): only a
    /// connected socket hears of it (no IP_RECVERR).
    pub fn err(&mut self, net: &mut Net, local: SocketAddrV4, remote: SocketAddrV4, err: Errno) {
        let Some(h) = self.lookup(local, remote) else {
            return;
        };
        if let Some(s) = self.socks.get_mut(&h) {
            if s.remote == Some(remote) {
                s.error = Some(err);
                net.wake(h);
            }
        }
    }

    fn holders(&self, port: u16, except: SocketHandle) -> Vec<Holder> {
        let socks = self.ports.holders(port).filter(|o| *o != except);
        socks
            .filter_map(|o| self.socks.get(&o))
            .map(|s| Holder {
                ip: s.inet.bound_ip(),
                reuse: s.opts.reuseaddr,
                listening: false,
            })
            .collect()
    }

    /// bind(2) for UDP (`udp_v4_get_port()`); the address is already known
    /// to be local. Port 0 picks an ephemeral one.
    pub fn bind(
        &mut self,
        rover: &mut PortRover,
        sysctl: &Sysctl,
        h: SocketHandle,
        addr: SocketAddrV4,
    ) -> Result<(), Errno> {
        let s = self.socks.get(&h).ok_or(Errno::EBADF)?;
        if s.inet.local.is_some() {
            return Err(Errno::EINVAL);
        }
        let reuse = s.opts.reuseaddr;
        let holders = |port| self.holders(port, h);
        let bound = choose(addr, reuse, &self.ports, holders, rover, sysctl)?;
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        s.inet.bound(bound, addr.port() != 0);
        self.ports.add(bound.port(), h);
        Ok(())
    }

    /// An ephemeral port: any no UDP socket holds.
    fn pick_port(&self, rover: &mut PortRover, sysctl: &Sysctl) -> Option<u16> {
        rover.bind_port(port_range(sysctl), |port| !self.ports.contains(port))
    }

    /// Bind an unbound socket to an ephemeral port (`inet_autobind()`).
    pub fn autobind(
        &mut self,
        rover: &mut PortRover,
        sysctl: &Sysctl,
        h: SocketHandle,
    ) -> Result<SocketAddrV4, Errno> {
        let s = self.socks.get(&h).ok_or(Errno::EBADF)?;
        if let Some(a) = s.inet.local {
            return Ok(a);
        }
        let port = self.pick_port(rover, sysctl).ok_or(Errno::EAGAIN)?;
        let a = wildcard(port);
        if let Some(s) = self.socks.get_mut(&h) {
            s.inet.local = Some(a);
        }
        self.ports.add(port, h);
        Ok(a)
    }

    /// connect(2) (`ip4_datagram_connect()`): the default destination, and
    /// the only source datagrams are taken from.
    pub fn connect(
        &mut self,
        rover: &mut PortRover,
        sysctl: &Sysctl,
        h: SocketHandle,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        self.autobind(rover, sysctl, h)?;
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        s.remote = Some(remote);
        s.error = None;
        Ok(())
    }

    /// connect(AF_UNSPEC) (`udp_disconnect()`): the peer is forgotten, and a
    /// port bind() did not name given back; nothing queued is purged.
    pub fn disconnect(&mut self, h: SocketHandle) -> Result<(), Errno> {
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        s.remote = None;
        s.error = None;
        if !s.inet.port_locked {
            s.inet.bound_explicit = false;
            if let Some(port) = s.inet.local.take().map(|a| a.port()) {
                self.ports.remove(port, h);
            }
        }
        Ok(())
    }

    /// sendto(2) (`udp_sendmsg()`): a pending error first, then autobind and
    /// one datagram, from the bound address or ours.
    pub fn sendto(
        &mut self,
        net: &mut Net,
        h: SocketHandle,
        data: &[u8],
        remote: SocketAddrV4,
    ) -> Result<usize, Errno> {
        if data.len() > MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let local = self.autobind(&mut net.host.rover, net.sysctl, h)?;
        let src = if local.ip().is_unspecified() {
            net.host.addr
        } else {
            *local.ip()
        };
        let mut body = Vec::with_capacity(8 + data.len());
        UdpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            payload: data,
        }
        .emit(src, *remote.ip(), &mut body);
        net.mib.udp.out_datagrams += 1;
        let ttl = net.ttl();
        net.host
            .tx
            .datagram(&mut net.mib.ip, ttl, src, *remote.ip(), PROTO_UDP, &body);
        Ok(data.len())
    }

    /// send(2) on a connected socket.
    pub fn send(&mut self, net: &mut Net, h: SocketHandle, data: &[u8]) -> Result<usize, Errno> {
        let s = self.socks.get(&h).ok_or(Errno::EBADF)?;
        let remote = s.remote.ok_or(Errno::EDESTADDRREQ)?;
        self.sendto(net, h, data, remote)
    }

    /// One datagram; longer than `buf` is truncated, as recv(2) without MSG_TRUNC.
    pub fn recvfrom(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<(usize, SocketAddrV4), Errno> {
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let (from, data) = s.dequeue(peek).ok_or(Errno::EAGAIN)?;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    /// What getsockname() shows.
    pub fn local_addr(&self, h: SocketHandle) -> Option<SocketAddrV4> {
        let s = self.socks.get(&h)?;
        Some(s.inet.local.or(s.inet.stale_name).unwrap_or(wildcard(0)))
    }

    /// The rows `ss -u` lists: bound sockets only; "connected" state 1
    /// (ESTABLISHED) or 7 (UNCONN), as `udp_diag` reports them.
    pub fn diag_rows(&self, out: &mut Vec<SockInfo>) {
        for h in self.socks.keys() {
            self.diag_row(*h, out);
        }
    }

    /// Every UDP socket's handle, for a dump.
    pub fn diag_keys(&self) -> Vec<SocketHandle> {
        self.socks.keys().copied().collect()
    }

    /// Socket `h`'s row, if it is bound (and still there).
    pub fn diag_row(&self, h: SocketHandle, out: &mut Vec<SockInfo>) {
        let Some(s) = self.socks.get(&h) else {
            return;
        };
        let Some(local) = s.inet.local else {
            return;
        };
        let state = if s.remote.is_some() { 1 } else { 7 };
        let peer = s.remote.map_or(WireAddr::UNSPECIFIED, WireAddr::from);
        out.push(SockInfo {
            recv_q: s.rx_bytes as u64,
            sk: u64::from(h.0),
            ..SockInfo::row("udp", state, local.into(), peer)
        });
    }

    /// /proc/net/sockstat's `UDP: inuse`: bound sockets.
    pub fn inuse(&self) -> usize {
        self.socks
            .values()
            .filter(|s| s.inet.local.is_some())
            .count()
    }
}
