//! The stack: socket tables, IPv4 input and demultiplexing, timers, and the
//! socket calls. Sans-I/O: every call takes `now`; packets leave through
//! [`Stack::poll_transmit`].

use crate::icmp;
use crate::ip::frag::{FragLimits, Reassembly};
use crate::ip::{Offloads, Tx, TxPacket};
use crate::mib::Mib;
use crate::socket::{
    PollEvents, Shutdown, SockOpt, SockOptName, SockOptValue, SockType, Socket, SocketHandle,
    TcpSock,
};
use crate::sysctl::Sysctl;
use crate::tcp::listen::{ListenAction, Listener};
use crate::tcp::output::reset_for;
use crate::tcp::tcb::{Negotiated, MIN_MSS};
use crate::tcp::timewait::{TimeWaitSock, TwAction, TIMEWAIT_LEN};
use crate::tcp::{ChallengeLimiter, Ctx, FourTuple, Secrets, SeqNum, State, Tcb};
use crate::time::Instant;
use crate::udp::MAX_PAYLOAD;
use crate::wire::icmp as icmpw;
use crate::wire::ipv4::{Ipv4Repr, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use crate::wire::tcp::TcpRepr;
use crate::wire::udp::UdpRepr;
use crate::wire::WireError;
use core::cmp::Reverse;
use core::time::Duration;
use netd_proto::Errno;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};

/// How a stack is set up: its address, link MTU and the seed its secrets
/// (ISN key, timestamp offsets) are derived from.
#[derive(Clone, Copy, Debug)]
pub struct StackConfig {
    pub addr: Ipv4Addr,
    pub mtu: usize,
    pub seed: u64,
}

/// Loopback packets processed per `poll` before yielding, so a packet storm
/// between local sockets cannot hold the caller forever.
const LOOPBACK_BUDGET: usize = 10_000;

/// TIME-WAIT and FIN-WAIT-2 buckets expire together in slots of this length:
/// the stack is woken for the end of a slot, not for each bucket. Without
/// it a sustained connection rate woke netd once per bucket 60 s later
/// (about 8 % fewer connections per second and 11 % more CPU per
/// connection from then on). Linux's timer wheel is coarser still: a 60 s
/// timer fires up to 4 s late at HZ=1000.
pub const TW_SLOT: Duration = Duration::from_millis(125);

/// The end of the slot that `t` falls in.
fn tw_slot(t: Instant) -> Instant {
    let slot = TW_SLOT.as_micros() as u64;
    Instant::from_micros(t.as_micros().div_ceil(slot) * slot)
}

pub struct Stack {
    pub sysctl: Sysctl,
    pub mib: Mib,
    addr: Ipv4Addr,
    secrets: Secrets,
    tx: Tx,
    frags: Reassembly,
    sockets: HashMap<SocketHandle, Socket>,
    next_handle: u32,
    /// Connected TCP sockets (SYN-SENT onwards) by 4-tuple.
    established: HashMap<FourTuple, SocketHandle>,
    /// Listening sockets by local address (0.0.0.0 for the wildcard).
    listeners: HashMap<SocketAddrV4, SocketHandle>,
    timewait: HashMap<FourTuple, TimeWaitSock>,
    tw_timers: BTreeSet<(Instant, u64)>,
    tw_keys: HashMap<u64, FourTuple>,
    tw_next: u64,
    /// Bind table: sockets holding each port.
    /// Sets, not lists: a server port holds every accepted child, and
    /// closing one must not cost a scan of all the others.
    tcp_ports: HashMap<u16, BTreeSet<SocketHandle>>,
    /// TIME-WAIT tuples by local port: they hold the port for bind() too.
    tw_ports: HashMap<u16, BTreeSet<FourTuple>>,
    udp_ports: HashMap<u16, BTreeSet<SocketHandle>>,
    timers: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
    port_offset: u32,
    challenge: ChallengeLimiter,
    /// ICMP error rate limits (`icmp_ratelimit`, `icmp_msgs_per_sec`).
    icmp_limit: icmp::RateLimiter,
    /// Sockets whose readiness may have changed since `take_wakeups()`.
    wakeups: Vec<SocketHandle>,
}

/// A TCP context borrowing only the fields it needs, so the socket tables
/// stay available beside it.
macro_rules! ctx {
    ($s:ident, $now:expr) => {
        Ctx {
            now: $now,
            sysctl: &$s.sysctl,
            mib: &mut $s.mib,
            tx: &mut $s.tx,
            secrets: &$s.secrets,
            challenge: &mut $s.challenge,
        }
    };
}

fn wildcard(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)
}

impl Stack {
    pub fn new(cfg: StackConfig) -> Stack {
        Stack {
            sysctl: Sysctl::default(),
            mib: Mib::default(),
            addr: cfg.addr,
            secrets: Secrets::from_seed(cfg.seed),
            tx: Tx::new(cfg.addr, cfg.mtu.max(68)),
            frags: Reassembly::default(),
            sockets: HashMap::new(),
            next_handle: 1,
            established: HashMap::new(),
            listeners: HashMap::new(),
            timewait: HashMap::new(),
            tw_timers: BTreeSet::new(),
            tw_keys: HashMap::new(),
            tw_next: 0,
            tcp_ports: HashMap::new(),
            tw_ports: HashMap::new(),
            udp_ports: HashMap::new(),
            timers: BinaryHeap::new(),
            port_offset: (cfg.seed as u32).wrapping_mul(2_654_435_761),
            challenge: ChallengeLimiter::default(),
            icmp_limit: icmp::RateLimiter::default(),
            wakeups: Vec::new(),
        }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    // ----- the packet interface -----------------------------------------

    /// The next packet for the link. Complete packets only while no
    /// offloads are set; a link with offloads reads [`poll_transmit_packet`](Self::poll_transmit_packet).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.queue.pop_front().map(|p| p.data)
    }

    /// The next packet for the link with what the link must still do to it
    /// (segment it, complete its checksum).
    pub fn poll_transmit_packet(&mut self) -> Option<TxPacket> {
        self.tx.queue.pop_front()
    }

