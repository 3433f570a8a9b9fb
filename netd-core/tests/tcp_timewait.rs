//! TIME-WAIT as a minisocket: tcp_tw_reuse 0/1/2 on connect, the stale-RST
//! risk that comes with reuse, and tcp_max_tw_buckets.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};
use netd_core::tcp::{FourTuple, SeqNum, State};
use netd_core::wire::tcp::{TcpFlags, TcpOptions};
use netd_core::{Errno, SockType};
use std::net::{Ipv4Addr, SocketAddrV4};

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Host A talks to itself over 127.0.0.1 from a one-port ephemeral range, and
/// closes first so the client side holds the TIME-WAIT. Returns the old tuple.
/// A's tcp_tw_reuse set to `reuse`, and a single ephemeral port (40000), so
/// the next connect must reuse the TIME-WAIT tuple or fail.
fn one_port_with_reuse(sim: &mut Sim, reuse: &str) {
    let sysctl = &mut sim.stack(A).sysctl;
    sysctl.set("net.ipv4.tcp_tw_reuse", reuse).unwrap();
    sysctl
        .set("net.ipv4.ip_local_port_range", "40000 40000")
        .unwrap();
}

fn loopback_time_wait(sim: &mut Sim, reuse: &str) -> FourTuple {
    one_port_with_reuse(sim, reuse);
    let now = sim.now();
    let st = sim.stack(A);
    let l = st.socket(SockType::Stream).unwrap();
    st.bind(l, SocketAddrV4::new(LO, PORT)).unwrap();
    st.listen(now, l, 16).unwrap();
    let c = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.connect(now, c, SocketAddrV4::new(LO, PORT)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(1));
    let (srv, _) = sim.stack(A).accept(l).unwrap();
    let tuple = sim.stack(A).tcb(c).unwrap().tuple;
    assert_eq!(
        tuple.local,
        SocketAddrV4::new(LO, 40000),
        "loopback source for a loopback destination"
    );
    close_in_turn(sim, (A, c), (A, srv), ms(1));
    assert!(sim.stack(A).timewait(&tuple).is_some());
    tuple
}

fn reconnect(sim: &mut Sim, to: SocketAddrV4) -> Result<netd_core::SocketHandle, Errno> {
    let now = sim.now();
    let c = sim.stack(A).socket(SockType::Stream).unwrap();
    match sim.stack(A).connect(now, c, to) {
        Err(Errno::EINPROGRESS) => Ok(c),
        Err(e) => Err(e),
        Ok(()) => Ok(c),
    }
}

#[test]
fn tw_reuse_0_never_reuses() {
    let mut sim = ideal();
    loopback_time_wait(&mut sim, "0");
    sim.run_for(secs(5));
    assert_eq!(
        reconnect(&mut sim, SocketAddrV4::new(LO, PORT)),
        Err(Errno::EADDRNOTAVAIL)
    );
}

#[test]
fn tw_reuse_2_reuses_on_loopback_after_the_delay() {
    let mut sim = ideal();
    let tuple = loopback_time_wait(&mut sim, "2");
    let old_snd_nxt = sim.stack(A).timewait(&tuple).unwrap().snd_nxt;
    assert_eq!(
        reconnect(&mut sim, SocketAddrV4::new(LO, PORT)),
        Err(Errno::EADDRNOTAVAIL),
        "too soon"
    );
    sim.run_for(ms(1100));
    let c =
        reconnect(&mut sim, SocketAddrV4::new(LO, PORT)).expect("reused after tcp_tw_reuse_delay");
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(t.tuple, tuple);
    assert_eq!(
        t.iss,
        old_snd_nxt + 65535 + 2,
        "the new ISN continues past the old sequence space"
    );
    assert_eq!(sim.stack(A).mib.tcp_ext.tw_recycled, 1);
    sim.run_for(ms(5));
    assert_eq!(state(&sim, A, c), State::Established);
}

/// A (client) closes first toward B over the simulated link: A holds TIME-WAIT.
fn remote_time_wait(sim: &mut Sim, reuse: &str) -> FourTuple {
    one_port_with_reuse(sim, reuse);
    let (c, _l, srv) = establish(sim);
    let tuple = sim.stack(A).tcb(c).unwrap().tuple;
    close_in_turn(sim, (A, c), (B, srv), ms(5));
    assert!(sim.stack(A).timewait(&tuple).is_some());
    tuple
}

#[test]
fn tw_reuse_2_does_not_reuse_for_remote_peers() {
    let mut sim = ideal();
    remote_time_wait(&mut sim, "2");
    sim.run_for(secs(5));
    assert_eq!(reconnect(&mut sim, addr_b(PORT)), Err(Errno::EADDRNOTAVAIL));
}

