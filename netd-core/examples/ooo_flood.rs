//! The out-of-order flood of issue 15 (item 7), timed: one connection in
//! the simulator takes one-byte segments at every other sequence number of
//! a 1 MB window, and the program prints how long the stack spent on them,
//! and what it held. A measurement, not a test (wall-clock time).
//!
//!     cargo run --release -p netd-core --example ooo_flood [SEGMENTS]

use netd_core::sim::{Link, Sim, HOST_B};
use netd_core::tcp::SeqNum;
use netd_core::wire::ipv4::Ipv4Repr;
use netd_core::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use netd_core::SockType;
use std::net::SocketAddrV4;
use std::time::Duration;

fn packet(src: SocketAddrV4, dst: SocketAddrV4, seq: SeqNum, ack: SeqNum, ts: u32) -> Vec<u8> {
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            timestamp: Some((ts, 0)),
            ..TcpOptions::default()
        },
        payload: b"x",
    };
    let mut body = Vec::new();
    seg.emit(*src.ip(), *dst.ip(), &mut body);
    let hdr = Ipv4Repr {
        src: *src.ip(),
        dst: *dst.ip(),
        protocol: netd_core::wire::ipv4::PROTO_TCP,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        header_len: 20,
        total_len: 20 + body.len(),
    };
    let mut out = Vec::new();
    hdr.emit(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(65_000);
    let mut sim = Sim::pair(Link::ideal().latency(Duration::from_millis(1)));
    let now = sim.now();
    let st = sim.stack(0);
    st.sysctl
        .set("net.ipv4.tcp_rmem", "4096 1048576 6291456")
        .unwrap();
    let l = sim.stack(1).socket(SockType::Stream).unwrap();
    sim.stack(1).bind(l, SocketAddrV4::new(HOST_B, 80)).unwrap();
    sim.stack(1).listen(now, l, 16).unwrap();
    let c = sim.stack(0).socket(SockType::Stream).unwrap();
    let _ = sim.stack(0).connect(now, c, SocketAddrV4::new(HOST_B, 80));
    sim.run_for(Duration::from_millis(10));
    let now = sim.now();
    assert_eq!(
        sim.stack(0).connect(now, c, SocketAddrV4::new(HOST_B, 80)),
        Ok(())
    );
    let t = sim.stack(0).tcb(c).unwrap();
    let (tuple, rcv_nxt, ack, ts) = (t.tuple, t.rcv_nxt, t.snd_nxt, t.ts_recent);
    let pkts: Vec<Vec<u8>> = (1..=n)
        .map(|i| packet(tuple.remote, tuple.local, rcv_nxt + 2 * i, ack, ts))
        .collect();
    let start = std::time::Instant::now();
    let now = sim.now();
    for p in &pkts {
        sim.stack(0).receive(now, p);
    }
    let spent = start.elapsed();
    let t = sim.stack(0).tcb(c).unwrap();
    println!(
        "{n} segments: {:.3} s, {} bytes held out of order, OFO drops {}",
        spent.as_secs_f64(),
        t.ooo_bytes(),
        sim.stack(0).mib.tcp_ext.tcp_ofo_drop
    );
}
