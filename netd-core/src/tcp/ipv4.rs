//! TCP over IPv4 as `tcp_ipv4.c` and `inet_connection_sock.c` do it:
//! demultiplexing a segment (`tcp_v4_rcv()`), ICMP errors for a connection
//! (`tcp_v4_err()`), the active open with its port choice and TIME-WAIT
//! takeover (`tcp_v4_connect()`, `__inet_hash_connect()`), binding
//! (`inet_csk_get_port()`), listen, accept and the end of listening.

use super::listen::{ListenAction, Listener};
use super::output::reset_for;
use super::sock::{Reconnect, Role, TcpSock};
use super::table::TcpTables;
use super::timewait::TwAction;
use super::{ConnState, Ctx, FourTuple, SeqNum, Tcb};
use crate::inet::bind::{choose, port_range, PortRover};
use crate::inet::wildcard;
use crate::net::Net;
use crate::sock::SocketHandle;
use crate::sysctl::Sysctl;
use crate::wire::icmp::{CODE_FRAG_NEEDED, CODE_HOST_UNREACH, CODE_NET_UNREACH};
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::tcp::TcpRepr;
use crate::wire::WireError;
use netd_proto::Errno;
use std::net::{Ipv4Addr, SocketAddrV4};

impl TcpTables {
    /// A TCP segment from IP (`tcp_v4_rcv()`): checked, counted, and handed
    /// to whoever holds its 4-tuple.
    pub fn v4_rcv(&mut self, net: &mut Net, hdr: &Ipv4Repr, payload: &[u8], csum_ok: bool) {
        let seg = match TcpRepr::parse_with(hdr.src, hdr.dst, payload, !csum_ok) {
            Ok(s) => s,
            Err(e) => {
                net.mib.tcp.in_errs += 1;
                if e == WireError::Checksum {
                    net.mib.tcp.in_csum_errors += 1;
                }
                return;
            }
        };
        net.mib.tcp.in_segs += 1;
        let tuple = FourTuple {
            local: SocketAddrV4::new(hdr.dst, seg.dst_port),
            remote: SocketAddrV4::new(hdr.src, seg.src_port),
        };
        self.demux(net, tuple, &seg);
    }

    /// The segment's connection, else a TIME-WAIT bucket, else a listener,
    /// else an RST.
    fn demux(&mut self, net: &mut Net, tuple: FourTuple, seg: &TcpRepr) {
        if let Some(&h) = self.established.get(&tuple) {
            self.with_tcb(net, h, |tcb, ctx| tcb.on_segment(ctx, seg));
            self.after(net, h);
            return;
        }
        let mut isn = None;
        if self.timewait.contains(&tuple) {
            let mut ctx = Ctx::new(net, &self.secrets, &mut self.challenge);
            match self.timewait.process(&mut ctx, &tuple, seg) {
                None | Some(TwAction::Done) => return,
                Some(TwAction::Rst) => {
                    reset_for(&mut ctx, &tuple, seg);
                    self.timewait.remove(&tuple);
                    return;
                }
                Some(TwAction::Kill) => {
                    self.timewait.remove(&tuple);
                    return;
                }
                Some(TwAction::Syn(n)) => {
                    self.timewait.remove(&tuple);
                    isn = Some(n);
                }
            }
        }
        let listener = self.listeners.get(&tuple.local);
        let listener = listener.or_else(|| self.listeners.get(&wildcard(tuple.local.port())));
        let Some(&lh) = listener else {
            let mut ctx = Ctx::new(net, &self.secrets, &mut self.challenge);
            reset_for(&mut ctx, &tuple, seg);
            return;
        };
        self.listener_rcv(net, lh, tuple, seg, isn);
        self.reschedule(lh);
    }

