//! Scenario helpers: two hosts on a simulated link, sockets driven like a
//! program would drive them, in virtual time.
#![allow(dead_code)]

use netd_core::sim::{Link, Sim, HOST_A, HOST_B};
use netd_core::tcp::State;
use netd_core::{Errno, SockType, SocketHandle};
use std::net::SocketAddrV4;
use std::time::Duration;

pub const A: usize = 0;
pub const B: usize = 1;
pub const PORT: u16 = 8080;

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
pub fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

pub fn addr_b(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(HOST_B, port)
}
pub fn addr_a(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(HOST_A, port)
}

pub fn listen(sim: &mut Sim, host: usize, port: u16, backlog: i32) -> SocketHandle {
    let now = sim.now();
    let ip = sim.hosts[host].addr;
    let st = sim.stack(host);
    let l = st.socket(SockType::Stream).unwrap();
    st.bind(l, SocketAddrV4::new(ip, port)).unwrap();
    st.listen(now, l, backlog).unwrap();
    l
}

pub fn connect(sim: &mut Sim, host: usize, to: SocketAddrV4) -> SocketHandle {
    let now = sim.now();
    let st = sim.stack(host);
    let c = st.socket(SockType::Stream).unwrap();
    assert_eq!(st.connect(now, c, to), Err(Errno::EINPROGRESS));
    c
}

pub fn state(sim: &Sim, host: usize, h: SocketHandle) -> State {
    sim.tcp_state(host, h).expect("socket exists")
}

/// A's client connected to B's listener on PORT and accepted: (client, listener, server).
pub fn establish(sim: &mut Sim) -> (SocketHandle, SocketHandle, SocketHandle) {
    let l = listen(sim, B, PORT, 128);
    let c = connect(sim, A, addr_b(PORT));
    let mut accepted = None;
    let ok = sim.run_until(secs(10), |sim| {
        if accepted.is_none() {
            accepted = sim.stack(B).accept(l).ok().map(|(h, _)| h);
        }
        accepted.is_some() && sim.tcp_state(A, c) == Some(State::Established)
    });
    assert!(ok, "handshake did not complete");
    let now = sim.now();
    assert_eq!(sim.stack(A).connect(now, c, addr_b(PORT)), Ok(()));
    (c, l, accepted.unwrap())
}

/// Move `data` from (host, h) to (peer, p), writing as space allows and
/// reading everything; returns what the receiver read.
pub fn transfer(
    sim: &mut Sim,
    from: (usize, SocketHandle),
    to: (usize, SocketHandle),
    data: &[u8],
    limit: Duration,
) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 65536];
    let end = sim.now() + limit;
    while got.len() < data.len() && sim.now() < end {
        let now = sim.now();
        while sent < data.len() {
            match sim.stack(from.0).send(now, from.1, &data[sent..]) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        loop {
            match sim.stack(to.0).recv(now, to.1, &mut buf, false) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("recv failed: {e}"),
            }
        }
        if got.len() >= data.len() {
            break;
        }
        if !sim.step(end) {
            break;
        }
    }
    got
}

/// Deterministic pseudo-random payload.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn ideal() -> Sim {
    Sim::pair(Link::ideal().latency(ms(1)))
}

/// Build a raw IPv4 packet around `body`.
pub fn ip_packet(
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    proto: u8,
    body: &[u8],
) -> Vec<u8> {
    let hdr = netd_core::wire::ipv4::Ipv4Repr {
        src,
        dst,
        protocol: proto,
        ttl: 64,
        tos: 0,
        ident: 77,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        header_len: 20,
        total_len: 20 + body.len(),
    };
    let mut out = Vec::new();
    hdr.emit(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// Everything a bare stack transmitted, drained.
pub fn drain(stack: &mut netd_core::Stack) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| stack.poll_transmit()).collect()
}

pub fn bare_stack(addr: std::net::Ipv4Addr) -> netd_core::Stack {
    netd_core::Stack::new(netd_core::StackConfig {
        addr,
        mtu: 1500,
        seed: 9,
    })
}

/// A raw TCP segment in an IPv4 packet.
#[allow(clippy::too_many_arguments)]
pub fn tcp_packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: netd_core::tcp::SeqNum,
    ack: netd_core::tcp::SeqNum,
    flags: netd_core::wire::tcp::TcpFlags,
    options: netd_core::wire::tcp::TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let seg = netd_core::wire::tcp::TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options,
        payload,
    };
    let mut body = Vec::new();
    seg.emit(*src.ip(), *dst.ip(), &mut body);
    ip_packet(
        *src.ip(),
        *dst.ip(),
        netd_core::wire::ipv4::PROTO_TCP,
        &body,
    )
}

/// A client SYN with Linux's usual options.
pub fn syn_from(src: SocketAddrV4, dst: SocketAddrV4, isn: u32) -> Vec<u8> {
    let options = netd_core::wire::tcp::TcpOptions {
        mss: Some(1460),
        wscale: Some(7),
        sack_permitted: true,
        timestamp: Some((1000, 0)),
        ..Default::default()
    };
    tcp_packet(
        src,
        dst,
        netd_core::tcp::SeqNum(isn),
        netd_core::tcp::SeqNum(0),
        netd_core::wire::tcp::TcpFlags::SYN,
        options,
        &[],
    )
}

/// close() `first`, let `gap` pass, close() `then`, let `gap` pass: the
/// active closer ends in TIME-WAIT.
pub fn close_in_turn(
    sim: &mut Sim,
    first: (usize, SocketHandle),
    then: (usize, SocketHandle),
    gap: Duration,
) {
    for (host, h) in [first, then] {
        let now = sim.now();
        sim.stack(host).close(now, h).unwrap();
        sim.run_for(gap);
    }
}

/// recv() on (host, h) at the current virtual time, into a small buffer.
pub fn recv_now(sim: &mut Sim, host: usize, h: SocketHandle) -> Result<usize, Errno> {
    let now = sim.now();
    let mut buf = [0u8; 64];
    sim.stack(host).recv(now, h, &mut buf, false)
}

/// Write as much of `data[*sent..]` on (host, h) as the send buffer takes now.
pub fn send_available(sim: &mut Sim, host: usize, h: SocketHandle, data: &[u8], sent: &mut usize) {
    let now = sim.now();
    while *sent < data.len() {
        match sim.stack(host).send(now, h, &data[*sent..]) {
            Ok(n) => *sent += n,
            Err(_) => break,
        }
    }
}