#[test]
fn tw_reuse_1_reuses_for_any_peer_after_the_delay() {
    let mut sim = ideal();
    let tuple = remote_time_wait(&mut sim, "1");
    sim.run_for(secs(2));
    let c = reconnect(&mut sim, addr_b(PORT)).expect("reused");
    sim.run_for(ms(10));
    assert_eq!(state(&sim, A, c), State::Established);
    assert_eq!(sim.stack(A).tcb(c).unwrap().tuple, tuple);
    assert!(sim.stack(A).timewait(&tuple).is_none());
}

#[test]
fn stale_rst_with_an_old_timestamp_is_accepted_on_a_reused_tuple() {
    // The documented risk of tw_reuse: PAWS rejects old data, but Linux
    // processes an RST whatever its timestamp.
    let mut sim = ideal();
    let tuple = remote_time_wait(&mut sim, "1");
    let old_ts = sim.stack(A).timewait(&tuple).unwrap().ts.unwrap().0;
    sim.run_for(secs(2));
    let c = reconnect(&mut sim, addr_b(PORT)).expect("reused");
    sim.run_for(ms(10));
    let rcv_nxt = sim.stack(A).tcb(c).unwrap().rcv_nxt;
    let stale = TcpOptions {
        timestamp: Some((old_ts.wrapping_sub(1000), 0)),
        ..TcpOptions::default()
    };
    // First, old data with that timestamp is rejected by PAWS...
    let data = tcp_packet(
        tuple.remote,
        tuple.local,
        rcv_nxt,
        SeqNum(0),
        TcpFlags::ACK | TcpFlags::PSH,
        stale,
        b"old!",
    );
    sim.inject(A, data);
    sim.run_for(ms(1));
    assert_eq!(sim.stack(A).mib.tcp_ext.paws_estab, 1);
    let mut b = [0u8; 8];
    let now = sim.now();
    assert_eq!(
        sim.stack(A).recv(now, c, &mut b, false),
        Err(Errno::EAGAIN),
        "old data not delivered"
    );
    // ...but a delayed RST from the old incarnation, landing on rcv_nxt, kills the new one.
    let rst = tcp_packet(
        tuple.remote,
        tuple.local,
        rcv_nxt,
        SeqNum(0),
        TcpFlags::RST,
        stale,
        b"",
    );
    sim.inject(A, rst);
    sim.run_for(ms(1));
    let now = sim.now();
    assert_eq!(
        sim.stack(A).recv(now, c, &mut b, false),
        Err(Errno::ECONNRESET)
    );
}

#[test]
fn tcp_max_tw_buckets_limits_time_wait_sockets() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(1)));
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_max_tw_buckets", "1")
        .unwrap();
    let l = listen(&mut sim, B, PORT, 16);
    for _ in 0..2 {
        let c = connect(&mut sim, A, addr_b(PORT));
        sim.run_for(ms(5));
        let (srv, _) = sim.stack(B).accept(l).unwrap();
        close_in_turn(&mut sim, (A, c), (B, srv), ms(5));
    }
    assert_eq!(sim.stack(A).timewait_count(), 1);
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_time_wait_overflow, 1);
}

/// TIME-WAIT buckets created a few milliseconds apart expire together at
/// the end of their TW_SLOT: the stack asks to be woken at slot ends only,
/// and a bucket whose 60 s are up waits for its slot's end.
#[test]
fn time_wait_buckets_expire_together_at_the_end_of_their_slot() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(1)));
    let l = listen(&mut sim, B, PORT, 16);
    let mut tuples = Vec::new();
    for _ in 0..4 {
        let c = connect(&mut sim, A, addr_b(PORT));
        sim.run_for(ms(5));
        let (srv, _) = sim.stack(B).accept(l).unwrap();
        tuples.push(sim.stack(A).tcb(c).unwrap().tuple);
        close_in_turn(&mut sim, (A, c), (B, srv), ms(5));
    }
    let deadlines: Vec<_> = tuples
        .iter()
        .map(|t| sim.stack(A).timewait(t).unwrap().deadline)
        .collect();
    let (first, last) = (deadlines[0], deadlines[3]);
    let slot = netd_core::tcp::timewait::TW_SLOT;
    assert!(last - first < slot);
    // Past the first bucket's exact deadline, before its slot ends.
    sim.run_for(first - sim.now() + ms(1));
    let wake = sim.stack(A).next_deadline().unwrap();
    assert_eq!(wake.as_micros() % slot.as_micros() as u64, 0);
    assert!(wake >= first && wake - first < slot);
    assert!(wake > sim.now());
    assert_eq!(sim.stack(A).timewait_count(), 4, "nothing expires mid-slot");
    sim.run_for(wake - sim.now());
    let left = sim.stack(A).timewait_count();
    assert_eq!(left, deadlines.iter().filter(|d| **d > wake).count());
    // All ended within one slot of each other: gone by the next slot's end.
    sim.run_for(slot);
    assert_eq!(sim.stack(A).timewait_count(), 0);
    assert_eq!(sim.stack(A).mib.tcp_ext.tw, 4);
}
