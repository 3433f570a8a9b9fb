//! Memory a connection holds: receive buffers grow with the flow
//! (autotuning), and buffers come back when it goes quiet.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};

/// 100 Mbit/s with a 50 ms RTT: a bandwidth-delay product of 625 kB, about
/// five times the initial receive buffer (tcp_rmem[1], 128 KB).
fn long_fat_link() -> Sim {
    let mut sim = Sim::pair(Link::ideal().latency(ms(25)).rate(100_000_000));
    sim.record = false;
    sim
}

/// Virtual seconds to move `len` bytes A -> B with B reading as it comes,
/// and B's receive buffer afterwards.
fn upload(
    sim: &mut Sim,
    c: netd_core::SocketHandle,
    srv: netd_core::SocketHandle,
    len: usize,
) -> (f64, usize) {
    let data = payload(len, 9);
    let start = sim.now();
    assert_eq!(transfer(sim, (A, c), (B, srv), &data, secs(120)), data);
    let took = sim.now().saturating_since(start).as_secs_f64();
    (took, sim.stack(B).tcb(srv).unwrap().rcvbuf)
}

#[test]
fn the_receive_buffer_grows_with_the_flow_on_a_long_fat_path() {
    let mut fixed = long_fat_link();
    fixed.stack(B).sysctl.tcp_moderate_rcvbuf = 0;
    let (c, _, srv) = establish(&mut fixed);
    let (fixed_secs, fixed_buf) = upload(&mut fixed, c, srv, 20_000_000);
    assert_eq!(fixed_buf, 131_072, "tcp_rmem[1], untouched");

    let mut tuned = long_fat_link();
    let (c, _, srv) = establish(&mut tuned);
    let (tuned_secs, tuned_buf) = upload(&mut tuned, c, srv, 20_000_000);
    assert!(
        tuned_buf >= 625_000,
        "grew past the path's BDP: {tuned_buf}"
    );
    assert!(tuned_buf <= 6 << 20, "capped at tcp_rmem[2]: {tuned_buf}");
    // 128 KB per 50 ms caps the fixed buffer near 2.6 MB/s; the link carries 12.5.
    assert!(
        tuned_secs * 2.5 < fixed_secs,
        "autotuned {tuned_secs:.2} s vs fixed {fixed_secs:.2} s"
    );
    // The receiver timed the path from the timestamp echoes: never less
    // than its 50 ms, more with the queue the sender builds at the link.
    let rtt = tuned.stack(B).tcb(srv).unwrap().rcv_rtt.rtt_us();
    assert!((50_000..1_000_000).contains(&rtt), "rcv_rtt {rtt} us");
}

#[test]
fn without_timestamps_the_receiver_times_a_window_and_still_grows() {
    let mut sim = long_fat_link();
    sim.stack(A).sysctl.tcp_timestamps = 0;
    let (c, _, srv) = establish(&mut sim);
    assert!(!sim.stack(B).tcb(srv).unwrap().neg.ts_ok);
    let (_, buf) = upload(&mut sim, c, srv, 20_000_000);
    assert!(buf >= 625_000, "{buf}");
    let rtt = sim.stack(B).tcb(srv).unwrap().rcv_rtt.rtt_us();
    assert!((50_000..=100_000).contains(&rtt), "rcv_rtt {rtt} us");
}

#[test]
fn so_rcvbuf_turns_autotuning_off() {
    let mut sim = long_fat_link();
    let l = listen(&mut sim, B, PORT, 16);
    let now = sim.now();
    sim.stack(B)
        .setsockopt(now, l, netd_core::SockOpt::RcvBuf(65_536))
        .unwrap();
    let c = connect(&mut sim, A, addr_b(PORT));
    let mut srv = None;
    assert!(sim.run_until(secs(5), |s| {
        srv = srv.or_else(|| s.stack(B).accept(l).ok().map(|(h, _)| h));
        srv.is_some()
    }));
    let srv = srv.unwrap();
    let before = sim.stack(B).tcb(srv).unwrap().rcvbuf;
    let (_, after) = upload(&mut sim, c, srv, 2_000_000);
    assert_eq!(after, before, "SO_RCVBUF holds");
}

#[test]
fn an_idle_connection_gives_its_buffers_back() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let data = payload(300_000, 5);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &data, secs(10)), data);
    let now = sim.now();
    // Still busy a moment ago: nothing is taken away.
    assert_eq!(sim.stack(A).reclaim_idle_buffers(now, secs(1)), 0);
    assert!(sim.stack(A).tcb(c).unwrap().send_buf.capacity() > 0);
    assert!(sim.stack(B).tcb(srv).unwrap().recv_buf.capacity() > 0);
    sim.run_for(secs(2));
    let now = sim.now();
    assert!(sim.stack(A).reclaim_idle_buffers(now, secs(1)) > 0);
    assert!(sim.stack(B).reclaim_idle_buffers(now, secs(1)) > 0);
    assert_eq!(sim.stack(A).tcb(c).unwrap().send_buf.capacity(), 0);
    assert_eq!(sim.stack(B).tcb(srv).unwrap().recv_buf.capacity(), 0);
    // And the connection goes on as before.
    let more = payload(100_000, 6);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &more, secs(10)), more);
}

#[test]
fn unread_data_is_never_reclaimed() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).send(now, c, &payload(5000, 7)).unwrap();
    sim.run_for(secs(3));
    let now = sim.now();
    sim.stack(B).reclaim_idle_buffers(now, secs(1));
    let mut buf = vec![0u8; 8000];
    assert_eq!(sim.stack(B).recv(now, srv, &mut buf, false), Ok(5000));
    assert_eq!(&buf[..5000], &payload(5000, 7)[..]);
}