    /// A segment for listener `lh` (`tcp_v4_do_rcv()` in TCP_LISTEN):
    /// a SYN, the rest of a handshake, or a SYN cookie coming back.
    fn listener_rcv(
        &mut self,
        net: &mut Net,
        lh: SocketHandle,
        tuple: FourTuple,
        seg: &TcpRepr,
        isn: Option<SeqNum>,
    ) {
        let mut ctx = Ctx::new(net, &self.secrets, &mut self.challenge);
        let Some(Role::Listen(listener)) = self.socks.get_mut(&lh).map(|s| &mut s.role) else {
            return;
        };
        let action = if listener.syn_queue.contains_key(&tuple) {
            listener.on_request_segment(&mut ctx, tuple, seg)
        } else if seg.flags.rst() {
            ListenAction::Nothing
        } else if seg.flags.ack() && !seg.flags.syn() {
            listener.on_cookie_ack(&mut ctx, tuple, seg)
        } else if seg.flags.ack() {
            reset_for(&mut ctx, &tuple, seg);
            ListenAction::Nothing
        } else if seg.flags.syn() {
            listener.on_syn(&mut ctx, tuple, seg, isn);
            ListenAction::Nothing
        } else {
            ListenAction::Nothing
        };
        let ListenAction::Promote(req) = action else {
            return;
        };
        let opts = listener.opts;
        let mut tcb = Tcb::from_request(&ctx, &req, seg, opts);
        ctx.mib.tcp.passive_opens += 1;
        if !seg.payload.is_empty() || seg.flags.fin() {
            tcb.on_segment(&mut ctx, seg);
        }
        let child = net.host.alloc_handle();
        let mut sock = TcpSock::new();
        sock.inet.local = Some(tuple.local);
        sock.opts = opts;
        sock.role = Role::Conn(Box::new(tcb));
        sock.had_connection = true;
        sock.accept_parent = Some(lh);
        self.socks.insert(child, sock);
        self.established.insert(tuple, child);
        self.ports.add(tuple.local.port(), child);
        if let Some(Role::Listen(l)) = self.socks.get_mut(&lh).map(|s| &mut s.role) {
            l.accept_queue.push_back(child);
        }
        net.wake(lh);
        self.after(net, child);
    }

    /// An ICMP destination-unreachable quoting one of our segments
    /// (`tcp_v4_err()`): fatal during the handshake, a soft error after it,
    /// which is reported if the connection times out. It must quote a
    /// sequence number we sent and is not acknowledged yet (`between(seq,
    /// snd_una, snd_nxt)`), or anyone who knows the 4-tuple could kill a
    /// connect() blindly: it is counted (OutOfWindowIcmps) and ignored. One
    /// for a SYN-ACK of ours goes to its request sock (`tcp_req_err()`).
    pub fn v4_err(&mut self, net: &mut Net, tuple: FourTuple, seq: SeqNum, code: u8, err: Errno) {
        let Some(&h) = self.established.get(&tuple) else {
            self.request_err(net, tuple, seq, code);
            return;
        };
        let Some(tcb) = self.socks.get_mut(&h).and_then(TcpSock::tcb_mut) else {
            return;
        };
        if seq.before(tcb.snd_una) || seq.after(tcb.snd_max) {
            net.mib.tcp_ext.out_of_window_icmps += 1;
            return;
        }
        if code == CODE_FRAG_NEEDED {
            return;
        }
        if matches!(tcb.state, ConnState::SynSent | ConnState::SynRcvd) {
            tcb.close_counted(net.mib);
            tcb.error = Some(err);
        } else {
            tcb.soft_error = Some(err);
        }
        self.after(net, h);
    }

    /// An ICMP error for a half-open connection (`tcp_req_err()`): it must
    /// quote our SYN-ACK's ISN; a network or host unreachable then drops the
    /// request silently (ListenDrops), as accept() must not see network
    /// errors.
    fn request_err(&mut self, net: &mut Net, tuple: FourTuple, seq: SeqNum, code: u8) {
        let listener = self.listeners.get(&tuple.local);
        let listener = listener.or_else(|| self.listeners.get(&wildcard(tuple.local.port())));
        let Some(Role::Listen(l)) = listener
            .and_then(|lh| self.socks.get_mut(lh))
            .map(|s| &mut s.role)
        else {
            return;
        };
        let abort = matches!(code, CODE_NET_UNREACH | CODE_HOST_UNREACH);
        l.icmp_error(net.mib, tuple, seq, abort);
    }

    /// bind(2) for TCP (`inet_csk_get_port()`); the address is already
    /// known to be local. Port 0 picks an ephemeral one.
    pub fn bind(
        &mut self,
        rover: &mut PortRover,
        sysctl: &Sysctl,
        h: SocketHandle,
        addr: SocketAddrV4,
    ) -> Result<(), Errno> {
        let s = self.open(h).ok_or(Errno::EBADF)?;
        if s.inet.local.is_some() {
            return Err(Errno::EINVAL);
        }
        let reuse = s.opts().reuseaddr;
        let holders = |port| self.holders(port, h);
        let bound = choose(addr, reuse, &self.ports, holders, rover, sysctl)?;
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        s.inet.bound(bound, addr.port() != 0);
        self.ports.add(bound.port(), h);
        Ok(())
    }

