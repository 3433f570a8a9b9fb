//! The main job for now: 10 MB over a simulated 100 Mbit/s link with 10 ms
//! one-way latency and 1% loss, then the wire and counter summary.

use netd_core::sim::{Link, Sim, HOST_B};
use netd_core::{Errno, SockType};
use std::net::SocketAddrV4;
use std::time::Duration;

fn main() {
    let link = Link::ideal()
        .latency(Duration::from_millis(10))
        .rate(100_000_000)
        .loss(0.01);
    let mut sim = Sim::pair(link);
    sim.record = false;
    let now = sim.now();
    let server = sim.stack(1);
    let l = server.socket(SockType::Stream).expect("socket");
    server
        .bind(l, SocketAddrV4::new(HOST_B, 5001))
        .expect("bind");
    server.listen(now, l, 128).expect("listen");
    let c = sim.stack(0).socket(SockType::Stream).expect("socket");
    let _ = sim
        .stack(0)
        .connect(now, c, SocketAddrV4::new(HOST_B, 5001));
    let mut srv = None;
    sim.run_until(Duration::from_secs(5), |s| {
        srv = srv.or_else(|| s.stack(1).accept(l).ok().map(|(h, _)| h));
        srv.is_some()
    });
    let Some(srv) = srv else {
        eprintln!("handshake failed");
        std::process::exit(1);
    };
    let data: Vec<u8> = (0..10_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    let start = sim.now();
    let limit = start + Duration::from_secs(600);
    while got.len() < data.len() {
        let now = sim.now();
        while sent < data.len() {
            match sim.stack(0).send(now, c, &data[sent..]) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        while let Ok(n) = sim.stack(1).recv(now, srv, &mut buf, false) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() < data.len() && !sim.step(limit) {
            break;
        }
    }
    let secs = (sim.now() - start).as_secs_f64();
    println!("transferred {} bytes intact: {}", got.len(), got == data);
    println!(
        "virtual time {:.2} s, goodput {:.1} Mbit/s",
        secs,
        got.len() as f64 * 8.0 / secs / 1e6
    );
    let m = &sim.stack(0).mib;
    println!(
        "sender: OutSegs {} RetransSegs {} TCPFastRetrans {} TCPTimeouts {} TCPSackRecovery {} TCPLossProbes {} TCPLostRetransmit {}",
        m.tcp.out_segs,
        m.tcp.retrans_segs,
        m.tcp_ext.tcp_fast_retrans,
        m.tcp_ext.tcp_timeouts,
        m.tcp_ext.tcp_sack_recovery,
        m.tcp_ext.tcp_loss_probes,
        m.tcp_ext.tcp_lost_retransmit
    );
    let r = &sim.stack(1).mib;
    println!(
        "receiver: InSegs {} TCPOFOQueue {} DelayedACKs {}",
        r.tcp.in_segs, r.tcp_ext.tcp_ofo_queue, r.tcp_ext.delayed_acks
    );
}