    /// Hand back a transmitted packet's buffer for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.tx.recycle(buf);
    }

    /// Tell the stack what the link does for it (a TUN device with a
    /// virtio-net header): TCP then sends super-segments up to
    /// `offloads.tso_max` bytes and leaves checksums partial.
    pub fn set_offloads(&mut self, offloads: Offloads) {
        self.tx.offloads = offloads;
    }

    /// The earliest time [`poll`](Self::poll) has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sockets = self.timers.peek().map(|Reverse((t, _))| *t);
        let tw = self.tw_timers.first().map(|(t, _)| tw_slot(*t));
        let frag = self.frags.next_deadline();
        [sockets, tw, frag].into_iter().flatten().min()
    }

    /// True when looped-back packets wait to be processed.
    pub fn has_loopback(&self) -> bool {
        !self.tx.loopback.is_empty()
    }

    /// Deliver packets sent to ourselves and run every timer due at `now`.
    pub fn poll(&mut self, now: Instant) {
        let mut budget = LOOPBACK_BUDGET;
        while let Some(pkt) = self.tx.loopback.pop_front() {
            self.receive(now, &pkt);
            self.tx.recycle(pkt);
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        while let Some(&Reverse((t, h))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            self.socket_timer(now, h, t);
        }
        while let Some(&(t, key)) = self.tw_timers.first() {
            if t > now {
                break;
            }
            self.tw_timers.pop_first();
            if let Some(tuple) = self.tw_keys.remove(&key) {
                if self
                    .timewait
                    .get(&tuple)
                    .is_some_and(|tw| tw.deadline <= now)
                {
                    self.remove_timewait(&tuple);
                    self.mib.tcp_ext.tw += 1;
                } else if let Some(tw) = self.timewait.get(&tuple) {
                    let d = tw.deadline;
                    self.arm_tw(tuple, d);
                }
            }
        }
        if self.frags.next_deadline().is_some_and(|d| d <= now) {
            for dead in self.frags.expire(now, &mut self.mib.ip) {
                // RFC 792: time exceeded in reassembly, only if the first fragment came.
                if let Some(first) = dead.first {
                    let msg =
                        icmp::build(icmpw::TIME_EXCEEDED, 1, [0; 4], icmp::error_body(&first));
                    self.send_icmp(now, dead.src, &msg);
                }
            }
        }
        self.purge_stale_timers();
    }

    /// Drop timer entries at the front of the queue that no longer match a
    /// deadline: the socket is gone, or its earliest deadline was cancelled
    /// or moved later (it is queued again at the real one). Entries are
    /// never removed when a timer is stopped, so without this every finished
    /// connection left one behind that woke the daemon for nothing: one
    /// timer expiry, read and re-arm per connection under a connection-rate
    /// load, and a burst of empty wake-ups long after it.
    fn purge_stale_timers(&mut self) {
        while let Some(&Reverse((t, h))) = self.timers.peek() {
            if self.socket_deadline(h).is_some_and(|d| d <= t) {
                break;
            }
            self.timers.pop();
            if let Some(sock) = self.sockets.get_mut(&h) {
                if sock.scheduled == Some(t) {
                    sock.scheduled = None;
                }
            }
            self.reschedule(h);
        }
    }

    /// One IPv4 packet from the link (`ip_rcv()`); anything malformed is
    /// counted under its Linux name and dropped.
    pub fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.receive_offloaded(now, packet, false);
    }

    /// As [`receive`](Self::receive) for a packet whose TCP/UDP checksum the
    /// link vouched for (`csum_ok`: virtio NEEDS_CSUM from a local sender, or
    /// DATA_VALID), which may be a GSO super-segment longer than the MTU:
    /// Linux takes CHECKSUM_PARTIAL/UNNECESSARY skbs without summing them.
    pub fn receive_offloaded(&mut self, now: Instant, packet: &[u8], csum_ok: bool) {
        self.mib.ip.in_receives += 1;
        let (hdr, payload) = match Ipv4Repr::parse(packet) {
            Ok(v) => v,
            Err(WireError::Checksum) => {
                self.mib.ip.in_csum_errors += 1;
                self.mib.ip.in_hdr_errors += 1;
                return;
            }
            Err(WireError::Truncated) => {
                self.mib.ip.in_truncated_pkts += 1;
                return;
            }
            Err(WireError::Malformed) => {
                self.mib.ip.in_hdr_errors += 1;
                return;
            }
        };
        if hdr.dst != self.addr && !hdr.dst.is_loopback() {
            // Not forwarding (net.ipv4.ip_forward = 0).
            self.mib.ip.in_addr_errors += 1;
            return;
        }
        if hdr.is_fragment() {
            let limits = FragLimits {
                timeout: Duration::from_secs(self.sysctl.ipfrag_time.max(0) as u64),
                high_thresh: self.sysctl.ipfrag_high_thresh.max(0) as usize,
            };
            if let Some(whole) =
                self.frags
                    .insert(now, limits, &mut self.mib.ip, &hdr, packet, payload)
            {
                self.deliver(now, &hdr, &whole, packet, false);
            }
            return;
        }
        self.deliver(now, &hdr, payload, packet, csum_ok);
    }

    fn deliver(
        &mut self,
        now: Instant,
        hdr: &Ipv4Repr,
        payload: &[u8],
        packet: &[u8],
        csum_ok: bool,
    ) {
        match hdr.protocol {
            PROTO_TCP => {
                self.mib.ip.in_delivers += 1;
                self.tcp_input(now, hdr, payload, csum_ok);
            }
            PROTO_UDP => {
                self.mib.ip.in_delivers += 1;
                self.udp_input(now, hdr, payload, packet, csum_ok);
            }
            PROTO_ICMP => {
                self.mib.ip.in_delivers += 1;
                self.icmp_input(now, hdr, payload);
            }
            _ => {
                self.mib.ip.in_unknown_protos += 1;
                let msg = icmp::build(
                    icmpw::DEST_UNREACH,
                    icmpw::CODE_PROTO_UNREACH,
                    [0; 4],
                    icmp::error_body(packet),
                );
                self.send_icmp(now, hdr.src, &msg);
            }
        }
    }

    fn ttl(&self) -> u8 {
        self.sysctl.ip_default_ttl.clamp(1, 255) as u8
    }

    /// `icmp_send()`/`icmp_reply()`: subject to the rate limits, then out.
    fn send_icmp(&mut self, now: Instant, dst: Ipv4Addr, msg: &[u8]) {
        if let [msg_type, code, ..] = *msg {
            let limit = &mut self.icmp_limit;
            if !limit.allow(now, dst, msg_type, code, &self.sysctl, &mut self.mib.icmp) {
                return;
            }
        }
        self.mib.icmp.out_msgs += 1;
        match msg.first() {
            Some(&icmpw::DEST_UNREACH) => self.mib.icmp.out_dest_unreachs += 1,
            Some(&icmpw::ECHO_REPLY) => self.mib.icmp.out_echo_reps += 1,
            _ => {}
        }
        let ttl = self.ttl();
        self.tx
            .datagram(&mut self.mib.ip, ttl, self.addr, dst, PROTO_ICMP, msg);
    }

    fn icmp_input(&mut self, now: Instant, hdr: &Ipv4Repr, payload: &[u8]) {
        self.mib.icmp.in_msgs += 1;
        let msg = match icmpw::IcmpRepr::parse(payload) {
            Ok(m) => m,
            Err(e) => {
                self.mib.icmp.in_errors += 1;
                if e == WireError::Checksum {
                    self.mib.icmp.in_csum_errors += 1;
                }
                return;
            }
        };
        match msg.msg_type {
            icmpw::ECHO_REQUEST => {
                self.mib.icmp.in_echos += 1;
                if self.sysctl.icmp_echo_ignore_all != 0 {
                    return;
                }
                let reply = icmp::build(icmpw::ECHO_REPLY, 0, msg.rest, msg.body);
                self.send_icmp(now, hdr.src, &reply);
            }
            icmpw::ECHO_REPLY => self.mib.icmp.in_echo_reps += 1,
            icmpw::TIME_EXCEEDED => self.mib.icmp.in_time_excds += 1,
            icmpw::DEST_UNREACH => {
                self.mib.icmp.in_dest_unreachs += 1;
                self.icmp_error(now, msg.code, msg.body);
            }
            _ => {}
        }
    }

    /// Route an ICMP destination-unreachable to the socket whose datagram
    /// it quotes (`udp_err()`, `tcp_v4_err()`).
    fn icmp_error(&mut self, now: Instant, code: u8, quoted: &[u8]) {
        let Ok((inner, rest)) = Ipv4Repr::parse_quoted(quoted) else {
            return;
        };
        if rest.len() < 8 || inner.src != self.addr {
            return;
        }
        let sport = u16::from_be_bytes([rest[0], rest[1]]);
        let dport = u16::from_be_bytes([rest[2], rest[3]]);
        let tuple = FourTuple {
            local: SocketAddrV4::new(inner.src, sport),
            remote: SocketAddrV4::new(inner.dst, dport),
        };
        let err = icmp::unreach_errno(code);
        match inner.protocol {
            PROTO_UDP => {
                let h = self.udp_lookup(tuple.local, tuple.remote);
                if let Some(udp) = h
                    .and_then(|h| self.sockets.get_mut(&h))
                    .and_then(|s| s.udp.as_mut())
                {
                    // Only connected sockets hear about errors (no IP_RECVERR).
                    if udp.remote == Some(tuple.remote) {
                        udp.error = Some(err);
                        if let Some(h) = h {
                            self.wakeups.push(h);
                        }
                    }
                }
            }
            PROTO_TCP => {
                let Some(&h) = self.established.get(&tuple) else {
                    return;
                };
                let Some(tcb) = self.sockets.get_mut(&h).and_then(|s| s.tcb_mut()) else {
                    return;
                };
                if code == icmpw::CODE_FRAG_NEEDED {
                    return;
                }
                if matches!(tcb.state, State::SynSent | State::SynRcvd) {
                    tcb.close_counted(&mut self.mib);
                    tcb.error = Some(err);
                } else {
                    tcb.soft_error = Some(err);
                }
                self.tcp_after(now, h);
            }
            _ => {}
        }
    }

    // ----- UDP ------------------------------------------------------------

    /// Best match for a datagram: a connected socket, then one bound to the
    /// address, then the wildcard (`udp4_lib_lookup` scoring, simplified).
    fn udp_lookup(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<SocketHandle> {
        let cands = self.udp_ports.get(&local.port())?;
        let mut best = None;
        let mut best_score = -1;
        for &h in cands {
            let Some(s) = self.sockets.get(&h) else {
                continue;
            };
            let Some(udp) = &s.udp else { continue };
            let bound = s.local.map_or(Ipv4Addr::UNSPECIFIED, |a| *a.ip());
            if !bound.is_unspecified() && bound != *local.ip() {
                continue;
            }
            let mut score = i32::from(!bound.is_unspecified());
            if let Some(r) = udp.remote {
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

    fn udp_input(
        &mut self,
        now: Instant,
        hdr: &Ipv4Repr,
        payload: &[u8],
        packet: &[u8],
        csum_ok: bool,
    ) {
        let dgram = match UdpRepr::parse_with(hdr.src, hdr.dst, payload, !csum_ok) {
            Ok(d) => d,
            Err(e) => {
                self.mib.udp.in_errors += 1;
                if e == WireError::Checksum {
                    self.mib.udp.in_csum_errors += 1;
                }
                return;
            }
        };
        let local = SocketAddrV4::new(hdr.dst, dgram.dst_port);
        let remote = SocketAddrV4::new(hdr.src, dgram.src_port);
        let Some(h) = self.udp_lookup(local, remote) else {
            self.mib.udp.no_ports += 1;
            // Port unreachable, but never for a fragment other than the first.
            if hdr.frag_offset == 0 {
                let msg = icmp::build(
                    icmpw::DEST_UNREACH,
                    icmpw::CODE_PORT_UNREACH,
                    [0; 4],
                    icmp::error_body(packet),
                );
                self.send_icmp(now, hdr.src, &msg);
            }
            return;
        };
        let rmem_default = usize::try_from(self.sysctl.rmem_default).unwrap_or(0);
        let Some(s) = self.sockets.get_mut(&h) else {
            return;
        };
        let rcvbuf = s.opts.rcvbuf.unwrap_or(rmem_default);
        let Some(udp) = s.udp.as_mut() else { return };
        if udp.enqueue(remote, dgram.payload, rcvbuf) {
            self.wakeups.push(h);
            self.mib.udp.in_datagrams += 1;
        } else {
            self.mib.udp.rcvbuf_errors += 1;
            self.mib.udp.in_errors += 1;
        }
    }

    // ----- TCP input and bookkeeping -------------------------------------

    fn tcp_input(&mut self, now: Instant, hdr: &Ipv4Repr, payload: &[u8], csum_ok: bool) {
        let seg = match TcpRepr::parse_with(hdr.src, hdr.dst, payload, !csum_ok) {
            Ok(s) => s,
            Err(e) => {
                self.mib.tcp.in_errs += 1;
                if e == WireError::Checksum {
                    self.mib.tcp.in_csum_errors += 1;
                }
                return;
            }
        };
        self.mib.tcp.in_segs += 1;
        let tuple = FourTuple {
            local: SocketAddrV4::new(hdr.dst, seg.dst_port),
            remote: SocketAddrV4::new(hdr.src, seg.src_port),
        };
        if let Some(&h) = self.established.get(&tuple) {
            let mut ctx = ctx!(self, now);
            let sockets = &mut self.sockets;
            if let Some(tcb) = sockets.get_mut(&h).and_then(|s| s.tcb_mut()) {
                tcb.on_segment(&mut ctx, &seg);
            }
            self.tcp_after(now, h);
            return;
        }
        let mut isn = None;
        if self.timewait.contains_key(&tuple) {
            let mut ctx = ctx!(self, now);
            let Some(tw) = self.timewait.get_mut(&tuple) else {
                return;
            };
            let action = tw.process(&mut ctx, &seg);
            let deadline = tw.deadline;
            match action {
                TwAction::Done => {
                    self.arm_tw(tuple, deadline);
                    return;
                }
                TwAction::Rst => {
                    let mut ctx = ctx!(self, now);
                    reset_for(&mut ctx, &tuple, &seg);
                    self.remove_timewait(&tuple);
                    return;
                }
                TwAction::Kill => {
                    self.remove_timewait(&tuple);
                    return;
                }
                TwAction::Syn(n) => {
                    self.remove_timewait(&tuple);
                    isn = Some(n);
                }
            }
        }
        let lh = self
            .listeners
            .get(&tuple.local)
            .or_else(|| self.listeners.get(&wildcard(tuple.local.port())))
            .copied();
        let Some(lh) = lh else {
            let mut ctx = ctx!(self, now);
            reset_for(&mut ctx, &tuple, &seg);
            return;
        };
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(TcpSock::Listen(listener)) = sockets.get_mut(&lh).map(|s| &mut s.tcp) else {
            return;
        };
        let action = if listener.syn_queue.contains_key(&tuple) {
            listener.on_request_segment(&mut ctx, tuple, &seg)
        } else if seg.flags.rst() {
            ListenAction::Nothing
        } else if seg.flags.ack() && !seg.flags.syn() {
            listener.on_cookie_ack(&mut ctx, tuple, &seg)
        } else if seg.flags.ack() {
            reset_for(&mut ctx, &tuple, &seg);
            ListenAction::Nothing
        } else if seg.flags.syn() {
            listener.on_syn(&mut ctx, tuple, &seg, isn);
            ListenAction::Nothing
        } else {
            ListenAction::Nothing
        };
        if let ListenAction::Promote(req) = action {
            let opts = listener.opts;
            let mut tcb = Tcb::from_request(&ctx, &req, &seg, opts);
            ctx.mib.tcp.passive_opens += 1;
            if !seg.payload.is_empty() || seg.flags.fin() {
                tcb.on_segment(&mut ctx, &seg);
            }
            let child = self.alloc_handle();
            let mut sock = Socket::new(SockType::Stream);
            sock.local = Some(tuple.local);
            sock.opts = opts;
            sock.tcp = TcpSock::Conn(Box::new(tcb));
            sock.had_connection = true;
            sock.accept_parent = Some(lh);
            self.sockets.insert(child, sock);
            self.established.insert(tuple, child);
            self.tcp_ports
                .entry(tuple.local.port())
                .or_default()
                .insert(child);
            if let Some(TcpSock::Listen(l)) = self.sockets.get_mut(&lh).map(|s| &mut s.tcp) {
                l.accept_queue.push_back(child);
            }
            self.wakeups.push(lh);
            self.tcp_after(now, child);
        }
        self.reschedule(lh);
    }

    fn alloc_handle(&mut self) -> SocketHandle {
        let h = SocketHandle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        h
    }

    fn arm_tw(&mut self, tuple: FourTuple, at: Instant) {
        self.tw_next += 1;
        self.tw_timers.insert((at, self.tw_next));
        self.tw_keys.insert(self.tw_next, tuple);
    }

    fn remove_timewait(&mut self, tuple: &FourTuple) {
        if self.timewait.remove(tuple).is_some() {
            let port = tuple.local.port();
            if let Some(v) = self.tw_ports.get_mut(&port) {
                v.remove(tuple);
                if v.is_empty() {
                    self.tw_ports.remove(&port);
                }
            }
        }
    }

    /// Housekeeping after anything touched a TCP socket: move finished
    /// connections to TIME-WAIT, free the dead, re-arm its timer.
    fn tcp_after(&mut self, now: Instant, h: SocketHandle) {
        self.wakeups.push(h);
        let Some(sock) = self.sockets.get_mut(&h) else {
            return;
        };
        let orphan = sock.orphan;
        let reuse = sock.opts().reuseaddr;
        let Some(tcb) = sock.tcb_mut() else {
            self.reschedule(h);
            return;
        };
        let tuple = tcb.tuple;
        let to_tw = match tcb.state {
            State::TimeWait => Some((State::TimeWait, TIMEWAIT_LEN)),
            // An orphan in FIN-WAIT-2 becomes a timewait bucket with substate
            // FIN_WAIT2 living tcp_fin_timeout (Linux tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)).
            State::FinWait2 if orphan => {
                let secs = self.sysctl.tcp_fin_timeout.max(0) as u64;
                // tcp_fin_time(): at least 3.5 RTO.
                let floor = tcb.rto() * 7 / 2;
                Some((State::FinWait2, Duration::from_secs(secs).max(floor)))
            }
            _ => None,
        };
        let mut new_tw = None;
        if let Some((substate, life)) = to_tw {
            new_tw = Some(TimeWaitSock {
                tuple,
                substate,
                snd_nxt: tcb.snd_nxt.max(tcb.snd_max),
                rcv_nxt: tcb.rcv_nxt,
                rcv_wnd: tcb.rcv_wnd,
                rcv_wscale: if tcb.neg.wscale_ok {
                    tcb.neg.rcv_wscale
                } else {
                    0
                },
                ts: tcb
                    .neg
                    .ts_ok
                    .then_some((tcb.ts_recent, tcb.ts_recent_stamp, tcb.ts_offset)),
                deadline: now + life,
                reuse,
            });
            tcb.done();
        }
        if let Some(tw) = new_tw {
            let max = self.sysctl.tcp_max_tw_buckets;
            // A negative limit compares as unsigned in Linux: unlimited.
            if max < 0 || (self.timewait.len() as i64) < max {
                let deadline = tw.deadline;
                self.timewait.insert(tuple, tw);
                self.tw_ports
                    .entry(tuple.local.port())
                    .or_default()
                    .insert(tuple);
                self.arm_tw(tuple, deadline);
            } else {
                self.mib.tcp_ext.tcp_time_wait_overflow += 1;
            }
        }
        let tcb_closed = self
            .sockets
            .get(&h)
            .and_then(|s| s.tcb())
            .is_some_and(|t| t.is_closed());
        if tcb_closed {
            if self.established.get(&tuple) == Some(&h) {
                self.established.remove(&tuple);
            }
            if orphan {
                self.destroy(h);
                return;
            }
            // A port bind() did not name is given back (`tcp_set_state(TCP_CLOSE)`
            // puts it unless SOCK_BINDPORT_LOCK).
            let release = self
                .sockets
                .get(&h)
                .is_some_and(|s| !s.port_locked && s.accept_parent.is_none());
            if release {
                if let Some(s) = self.sockets.get_mut(&h) {
                    if let Some(port) = s.local.take().map(|a| a.port()) {
                        self.unbind_port(port, h);
                    }
                }
            }
        }
        self.reschedule(h);
    }

    fn unbind_port(&mut self, port: u16, h: SocketHandle) {
        if let Some(v) = self.tcp_ports.get_mut(&port) {
            v.remove(&h);
            if v.is_empty() {
                self.tcp_ports.remove(&port);
            }
        }
        if let Some(v) = self.udp_ports.get_mut(&port) {
            v.remove(&h);
            if v.is_empty() {
                self.udp_ports.remove(&port);
            }
        }
    }

    /// Remove a socket from every table.
    fn destroy(&mut self, h: SocketHandle) {
        let Some(sock) = self.sockets.remove(&h) else {
            return;
        };
        if let Some(tcb) = sock.tcb() {
            if self.established.get(&tcb.tuple) == Some(&h) {
                self.established.remove(&tcb.tuple);
            }
        }
        if let TcpSock::Listen(l) = &sock.tcp {
            if self.listeners.get(&l.local) == Some(&h) {
                self.listeners.remove(&l.local);
            }
        }
        if let Some(port) = sock.local.map(|a| a.port()) {
            self.unbind_port(port, h);
        }
    }

    fn socket_deadline(&self, h: SocketHandle) -> Option<Instant> {
        match &self.sockets.get(&h)?.tcp {
            TcpSock::Conn(t) => t.next_deadline(),
            TcpSock::Listen(l) => l.next_deadline(),
            TcpSock::Idle => None,
        }
    }

    /// Queue a timer entry if this socket's earliest deadline moved earlier.
    fn reschedule(&mut self, h: SocketHandle) {
        let Some(d) = self.socket_deadline(h) else {
            return;
        };
        let Some(sock) = self.sockets.get_mut(&h) else {
            return;
        };
        if sock.scheduled.is_none_or(|s| d < s) {
            sock.scheduled = Some(d);
            self.timers.push(Reverse((d, h)));
        }
    }

    fn socket_timer(&mut self, now: Instant, h: SocketHandle, entry: Instant) {
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(sock) = sockets.get_mut(&h) else {
            return;
        };
        if sock.scheduled == Some(entry) {
            sock.scheduled = None;
        }
        match &mut sock.tcp {
            TcpSock::Conn(tcb) => tcb.on_timer(&mut ctx),
            TcpSock::Listen(l) => l.on_timer(&mut ctx),
            TcpSock::Idle => {}
        }
        self.tcp_after(now, h);
    }

    // ----- socket calls ----------------------------------------------------

    fn sock(&self, h: SocketHandle) -> Result<&Socket, Errno> {
        match self.sockets.get(&h) {
            Some(s) if !s.orphan => Ok(s),
            _ => Err(Errno::EBADF),
        }
    }

    fn sock_mut(&mut self, h: SocketHandle) -> Result<&mut Socket, Errno> {
        match self.sockets.get_mut(&h) {
            Some(s) if !s.orphan => Ok(s),
            _ => Err(Errno::EBADF),
        }
    }

    pub fn socket(&mut self, ty: SockType) -> Result<SocketHandle, Errno> {
        let h = self.alloc_handle();
        self.sockets.insert(h, Socket::new(ty));
        Ok(h)
    }

    /// Does binding `h` to `addr` conflict with a socket already on the port
    /// (`inet_csk_bind_conflict()`)? Addresses overlap when equal or either is
    /// the wildcard; SO_REUSEADDR on both sides allows it unless the holder listens.
    fn bind_conflict(
        &self,
        h: SocketHandle,
        addr: SocketAddrV4,
        ty: SockType,
        reuse: bool,
    ) -> bool {
        let table = match ty {
            SockType::Stream => &self.tcp_ports,
            SockType::Datagram => &self.udp_ports,
        };
        let holders = table.get(&addr.port()).into_iter().flatten();
        let overlaps = |other: Ipv4Addr| {
            other.is_unspecified() || addr.ip().is_unspecified() || other == *addr.ip()
        };
        for &o in holders {
            if o == h {
                continue;
            }
            let Some(s) = self.sockets.get(&o) else {
                continue;
            };
            let other_ip = s.local.map_or(Ipv4Addr::UNSPECIFIED, |a| *a.ip());
            if !overlaps(other_ip) {
                continue;
            }
            let listening = matches!(s.tcp, TcpSock::Listen(_));
            if !(reuse && s.opts().reuseaddr && !listening) {
                return true;
            }
        }
        if ty == SockType::Stream {
            let tws = self.tw_ports.get(&addr.port()).into_iter().flatten();
            for tw in tws.filter_map(|t| self.timewait.get(t)) {
                if overlaps(*tw.tuple.local.ip()) && !(reuse && tw.reuse) {
                    return true;
                }
            }
        }
        false
    }

    pub fn bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> Result<(), Errno> {
        // `__inet_bind()` checks the address before whether the socket is
        // bound already.
        if !addr.ip().is_unspecified() && *addr.ip() != self.addr && !addr.ip().is_loopback() {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let s = self.sock(h)?;
        if s.local.is_some() {
            return Err(Errno::EINVAL);
        }
        let (ty, reuse) = (s.ty, s.opts().reuseaddr);
        let addr_port_named = addr.port() != 0;
        let addr = if addr.port() == 0 {
            let port = self
                .pick_bind_port(h, *addr.ip(), ty)
                .ok_or(Errno::EADDRINUSE)?;
            SocketAddrV4::new(*addr.ip(), port)
        } else {
            if self.bind_conflict(h, addr, ty, reuse) {
                return Err(Errno::EADDRINUSE);
            }
            addr
        };
        let s = self.sock_mut(h)?;
        s.local = Some(addr);
        s.bound_explicit = true;
        s.port_locked = addr_port_named;
        match ty {
            SockType::Stream => self.tcp_ports.entry(addr.port()).or_default().insert(h),
            SockType::Datagram => self.udp_ports.entry(addr.port()).or_default().insert(h),
        };
        Ok(())
    }

    fn port_range(&self) -> (u32, u32) {
        let [lo, hi] = self.sysctl.ip_local_port_range;
        (
            lo.clamp(1, 65535) as u32,
            hi.clamp(1, 65535).max(lo.clamp(1, 65535)) as u32,
        )
    }

    /// bind(port 0): an ephemeral port, preferring the parity opposite to
    /// connect()'s choice (`inet_csk_find_open_port()`).
    fn pick_bind_port(&mut self, h: SocketHandle, ip: Ipv4Addr, ty: SockType) -> Option<u16> {
        let (lo, hi) = self.port_range();
        let n = hi - lo + 1;
        self.port_offset = self.port_offset.wrapping_add(7919);
        let start = self.port_offset % n;
        for parity_pass in 0..2 {
            for i in 0..n {
                let port = lo + (start + i) % n;
                if (port % 2 == lo % 2) != (parity_pass == 1) {
                    continue;
                }
                let addr = SocketAddrV4::new(ip, port as u16);
                let table = if ty == SockType::Stream {
                    &self.tcp_ports
                } else {
                    &self.udp_ports
                };
                if !table.contains_key(&(port as u16)) && !self.bind_conflict(h, addr, ty, false) {
                    return Some(port as u16);
                }
            }
        }
        None
    }

    /// `tcp_twsk_unique()`: may a connect() take over this TIME-WAIT tuple?
    /// Only if timestamps were on (PAWS then guards the new incarnation); an
    /// explicitly bound port always may, an ephemeral one per tcp_tw_reuse
    /// (1 always, 2 only on loopback) once tcp_tw_reuse_delay ms have passed
    /// since the last timestamp was recorded.
    fn tw_reusable(&self, tw: &TimeWaitSock, now: Instant, explicit_bind: bool) -> bool {
        let Some((_, stamp, _)) = tw.ts else {
            return false;
        };
        if explicit_bind {
            return true;
        }
        let mut reuse = self.sysctl.tcp_tw_reuse;
        if tw.substate == State::FinWait2 {
            reuse = 0;
        }
        if reuse == 2 && !(tw.tuple.remote.ip().is_loopback() || tw.tuple.local.ip().is_loopback())
        {
            reuse = 0;
        }
        let delay = Duration::from_millis(self.sysctl.tcp_tw_reuse_delay.max(0) as u64);
        reuse != 0 && now.saturating_since(stamp) > delay
    }

    /// connect() autobind (`__inet_hash_connect()`): same parity as the range
    /// start first; a port is usable if no socket bound it explicitly and the
    /// 4-tuple is free, or held by a TIME-WAIT that `tw_reusable()` allows.
    fn pick_connect_port(
        &mut self,
        now: Instant,
        local_ip: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Option<u16> {
        let (lo, hi) = self.port_range();
        let n = hi - lo + 1;
        let start = self.port_offset % n;
        self.port_offset = self.port_offset.wrapping_add(2);
        for parity_pass in 0..2 {
            for i in 0..n {
                let port = lo + (start + i) % n;
                if (port % 2 == lo % 2) == (parity_pass == 1) {
                    continue;
                }
                let port = port as u16;
                // Ports bound with bind() or listening are not shared with connect().
                let explicit = self.tcp_ports.get(&port).is_some_and(|v| {
                    v.iter().any(|o| {
                        self.sockets.get(o).is_some_and(|s| {
                            s.bound_explicit || matches!(s.tcp, TcpSock::Listen(_))
                        })
                    })
                });
                if explicit {
                    continue;
                }
                let tuple = FourTuple {
                    local: SocketAddrV4::new(local_ip, port),
                    remote,
                };
                if self.established.contains_key(&tuple) {
                    continue;
                }
                if let Some(tw) = self.timewait.get(&tuple) {
                    if !self.tw_reusable(tw, now, false) {
                        continue;
                    }
                }
                return Some(port);
            }
        }
        None
    }

    /// listen(); `_now` keeps every socket call's shape (time in, effects out).
    /// EINVAL for a socket that ever held a connection ([`Socket::had_connection`]).
    pub fn listen(&mut self, _now: Instant, h: SocketHandle, backlog: i32) -> Result<(), Errno> {
        let somaxconn = self.sysctl.somaxconn.max(0) as u32;
        let s = self.sock(h)?;
        if s.ty != SockType::Stream {
            return Err(Errno::EOPNOTSUPP);
        }
        // __sys_listen_socket(): (unsigned)backlog > somaxconn -> somaxconn.
        let backlog = if backlog < 0 || backlog as u32 > somaxconn {
            somaxconn
        } else {
            backlog as u32
        };
        match &s.tcp {
            TcpSock::Conn(_) => return Err(Errno::EINVAL),
            TcpSock::Listen(_) => {
                if let Some(TcpSock::Listen(l)) = self.sockets.get_mut(&h).map(|s| &mut s.tcp) {
                    l.backlog = backlog;
                }
                return Ok(());
            }
            TcpSock::Idle => {}
        }
        if s.had_connection {
            return Err(Errno::EINVAL);
        }
        if s.local.is_none() {
            self.bind(h, wildcard(0))?;
        }
        let s = self.sock_mut(h)?;
        let local = s.local.ok_or(Errno::EINVAL)?;
        let opts = s.opts;
        s.tcp = TcpSock::Listen(Box::new(Listener::new(local, backlog, opts)));
        self.listeners.insert(local, h);
        self.reschedule(h);
        Ok(())
    }

    /// Take a completed connection (EAGAIN when none is queued; the core never blocks).
    pub fn accept(&mut self, h: SocketHandle) -> Result<(SocketHandle, SocketAddrV4), Errno> {
        let s = self.sock_mut(h)?;
        let TcpSock::Listen(l) = &mut s.tcp else {
            return Err(Errno::EINVAL);
        };
        let child = l.accept_queue.pop_front().ok_or(Errno::EAGAIN)?;
        let c = self.sockets.get_mut(&child).ok_or(Errno::ECONNABORTED)?;
        c.accept_parent = None;
        let peer = c.tcb().map(|t| t.tuple.remote).ok_or(Errno::ECONNABORTED)?;
        Ok((child, peer))
    }

    /// connect(): TCP returns EINPROGRESS at once (the daemon or libnet waits
    /// for completion when the socket is blocking); later calls report as
    /// Linux does: EALREADY while connecting, 0 once, then EISCONN; after a
    /// failure the pending error once, and the socket may connect again.
    pub fn connect(
        &mut self,
        now: Instant,
        h: SocketHandle,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        let s = self.sock_mut(h)?;
        if s.ty == SockType::Datagram {
            return self.udp_connect(h, remote);
        }
        match &mut s.tcp {
            TcpSock::Listen(_) => return Err(Errno::EISCONN),
            TcpSock::Conn(tcb) => match tcb.state {
                State::SynSent | State::SynRcvd => return Err(Errno::EALREADY),
                // The attempt is over (`__inet_stream_connect()`'s
                // sock_error path): its error, or ECONNABORTED once it was
                // read, and the socket is disconnected, free to connect
                // again. One that connect() already reported is EISCONN.
                State::Closed => {
                    let e = match tcb.error.take() {
                        Some(e) => e,
                        None if tcb.connect_reported => return Err(Errno::EISCONN),
                        None => Errno::ECONNABORTED,
                    };
                    self.disconnect(now, h)?;
                    return Err(e);
                }
                _ => {
                    if tcb.connect_reported {
                        return Err(Errno::EISCONN);
                    }
                    tcb.connect_reported = true;
                    return Ok(());
                }
            },
            TcpSock::Idle => {}
        }
        let bound = s.local;
        let explicit = s.bound_explicit;
        // Loopback destinations are reached from a loopback source, as Linux routes them.
        let default_ip = if remote.ip().is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            self.addr
        };
        let local = match bound {
            Some(a) => {
                let ip = if a.ip().is_unspecified() {
                    default_ip
                } else {
                    *a.ip()
                };
                SocketAddrV4::new(ip, a.port())
            }
            None => {
                let port = self
                    .pick_connect_port(now, default_ip, remote)
                    .ok_or(Errno::EADDRNOTAVAIL)?;
                SocketAddrV4::new(default_ip, port)
            }
        };
        let tuple = FourTuple { local, remote };
        if self.established.contains_key(&tuple) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        // Taking over a TIME-WAIT tuple: the new ISN continues past the old
        // connection's sequence space and ts_recent carries over for PAWS.
        let mut inherit = None;
        if let Some(tw) = self.timewait.get(&tuple) {
            if !self.tw_reusable(tw, now, explicit && bound.is_some()) {
                return Err(Errno::EADDRNOTAVAIL);
            }
            let mut isn = tw.snd_nxt + 65535 + 2;
            if isn.0 == 0 {
                isn = SeqNum(1);
            }
            inherit = Some((isn, tw.ts));
            self.remove_timewait(&tuple);
            self.mib.tcp_ext.tw_recycled += 1;
        }
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(s) = sockets.get_mut(&h) else {
            return Err(Errno::EBADF);
        };
        let opts = s.opts;
        let mut tcb = Tcb::new(&ctx, tuple, opts, ctx.tx.mtu);
        let rcv_wscale = Tcb::choose_rcv_wscale(&ctx, tcb.rcvbuf);
        tcb.neg = Negotiated {
            mss_clamp: tcb.adv_mss.max(MIN_MSS),
            rcv_wscale,
            snd_wscale: 0,
            wscale_ok: ctx.sysctl.tcp_window_scaling != 0,
            sack_ok: ctx.sysctl.tcp_sack != 0,
            ts_ok: ctx.sysctl.tcp_timestamps != 0,
        };
        if ctx.sysctl.tcp_timestamps == 1 {
            tcb.ts_offset = ctx.secrets.ts_offset(&tuple);
        }
        if let Some((isn, ts)) = inherit {
            tcb.set_iss(isn);
            if let Some((recent, stamp, _)) = ts {
                tcb.ts_recent = recent;
                tcb.ts_recent_stamp = stamp;
            }
        }
        tcb.state = State::SynSent;
        tcb.syn_stamp = now;
        tcb.send_syn(&mut ctx);
        ctx.mib.tcp.active_opens += 1;
        let was_bound = bound.is_some();
        s.tcp = TcpSock::Conn(Box::new(tcb));
        s.had_connection = true;
        s.local = Some(local);
        if !was_bound {
            self.tcp_ports.entry(local.port()).or_default().insert(h);
        }
        self.established.insert(tuple, h);
        self.reschedule(h);
        Err(Errno::EINPROGRESS)
    }

    /// connect(AF_UNSPEC) (`tcp_disconnect()`, `udp_disconnect()`), also
    /// the end of a failed connect(): the socket is unconnected again, free
    /// to bind, listen or connect, and gives back a port it did not bind
    /// itself. A listener stops listening (its queue is reset); a
    /// synchronized connection is reset, and the error SO_ERROR then reports
    /// is returned (ECONNRESET, as Linux leaves in `sk_err`).
    pub fn disconnect(&mut self, now: Instant, h: SocketHandle) -> Result<Option<Errno>, Errno> {
        let mtu = u32::try_from(self.tx.mtu).unwrap_or(u32::MAX);
        let s = self.sock(h)?;
        let mut error = None;
        if s.ty == SockType::Datagram {
            let s = self.sock_mut(h)?;
            if let Some(udp) = s.udp.as_mut() {
                udp.remote = None;
                udp.error = None;
            }
        } else {
            match &s.tcp {
                TcpSock::Idle => {}
                TcpSock::Listen(_) => self.stop_listening(now, h),
                TcpSock::Conn(_) => {
                    let mut ctx = ctx!(self, now);
                    let sockets = &mut self.sockets;
                    let Some(sock) = sockets.get_mut(&h) else {
                        return Err(Errno::EBADF);
                    };
                    if let Some(tcb) = sock.tcb_mut() {
                        // tcp_need_reset(): a peer that thinks it is connected hears of it.
                        if matches!(
                            tcb.state,
                            State::Established
                                | State::CloseWait
                                | State::FinWait1
                                | State::FinWait2
                                | State::SynRcvd
                        ) {
                            tcb.send_active_reset(&mut ctx);
                            error = Some(Errno::ECONNRESET);
                        } else if tcb.state == State::SynSent {
                            error = Some(Errno::ECONNRESET);
                        }
                        if tcb.state != State::Closed {
                            tcb.close_counted(ctx.mib);
                        }
                    }
                    let tuple = sock.tcb().map(|t| t.tuple);
                    sock.stale_name = tuple.map(|t| wildcard(t.local.port()));
                    // TCP_MAXSEG keeps the connection's (mss_cache survives).
                    let clamp = match sock.opts.maxseg {
                        0 => 536,
                        m => u32::from(m),
                    };
                    sock.stale_mss = sock.tcb().map(|t| mss_cache(t, clamp, mtu));
                    sock.tcp = TcpSock::Idle;
                    if let Some(tuple) = tuple {
                        if self.established.get(&tuple) == Some(&h) {
                            self.established.remove(&tuple);
                        }
                    }
                }
            }
        }
        let s = self.sock_mut(h)?;
        if !s.port_locked {
            s.bound_explicit = false;
            if let Some(port) = s.local.take().map(|a| a.port()) {
                // TCP keeps showing the port (`inet_sport`); UDP clears it.
                if s.ty == SockType::Stream {
                    s.stale_name = Some(wildcard(port));
                }
                self.unbind_port(port, h);
            }
        }
        Ok(error)
    }

    fn udp_connect(&mut self, h: SocketHandle, remote: SocketAddrV4) -> Result<(), Errno> {
        self.udp_autobind(h)?;
        let s = self.sock_mut(h)?;
        let udp = s.udp.as_mut().ok_or(Errno::EINVAL)?;
        udp.remote = Some(remote);
        udp.error = None;
        Ok(())
    }

    /// Bind an unbound UDP socket to an ephemeral port (`inet_autobind()`).
    pub fn udp_autobind(&mut self, h: SocketHandle) -> Result<SocketAddrV4, Errno> {
        if let Some(a) = self.sock(h)?.local {
            return Ok(a);
        }
        let port = self
            .pick_bind_port(h, Ipv4Addr::UNSPECIFIED, SockType::Datagram)
            .ok_or(Errno::EAGAIN)?;
        let a = wildcard(port);
        self.sock_mut(h)?.local = Some(a);
        self.udp_ports.entry(port).or_default().insert(h);
        Ok(a)
    }

    /// Queue bytes on a TCP socket; returns how many fit (EAGAIN if none).
    pub fn send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> Result<usize, Errno> {
        self.send_flags(now, h, data, false)
    }

    /// send() with MSG_MORE on a TCP socket: the bytes are queued and not
    /// transmitted, so what comes next can share their segment. A close
    /// that follows then sends data and FIN as one segment, as Linux's
    /// `tcp_send_fin()` tacks the FIN onto a tail that is not sent yet.
    /// `push` sends what is queued.
    pub fn send_more(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
    ) -> Result<usize, Errno> {
        self.send_flags(now, h, data, true)
    }

    /// Transmit what `send_more` queued (`tcp_push()` once the cork is gone).
    pub fn push(&mut self, now: Instant, h: SocketHandle) {
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        if let Some(tcb) = sockets.get_mut(&h).and_then(|s| s.tcb_mut()) {
            tcb.transmit(&mut ctx);
            self.tcp_after(now, h);
        }
    }

    fn send_flags(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        more: bool,
    ) -> Result<usize, Errno> {
        let s = self.sock(h)?;
        if s.ty == SockType::Datagram {
            let remote = s
                .udp
                .as_ref()
                .and_then(|u| u.remote)
                .ok_or(Errno::EDESTADDRREQ)?;
            return self.sendto(now, h, data, remote);
        }
        let wmem_max = self.sysctl.tcp_wmem[2];
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(tcb) = sockets.get_mut(&h).and_then(|s| s.tcb_mut()) else {
            // Never connected: Linux says EPIPE (sk_stream_wait_connect()).
            return Err(Errno::EPIPE);
        };
        if let Some(e) = tcb.error.take() {
            return Err(e);
        }
        if tcb.snd_shutdown {
            return Err(Errno::EPIPE);
        }
        match tcb.state {
            State::Established | State::CloseWait => {}
            State::SynSent | State::SynRcvd => return Err(Errno::EAGAIN),
            _ => return Err(Errno::EPIPE),
        }
        let space = tcb.send_space(wmem_max);
        if space == 0 {
            return Err(Errno::EAGAIN);
        }
        let n = space.min(data.len());
        tcb.send_buf.extend(&data[..n]);
        tcb.write_seq += n as u32;
        if !more {
            tcb.transmit(&mut ctx);
        }
        self.tcp_after(now, h);
        Ok(n)
    }

    /// Read from a TCP socket: Ok(0) is end of stream; EAGAIN when nothing is
    /// there yet. With `peek` the data stays queued (MSG_PEEK).
    pub fn recv(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<usize, Errno> {
        let s = self.sock(h)?;
        if s.ty == SockType::Datagram {
            return self.recvfrom(h, buf, peek).map(|(n, _)| n);
        }
        self.recv_with(now, h, peek, |a, b| {
            let from_a = buf.len().min(a.len());
            buf[..from_a].copy_from_slice(&a[..from_a]);
            let from_b = (buf.len() - from_a).min(b.len());
            buf[from_a..from_a + from_b].copy_from_slice(&b[..from_b]);
            from_a + from_b
        })
    }

    /// TCP receive without an intermediate buffer: `take` sees the queued
    /// bytes as (up to) two slices, in order, and returns how many it
    /// consumed (it may write them straight to a descriptor). Errors and EOF
    /// as [`recv`](Self::recv); Ok(0) from `take` itself is not EOF but
    /// "nothing taken" (the descriptor was full).
    pub fn recv_with(
        &mut self,
        now: Instant,
        h: SocketHandle,
        peek: bool,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, Errno> {
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(tcb) = sockets.get_mut(&h).and_then(|s| s.tcb_mut()) else {
            return Err(Errno::ENOTCONN);
        };
        if !tcb.recv_buf.is_empty() {
            let (a, b) = tcb.recv_buf.as_slices();
            let n = take(a, b).min(tcb.recv_buf.len());
            if !peek && n > 0 {
                tcb.recv_buf.drain(..n);
                if tcb.state.is_synchronized() {
                    tcb.rcv_space_adjust(&ctx);
                    cleanup_rbuf(tcb, &mut ctx);
                }
            }
            self.reschedule(h);
            return Ok(n);
        }
        if let Some(e) = tcb.error.take() {
            return Err(e);
        }
        if tcb.fin_received || tcb.rcv_shutdown {
            return Ok(0);
        }
        if tcb.state == State::Closed {
            return Err(Errno::ENOTCONN);
        }
        Err(Errno::EAGAIN)
    }

    pub fn sendto(
        &mut self,
        _now: Instant,
        h: SocketHandle,
        data: &[u8],
        remote: SocketAddrV4,
    ) -> Result<usize, Errno> {
        let s = self.sock(h)?;
        if s.ty == SockType::Stream {
            // sendto() on a connected TCP socket ignores the address.
            return self.send(_now, h, data);
        }
        if data.len() > MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        if let Some(e) = s.udp.as_ref().and_then(|u| u.error) {
            if let Some(u) = self.sock_mut(h)?.udp.as_mut() {
                u.error = None;
            }
            return Err(e);
        }
        let local = self.udp_autobind(h)?;
        let src = if local.ip().is_unspecified() {
            self.addr
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
        self.mib.udp.out_datagrams += 1;
        let ttl = self.ttl();
        self.tx
            .datagram(&mut self.mib.ip, ttl, src, *remote.ip(), PROTO_UDP, &body);
        Ok(data.len())
    }

    /// One datagram; longer than `buf` is truncated, as recv(2) without MSG_TRUNC.
    pub fn recvfrom(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<(usize, SocketAddrV4), Errno> {
        let s = self.sock_mut(h)?;
        let Some(udp) = s.udp.as_mut() else {
            return Err(Errno::EOPNOTSUPP);
        };
        if let Some(e) = udp.error.take() {
            return Err(e);
        }
        let (from, data) = udp.dequeue(peek).ok_or(Errno::EAGAIN)?;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    pub fn shutdown(&mut self, now: Instant, h: SocketHandle, how: Shutdown) -> Result<(), Errno> {
        let s = self.sock(h)?;
        if s.ty == SockType::Datagram {
            return if s.udp.as_ref().is_some_and(|u| u.remote.is_some()) {
                Ok(())
            } else {
                Err(Errno::ENOTCONN)
            };
        }
        if let TcpSock::Listen(_) = s.tcp {
            // inet_shutdown(): SHUT_WR does nothing to a listener; a shut read
            // side stops it listening and resets what was queued (accept()
            // then says EINVAL).
            if how != Shutdown::Write {
                self.stop_listening(now, h);
            }
            return Ok(());
        }
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(tcb) = sockets.get_mut(&h).and_then(|s| s.tcb_mut()) else {
            return Err(Errno::ENOTCONN);
        };
        match tcb.state {
            State::Closed => return Err(Errno::ENOTCONN),
            State::SynSent => {
                tcb.close_counted(ctx.mib);
            }
            _ => {
                if matches!(how, Shutdown::Read | Shutdown::Both) {
                    tcb.rcv_shutdown = true;
                }
                if matches!(how, Shutdown::Write | Shutdown::Both) {
                    start_close(tcb, &mut ctx);
                }
            }
        }
        self.tcp_after(now, h);
        Ok(())
    }

    fn stop_listening(&mut self, now: Instant, h: SocketHandle) {
        let Some(s) = self.sockets.get_mut(&h) else {
            return;
        };
        let TcpSock::Listen(l) = std::mem::replace(&mut s.tcp, TcpSock::Idle) else {
            return;
        };
        if self.listeners.get(&l.local) == Some(&h) {
            self.listeners.remove(&l.local);
        }
        // inet_csk_listen_stop(): every unaccepted child is reset.
        for child in l.accept_queue {
            let mut ctx = ctx!(self, now);
            let sockets = &mut self.sockets;
            if let Some(tcb) = sockets.get_mut(&child).and_then(|s| s.tcb_mut()) {
                if tcb.state.is_synchronized() {
                    tcb.send_active_reset(&mut ctx);
                }
                tcb.close_counted(ctx.mib);
            }
            self.destroy(child);
        }
    }

    /// close(): the handle is gone at once; the connection finishes as an orphan.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), Errno> {
        let s = self.sock(h)?;
        match &s.tcp {
            TcpSock::Listen(_) => {
                self.stop_listening(now, h);
                self.destroy(h);
                return Ok(());
            }
            TcpSock::Idle => {
                self.destroy(h);
                return Ok(());
            }
            TcpSock::Conn(_) => {}
        }
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let Some(sock) = sockets.get_mut(&h) else {
            return Err(Errno::EBADF);
        };
        sock.orphan = true;
        let linger = sock.opts().linger;
        let Some(tcb) = sock.tcb_mut() else {
            return Ok(());
        };
        tcb.orphan = true;
        // close() shuts both directions (sk_shutdown = SHUTDOWN_MASK): data that
        // still arrives is answered with RST (TCPAbortOnData).
        tcb.rcv_shutdown = true;
        // __tcp_close().
        if !tcb.recv_buf.is_empty() && tcb.state.is_synchronized() {
            // RFC 2525 §2.17: unread data means the peer must learn it was lost.
            ctx.mib.tcp_ext.tcp_abort_on_close += 1;
            tcb.send_active_reset(&mut ctx);
            tcb.close_counted(ctx.mib);
        } else if linger == Some(0) && tcb.state.is_synchronized() {
            ctx.mib.tcp_ext.tcp_abort_on_data += 1;
            tcb.send_active_reset(&mut ctx);
            tcb.close_counted(ctx.mib);
        } else {
            match tcb.state {
                State::SynSent | State::Closed => tcb.close_counted(ctx.mib),
                _ => start_close(tcb, &mut ctx),
            }
        }
        self.tcp_after(now, h);
        Ok(())
    }

    pub fn setsockopt(&mut self, now: Instant, h: SocketHandle, opt: SockOpt) -> Result<(), Errno> {
        let rmem_max = self.sysctl.rmem_max.max(0) as usize;
        let wmem_max = self.sysctl.wmem_max.max(0) as usize;
        let mut ctx = ctx!(self, now);
        let sockets = &mut self.sockets;
        let sock = match sockets.get_mut(&h) {
            Some(s) if !s.orphan => s,
            _ => return Err(Errno::EBADF),
        };
        let o = sock.opts_mut();
        match opt {
            SockOpt::ReuseAddr(v) => o.reuseaddr = v,
            SockOpt::KeepAlive(v) => o.keepalive = v,
            SockOpt::Linger(v) => o.linger = v,
            // The kernel stores twice the value, clamped, with a floor (sock_setsockopt()).
            SockOpt::RcvBuf(v) => {
                o.rcvbuf = Some(
                    (v.max(0) as usize)
                        .min(rmem_max)
                        .saturating_mul(2)
                        .max(2304),
                )
            }
            SockOpt::SndBuf(v) => {
                o.sndbuf = Some(
                    (v.max(0) as usize)
                        .min(wmem_max)
                        .saturating_mul(2)
                        .max(4608),
                )
            }
            SockOpt::NoDelay(v) => o.nodelay = v,
            SockOpt::MaxSeg(v) => {
                if v != 0 && !(88..=32767).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                o.maxseg = v as u16;
            }
            SockOpt::SynCnt(v) => {
                if !(1..=127).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                o.syncnt = v as u8;
            }
            SockOpt::UserTimeout(v) => {
                if v < 0 {
                    return Err(Errno::EINVAL);
                }
                o.user_timeout = v as u32;
            }
            SockOpt::KeepIdle(v) | SockOpt::KeepIntvl(v) => {
                // MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL
                if !(1..=32767).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                if matches!(opt, SockOpt::KeepIdle(_)) {
                    o.keepidle = v as u32;
                } else {
                    o.keepintvl = v as u32;
                }
            }
            SockOpt::KeepCnt(v) => {
                if !(1..=127).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                o.keepcnt = v as u8;
            }
            SockOpt::QuickAck(_) => {}
        }
        let (rcvbuf, sndbuf) = (sock.opts().rcvbuf, sock.opts().sndbuf);
        let nodelay = matches!(opt, SockOpt::NoDelay(true));
        if let Some(tcb) = sock.tcb_mut() {
            if let Some(r) = rcvbuf {
                tcb.rcvbuf = r;
            }
            if let Some(s) = sndbuf {
                tcb.sndbuf = s;
            }
            match opt {
                // TCP_QUICKACK = 1: leave pingpong and send a pending ACK now (not sticky).
                SockOpt::QuickAck(true) => {
                    tcb.ack.pingpong = false;
                    if tcb.ack.pending && tcb.state.is_synchronized() {
                        tcb.send_ack(&mut ctx);
                    }
                }
                SockOpt::QuickAck(false) => tcb.ack.pingpong = true,
                // SO_KEEPALIVE and TCP_KEEPIDLE (re)arm a running connection's timer.
                SockOpt::KeepAlive(_) | SockOpt::KeepIdle(_) => tcb.arm_keepalive(now, ctx.sysctl),
                // Setting TCP_NODELAY pushes what Nagle held back.
                _ if nodelay => {
                    tcb.transmit(&mut ctx);
                }
                _ => {}
            }
        }
        self.tcp_after(now, h);
        Ok(())
    }

    pub fn getsockopt(
        &mut self,
        h: SocketHandle,
        name: SockOptName,
    ) -> Result<SockOptValue, Errno> {
        let mtu = u32::try_from(self.tx.mtu).unwrap_or(u32::MAX);
        let udp = self.sock(h)?.ty == SockType::Datagram;
        // TCP starts from tcp_rmem[1]/tcp_wmem[1]; other sockets from
        // net.core.rmem_default/wmem_default (`sock_init_data()`).
        let (rmem, wmem) = if udp {
            (self.sysctl.rmem_default, self.sysctl.wmem_default)
        } else {
            (self.sysctl.tcp_rmem[1], self.sysctl.tcp_wmem[1])
        };
        let (rmem, wmem) = (rmem as i32, wmem as i32);
        let ka_time = self.sysctl.tcp_keepalive_time as i32;
        let ka_intvl = self.sysctl.tcp_keepalive_intvl as i32;
        let ka_probes = self.sysctl.tcp_keepalive_probes as i32;
        let sock = self.sock_mut(h)?;
        let o = *sock.opts();
        let int = |b: bool| SockOptValue::Int(i32::from(b));
        Ok(match name {
            SockOptName::ReuseAddr => int(o.reuseaddr),
            SockOptName::KeepAlive => int(o.keepalive),
            SockOptName::Linger => match o.linger {
                Some(s) => SockOptValue::Linger(1, s as i32),
                None => SockOptValue::Linger(0, 0),
            },
            SockOptName::RcvBuf => SockOptValue::Int(o.rcvbuf.map_or(rmem, |v| v as i32)),
            SockOptName::SndBuf => SockOptValue::Int(o.sndbuf.map_or(wmem, |v| v as i32)),
            SockOptName::Type => SockOptValue::Int(if sock.ty == SockType::Stream { 1 } else { 2 }),
            SockOptName::AcceptConn => int(matches!(sock.tcp, TcpSock::Listen(_))),
            SockOptName::NoDelay => int(o.nodelay),
            SockOptName::QuickAck => int(!sock.tcb().is_some_and(|t| t.ack.pingpong)),
            // Linux reports `tp->mss_cache`. Before a SYN was ever sent that
            // is the user's TCP_MAXSEG or 536; from the SYN until the peer's
            // MSS is known, min(MTU - 40, that clamp) less the timestamp
            // option; then the connection's, which a closed or
            // disconnected socket keeps.
            SockOptName::MaxSeg => {
                let clamp = if o.maxseg != 0 {
                    u32::from(o.maxseg)
                } else {
                    536
                };
                SockOptValue::Int(match sock.tcb() {
                    Some(t) => mss_cache(t, clamp, mtu) as i32,
                    None => sock.stale_mss.map_or(clamp as i32, |m| m as i32),
                })
            }
            SockOptName::SynCnt => SockOptValue::Int(if o.syncnt == 0 {
                6
            } else {
                i32::from(o.syncnt)
            }),
            SockOptName::UserTimeout => SockOptValue::Int(o.user_timeout as i32),
            SockOptName::KeepIdle => SockOptValue::Int(if o.keepidle == 0 {
                ka_time
            } else {
                o.keepidle as i32
            }),
            SockOptName::KeepIntvl => SockOptValue::Int(if o.keepintvl == 0 {
                ka_intvl
            } else {
                o.keepintvl as i32
            }),
            SockOptName::KeepCnt => SockOptValue::Int(if o.keepcnt == 0 {
                ka_probes
            } else {
                i32::from(o.keepcnt)
            }),
            SockOptName::Error => {
                // SO_ERROR returns and clears the pending error.
                let e = match &mut sock.tcp {
                    TcpSock::Conn(t) => t.error.take(),
                    _ => sock.udp.as_mut().and_then(|u| u.error.take()),
                };
                SockOptValue::Int(e.map_or(0, Errno::code))
            }
        })
    }

    /// Readiness as Linux's `tcp_poll()` / `udp_poll()` compute it.
    pub fn poll_events(&self, h: SocketHandle) -> Result<PollEvents, Errno> {
        let s = self.sock(h)?;
        let mut m = 0;
        if let Some(udp) = &s.udp {
            m |= PollEvents::OUT;
            if !udp.rx.is_empty() {
                m |= PollEvents::IN;
            }
            if udp.error.is_some() {
                m |= PollEvents::ERR;
            }
            return Ok(PollEvents(m));
        }
        match &s.tcp {
            TcpSock::Idle => m = PollEvents::OUT | PollEvents::HUP,
            TcpSock::Listen(l) => {
                if !l.accept_queue.is_empty() {
                    m = PollEvents::IN;
                }
            }
            TcpSock::Conn(t) => {
                let rcv_shut = t.rcv_shutdown || t.fin_received;
                let closed = t.state == State::Closed;
                if (rcv_shut && t.snd_shutdown) || closed {
                    m |= PollEvents::HUP;
                }
                if rcv_shut {
                    m |= PollEvents::IN | PollEvents::RDHUP;
                }
                if t.state != State::SynSent && t.state != State::SynRcvd {
                    if !t.recv_buf.is_empty() {
                        m |= PollEvents::IN;
                    }
                    if t.snd_shutdown {
                        m |= PollEvents::OUT;
                    } else {
                        let free = t.send_space(self.sysctl.tcp_wmem[2]);
                        if free > 0 && free >= t.send_queue_len() / 2 {
                            m |= PollEvents::OUT;
                        }
                    }
                }
                if t.error.is_some() {
                    m |= PollEvents::ERR;
                }
            }
        }
        Ok(PollEvents(m))
    }

    /// Whether TCP socket `h` holds an error not yet reported (`sk_err`).
    pub fn has_error(&self, h: SocketHandle) -> bool {
        self.sockets
            .get(&h)
            .and_then(|s| s.tcb())
            .is_some_and(|t| t.error.is_some())
    }

    /// Whether the peer's FIN arrived on TCP socket `h` (Linux's SOCK_DONE).
    pub fn fin_received(&self, h: SocketHandle) -> bool {
        self.sockets
            .get(&h)
            .and_then(|s| s.tcb())
            .is_some_and(|t| t.fin_received)
    }

    /// Whether `h` is a TCP socket (false for UDP and for no socket).
    pub fn is_stream(&self, h: SocketHandle) -> bool {
        self.sockets
            .get(&h)
            .is_some_and(|s| s.ty == SockType::Stream)
    }

    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, Errno> {
        let s = self.sock(h)?;
        Ok(s.tcb()
            .map(|t| t.tuple.local)
            .or(s.local)
            .or(s.stale_name)
            .unwrap_or(wildcard(0)))
    }

    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, Errno> {
        let s = self.sock(h)?;
        if let Some(r) = s.udp.as_ref().and_then(|u| u.remote) {
            return Ok(r);
        }
        match s.tcb() {
            Some(t) if t.state != State::Closed && t.state != State::SynSent => Ok(t.tuple.remote),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// Handles whose state may have changed since the last call, each once.
    /// Sockets whose readiness may have changed, into `out` (cleared
    /// first; sorted, without duplicates). The two vectors trade places, so
    /// once both have grown a loop turn allocates nothing.
    pub fn take_wakeups(&mut self, out: &mut Vec<SocketHandle>) {
        out.clear();
        std::mem::swap(&mut self.wakeups, out);
        out.sort_unstable();
        out.dedup();
    }

    /// Free send-buffer space of a connected TCP socket (0 if none).
    pub fn send_space(&self, h: SocketHandle) -> usize {
        match self.sockets.get(&h).and_then(|s| s.tcb()) {
            Some(t)
                if matches!(t.state, State::Established | State::CloseWait) && !t.snd_shutdown =>
            {
                t.send_space(self.sysctl.tcp_wmem[2])
            }
            _ => 0,
        }
    }

    /// close() with unread data, as seen by the daemon: an RST instead of a
    /// FIN (RFC 2525 §2.17, TCPAbortOnClose).
    pub fn abort(&mut self, now: Instant, h: SocketHandle) -> Result<(), Errno> {
        let mut ctx = ctx!(self, now);
        let sock = self.sockets.get_mut(&h).ok_or(Errno::EBADF)?;
        sock.orphan = true;
        if let Some(tcb) = sock.tcb_mut() {
            tcb.orphan = true;
            if tcb.state.is_synchronized() && tcb.state != State::TimeWait {
                ctx.mib.tcp_ext.tcp_abort_on_close += 1;
                tcb.send_active_reset(&mut ctx);
            }
            tcb.close_counted(ctx.mib);
        }
        self.tcp_after(now, h);
        if self.sockets.get(&h).is_some_and(|s| s.tcb().is_none()) {
            self.destroy(h);
        }
        Ok(())
    }

    /// Shutting down: every synchronized connection is reset so peers learn
    /// at once, and every socket is dropped (netd's SIGTERM path).
    pub fn abort_all(&mut self, now: Instant) {
        let handles: Vec<SocketHandle> = self.sockets.keys().copied().collect();
        for h in handles {
            let mut ctx = ctx!(self, now);
            if let Some(tcb) = self.sockets.get_mut(&h).and_then(|s| s.tcb_mut()) {
                if tcb.state.is_synchronized() && tcb.state != State::TimeWait {
                    tcb.send_active_reset(&mut ctx);
                }
                tcb.close_counted(ctx.mib);
            }
            self.destroy(h);
        }
        let tuples: Vec<FourTuple> = self.timewait.keys().copied().collect();
        for t in tuples {
            self.remove_timewait(&t);
        }
    }

    /// Every socket as `ss` lists it, request socks and TIME-WAIT buckets included
    /// (`tcp_diag_get_info()` for the queue columns).
    /// Rows carry the socket's handle id in `sk`; who holds it is the daemon's to add.
    pub fn sockets_info(&self, now: Instant) -> Vec<netd_proto::SockInfo> {
        use netd_proto::SockInfo;
        let left = |d: Option<Instant>| d.map_or(0, |d| d.saturating_since(now).as_millis() as u64);
        let mut out = Vec::new();
        for (&h, s) in self.sockets.iter() {
            let start = out.len();
            self.socket_rows(now, s, &mut out, &left);
            if let Some(first) = out.get_mut(start) {
                first.sk = u64::from(h.0);
            }
        }
        for tw in self.timewait.values() {
            out.push(SockInfo {
                timer: Some(("timewait".into(), left(Some(tw.deadline)), 0)),
                ..SockInfo::row(
                    "tcp",
                    tw.substate as u8,
                    tw.tuple.local.into(),
                    tw.tuple.remote.into(),
                )
            });
        }
        out
    }

    fn socket_rows(
        &self,
        now: Instant,
        s: &Socket,
        out: &mut Vec<netd_proto::SockInfo>,
        left: &dyn Fn(Option<Instant>) -> u64,
    ) {
        use netd_proto::{SockInfo, WireAddr};
        if let Some(udp) = &s.udp {
            let Some(local) = s.local else { return };
            let state = if udp.remote.is_some() { 1 } else { 7 };
            let peer = udp.remote.map_or(WireAddr::UNSPECIFIED, WireAddr::from);
            out.push(SockInfo {
                recv_q: udp.rx_bytes as u64,
                ..SockInfo::row("udp", state, local.into(), peer)
            });
            return;
        }
        match &s.tcp {
            TcpSock::Idle => {}
            TcpSock::Listen(l) => {
                out.push(SockInfo {
                    recv_q: l.accept_queue.len() as u64,
                    send_q: u64::from(l.backlog),
                    ..SockInfo::row(
                        "tcp",
                        State::Listen as u8,
                        l.local.into(),
                        WireAddr::UNSPECIFIED,
                    )
                });
                for r in l.syn_queue.values() {
                    out.push(SockInfo {
                        timer: Some(("on".into(), left(Some(r.deadline)), r.num_timeout)),
                        ..SockInfo::row(
                            "tcp",
                            State::SynRcvd as u8,
                            r.tuple.local.into(),
                            r.tuple.remote.into(),
                        )
                    });
                }
            }
            TcpSock::Conn(t) => {
                if t.state == State::Closed {
                    return;
                }
                // rcv_nxt - copied_seq: a received FIN counts one.
                let recv_q = t.recv_buf.len() as u64 + u64::from(t.fin_received);
                // write_seq - snd_una, with a queued FIN counted once.
                let end = t.write_seq + u32::from(t.snd_shutdown);
                let send_q = if end.after(t.snd_una) {
                    u64::from(end - t.snd_una)
                } else {
                    0
                };
                let timer = if t.rtx_deadline.is_some() {
                    Some(("on".to_string(), left(t.rtx_deadline), t.retransmits))
                } else if t.persist_deadline.is_some() {
                    Some((
                        "persist".to_string(),
                        left(t.persist_deadline),
                        t.probes_out,
                    ))
                } else if t.keepalive_deadline.is_some() {
                    Some((
                        "keepalive".to_string(),
                        left(t.keepalive_deadline),
                        t.probes_out,
                    ))
                } else {
                    None
                };
                out.push(SockInfo {
                    recv_q,
                    send_q,
                    timer,
                    info: Some(tcp_info(t, now, self.tx.mtu)),
                    ..SockInfo::row(
                        "tcp",
                        t.state as u8,
                        t.tuple.local.into(),
                        t.tuple.remote.into(),
                    )
                });
            }
        }
    }

    /// All counters with their /proc section names.
    pub fn counter_lines(&self) -> Vec<(&'static str, &'static str, i64)> {
        self.mib
            .lines(self.curr_estab() as u64, self.sysctl.ip_default_ttl)
    }

    // ----- introspection (ss, netstat, tests) ------------------------------

    /// The TCP state of a socket the application holds.
    pub fn tcp_state(&self, h: SocketHandle) -> Option<State> {
        let s = self.sockets.get(&h)?;
        Some(match &s.tcp {
            TcpSock::Idle => State::Closed,
            TcpSock::Listen(_) => State::Listen,
            TcpSock::Conn(t) => t.state,
        })
    }

    /// A connection's control block, orphans included (for ss and tests).
    pub fn tcb(&self, h: SocketHandle) -> Option<&Tcb> {
        self.sockets.get(&h)?.tcb()
    }

    /// The connection on a 4-tuple, whoever holds it.
    pub fn tcb_by_tuple(&self, tuple: &FourTuple) -> Option<&Tcb> {
        self.established.get(tuple).and_then(|h| self.tcb(*h))
    }

    pub fn timewait(&self, tuple: &FourTuple) -> Option<&TimeWaitSock> {
        self.timewait.get(tuple)
    }

    pub fn timewait_count(&self) -> usize {
        self.timewait.len()
    }

    /// Listener queue lengths: (SYN queue, accept queue, backlog).
    pub fn listen_queues(&self, h: SocketHandle) -> Option<(usize, usize, u32)> {
        match &self.sockets.get(&h)?.tcp {
            TcpSock::Listen(l) => Some((l.syn_queue.len(), l.accept_queue.len(), l.backlog)),
            _ => None,
        }
    }

    /// Give back the memory of TCP buffers left empty for `idle` or longer:
    /// a VecDeque keeps its capacity when drained, so without this every
    /// connection that once moved data would hold its high-water mark for
    /// life (Linux frees skbs as they are consumed and reclaims forward
    /// allocations, `sk_mem_reclaim()`). The daemon calls this about once a
    /// second; returns the bytes released.
    pub fn reclaim_idle_buffers(&mut self, now: Instant, idle: Duration) -> usize {
        let mut freed = 0;
        for tcb in self.sockets.values_mut().filter_map(|s| s.tcb_mut()) {
            let quiet = now.saturating_since(tcb.ack.lrcvtime) >= idle
                && now.saturating_since(tcb.last_data_sent) >= idle;
            if !quiet {
                continue;
            }
            if tcb.recv_buf.is_empty() && tcb.recv_buf.capacity() > 0 {
                freed += tcb.recv_buf.capacity();
                tcb.recv_buf = Default::default();
            }
            if tcb.send_buf.is_empty() && tcb.send_buf.capacity() > 0 {
                freed += tcb.send_buf.capacity();
                tcb.send_buf = Default::default();
            }
        }
        freed
    }

    /// The `i`th connection in listener `h`'s accept queue (0 is the next
    /// accept()), so the daemon can hand it over before it is accepted.
    pub fn queued_child(&self, h: SocketHandle, i: usize) -> Option<SocketHandle> {
        match &self.sockets.get(&h)?.tcp {
            TcpSock::Listen(l) => l.accept_queue.get(i).copied(),
            _ => None,
        }
    }

    /// Tcp CurrEstab: connections in ESTABLISHED or CLOSE-WAIT.
    pub fn curr_estab(&self) -> usize {
        self.sockets
            .values()
            .filter_map(|s| s.tcb())
            .filter(|t| matches!(t.state, State::Established | State::CloseWait))
            .count()
    }

    /// Every socket, for diagnostics.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Bytes held for IP reassembly.
    pub fn reassembly_mem(&self) -> usize {
        self.frags.mem()
    }
}

/// `tcp_get_info()` for `ss -i`: cwnd and ssthresh in segments, times in µs.
/// TCP_MAXSEG of a connection as Linux reports it (`tp->mss_cache`): from
/// the SYN until the peer's MSS is known, min(MTU - 40, `clamp`) less the
/// timestamp option; after that the connection's own.
fn mss_cache(t: &Tcb, clamp: u32, mtu: u32) -> u32 {
    if t.state.is_synchronized() || t.snd_una != t.iss {
        return t.mss;
    }
    let ts = if t.neg.ts_ok { 12 } else { 0 };
    clamp.min(mtu.saturating_sub(40)).saturating_sub(ts)
}

fn tcp_info(t: &Tcb, now: Instant, mtu: usize) -> netd_proto::TcpInfo {
    let us = |d: Duration| d.as_micros() as u64;
    let ago = |then: Instant| now.saturating_since(then).as_millis() as u64;
    let mss = t.mss.max(1);
    netd_proto::TcpInfo {
        timestamps: t.neg.ts_ok,
        sack: t.neg.sack_ok,
        congestion: "reno".into(),
        wscale: t
            .neg
            .wscale_ok
            .then_some((t.neg.snd_wscale, t.neg.rcv_wscale)),
        rto_us: us(t.rto()),
        rtt_us: t.rtt.srtt.map_or(0, us),
        rttvar_us: us(t.rtt.rttvar),
        ato_us: us(t.ack.ato),
        snd_mss: t.mss,
        rcv_mss: t.ack.rcv_mss,
        advmss: u32::from(t.adv_mss),
        pmtu: mtu as u32,
        cwnd: t.cc.cwnd / mss,
        ssthresh: (t.cc.ssthresh != u32::MAX).then_some(t.cc.ssthresh / mss),
        bytes_acked: t.bytes_acked,
        bytes_received: t.bytes_received,
        segs_out: t.segs_out,
        segs_in: t.segs_in,
        data_segs_out: t.data_segs_out,
        data_segs_in: t.data_segs_in,
        last_data_sent_ms: ago(t.last_data_sent),
        last_data_recv_ms: ago(t.last_data_recv),
        last_ack_recv_ms: ago(t.last_ack_recv),
        retrans: t.retransmits,
        total_retrans: t.total_retrans,
        min_rtt_us: t.rtt.min_rtt.map_or(0, us),
        snd_wnd: t.snd_wnd,
        rcv_wnd: t.rcv_wnd,
        rcv_rtt_us: t.rcv_rtt.rtt_us(),
        rcv_space: t.rcvq.space,
    }
}

/// After the program read (`tcp_cleanup_rbuf()`): send the ACK that input
/// held back because the window would have shrunk, once more than a
/// segment came in since the last window update; otherwise announce a
/// window that at least doubled. Without the first rule a receiver whose
/// reader lags ACKs a bulk sender only when the delayed-ACK timer fires.
fn cleanup_rbuf(tcb: &mut Tcb, ctx: &mut Ctx) {
    let owed = tcb.ack.pending && (tcb.rcv_nxt - tcb.rcv_wup) > tcb.ack.rcv_mss;
    let cur = tcb.receive_window();
    let free = tcb.rcv_free() as u32;
    let doubled = !tcb.fin_received
        && 2 * cur <= tcb.rcvbuf as u32
        && free >= 2 * cur
        && free >= tcb.ack.rcv_mss;
    if owed || doubled {
        tcb.send_ack(ctx);
    }
}

/// Queue our FIN (`tcp_close_state()` + `tcp_send_fin()`).
fn start_close(tcb: &mut Tcb, ctx: &mut Ctx) {
    if tcb.snd_shutdown {
        return;
    }
    let next = match tcb.state {
        State::Established | State::SynRcvd => State::FinWait1,
        State::CloseWait => State::LastAck,
        _ => return,
    };
    tcb.snd_shutdown = true;
    tcb.state = next;
    tcb.transmit(ctx);
}