    /// listen(2) (`inet_listen()`, `inet_csk_listen_start()`): a listener
    /// on the bound address, binding an ephemeral port first if none is.
    /// Again on a listener, only the backlog changes.
    pub fn listen(&mut self, net: &mut Net, h: SocketHandle, backlog: u32) -> Result<(), Errno> {
        let s = self.open(h).ok_or(Errno::EBADF)?;
        match &s.role {
            Role::Conn(_) => return Err(Errno::EINVAL),
            Role::Listen(_) => {
                if let Some(Role::Listen(l)) = self.socks.get_mut(&h).map(|s| &mut s.role) {
                    l.backlog = backlog;
                }
                return Ok(());
            }
            Role::Idle => {}
        }
        if s.had_connection {
            return Err(Errno::EINVAL);
        }
        if s.inet.local.is_none() {
            self.bind(&mut net.host.rover, net.sysctl, h, wildcard(0))?;
        }
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        let local = s.inet.local.ok_or(Errno::EINVAL)?;
        s.role = Role::Listen(Box::new(Listener::new(local, backlog, s.opts)));
        self.listeners.insert(local, h);
        self.reschedule(h);
        Ok(())
    }

    /// Take a completed connection (`inet_csk_accept()`); EAGAIN when none
    /// is queued: the core never blocks.
    pub fn accept(&mut self, h: SocketHandle) -> Result<(SocketHandle, SocketAddrV4), Errno> {
        let s = self.socks.get_mut(&h).filter(|s| !s.is_orphan());
        let Some(Role::Listen(l)) = s.map(|s| &mut s.role) else {
            return Err(Errno::EINVAL);
        };
        let child = l.accept_queue.pop_front().ok_or(Errno::EAGAIN)?;
        let c = self.socks.get_mut(&child).ok_or(Errno::ECONNABORTED)?;
        c.accept_parent = None;
        let peer = c.tcb().map(|t| t.tuple.remote).ok_or(Errno::ECONNABORTED)?;
        Ok((child, peer))
    }

    /// `inet_csk_listen_stop()`: the socket stops listening and every
    /// connection still in its accept queue is reset and freed.
    pub fn stop_listening(&mut self, net: &mut Net, h: SocketHandle) {
        let Some(s) = self.socks.get_mut(&h).filter(|s| s.is_listening()) else {
            return;
        };
        let Role::Listen(l) = std::mem::replace(&mut s.role, Role::Idle) else {
            return;
        };
        if self.listeners.get(&l.local) == Some(&h) {
            self.listeners.remove(&l.local);
        }
        for child in l.accept_queue {
            self.with_tcb(net, child, |tcb, ctx| tcb.reset_and_close(ctx));
            self.destroy(child);
        }
        self.reschedule(h);
    }

    /// connect(2) (`__inet_stream_connect()`, `tcp_v4_connect()`):
    /// EINPROGRESS at once, as the core never blocks; later calls report as
    /// Linux does (see [`Tcb::connect_again`]), and after a failure the
    /// socket may connect again.
    pub fn connect(
        &mut self,
        net: &mut Net,
        h: SocketHandle,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        let s = self
            .socks
            .get_mut(&h)
            .filter(|s| !s.is_orphan())
            .ok_or(Errno::EBADF)?;
        match &mut s.role {
            Role::Listen(_) => return Err(Errno::EISCONN),
            Role::Conn(tcb) => {
                return match tcb.connect_again() {
                    Reconnect::Connected => Ok(()),
                    Reconnect::Refuse(e) => Err(e),
                    Reconnect::Ended(e) => {
                        self.disconnect(net, h)?;
                        Err(e)
                    }
                };
            }
            Role::Idle => {}
        }
        let bound = s.inet.local;
        let explicit = s.inet.bound_explicit && bound.is_some();
        // Loopback destinations are reached from a loopback source, as Linux routes them.
        let default_ip = if remote.ip().is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            net.host.addr
        };
        let local = match bound {
            Some(a) if a.ip().is_unspecified() => SocketAddrV4::new(default_ip, a.port()),
            Some(a) => a,
            None => {
                let port = self.connect_port(net, default_ip, remote);
                SocketAddrV4::new(default_ip, port.ok_or(Errno::EADDRNOTAVAIL)?)
            }
        };
        let tuple = FourTuple { local, remote };
        if self.established.contains_key(&tuple) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        // Taking over a TIME-WAIT tuple: the new incarnation continues past
        // the old one's sequence space.
        let mut inherit = None;
        if let Some(tw) = self.timewait.get(&tuple) {
            if !tw.reusable(net.sysctl, net.now, explicit) {
                return Err(Errno::EADDRNOTAVAIL);
            }
            inherit = Some(tw.successor());
            self.timewait.remove(&tuple);
            net.mib.tcp_ext.tw_recycled += 1;
        }
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        let mut ctx = Ctx::new(net, &self.secrets, &mut self.challenge);
        let tcb = Tcb::connect(&mut ctx, tuple, s.opts, inherit);
        s.role = Role::Conn(Box::new(tcb));
        s.had_connection = true;
        s.inet.local = Some(local);
        if bound.is_none() {
            self.ports.add(local.port(), h);
        }
        self.established.insert(tuple, h);
        self.reschedule(h);
        Err(Errno::EINPROGRESS)
    }

    /// connect() autobind: a port no socket bound with bind() or listens
    /// on, whose 4-tuple to `remote` is free or held by a TIME-WAIT bucket
    /// that may be taken over.
    fn connect_port(
        &mut self,
        net: &mut Net,
        local_ip: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Option<u16> {
        let (socks, ports) = (&self.socks, &self.ports);
        let (established, timewait) = (&self.established, &self.timewait);
        let (sysctl, now) = (net.sysctl, net.now);
        let usable = |port| {
            // Ports bound with bind() or listening are not shared with connect().
            let explicit = ports.holders(port).any(|o| {
                socks
                    .get(&o)
                    .is_some_and(|s| s.inet.bound_explicit || s.is_listening())
            });
            let tuple = FourTuple {
                local: SocketAddrV4::new(local_ip, port),
                remote,
            };
            !explicit
                && !established.contains_key(&tuple)
                && timewait
                    .get(&tuple)
                    .is_none_or(|tw| tw.reusable(sysctl, now, false))
        };
        net.host.rover.connect_port(port_range(sysctl), usable)
    }

    /// connect(AF_UNSPEC) (`tcp_disconnect()`), also the end of a failed
    /// connect(): the socket is unconnected again, free to bind or connect,
    /// and gives back a port it did not bind itself. A listener stops
    /// listening; a synchronized connection is reset, and the error SO_ERROR
    /// then reports is returned.
    pub fn disconnect(&mut self, net: &mut Net, h: SocketHandle) -> Result<Option<Errno>, Errno> {
        let mtu = u32::try_from(net.host.tx.mtu).unwrap_or(u32::MAX);
        let s = self.open(h).ok_or(Errno::EBADF)?;
        let mut error = None;
        match &s.role {
            Role::Idle => {}
            Role::Listen(_) => self.stop_listening(net, h),
            Role::Conn(_) => {
                error = self
                    .with_tcb(net, h, |tcb, ctx| tcb.disconnect(ctx))
                    .flatten();
                let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
                if let Role::Conn(tcb) = std::mem::replace(&mut s.role, Role::Idle) {
                    let tuple = tcb.tuple;
                    s.inet.stale_name = Some(wildcard(tuple.local.port()));
                    // TCP_MAXSEG keeps the connection's (mss_cache survives).
                    let clamp = match s.opts.maxseg {
                        0 => 536,
                        m => u32::from(m),
                    };
                    s.stale_mss = Some(tcb.mss_cache(clamp, mtu));
                    if self.established.get(&tuple) == Some(&h) {
                        self.established.remove(&tuple);
                    }
                }
            }
        }
        let s = self.socks.get_mut(&h).ok_or(Errno::EBADF)?;
        if !s.inet.port_locked {
            s.inet.bound_explicit = false;
            if let Some(port) = s.inet.local.take().map(|a| a.port()) {
                // TCP keeps showing the port (`inet_sport`).
                s.inet.stale_name = Some(wildcard(port));
                self.ports.remove(port, h);
            }
        }
        self.reschedule(h);
        Ok(error)
    }
}
