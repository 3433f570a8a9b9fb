//! Delayed ACK, quick-ACK mode and Nagle, timed in virtual time.

mod common;
use common::*;
use netd_core::sim::{Link, Sim, HOST_A, HOST_B};
use netd_core::wire::ipv4::{Ipv4Repr, PROTO_TCP};
use netd_core::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use netd_core::{Instant, SockOpt};

/// Stream full-sized segments after the quick-ACK phase and look at B's ACKs.
#[test]
fn bulk_receiver_acks_every_second_full_segment() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(5)).rate(10_000_000));
    let (c, _, srv) = establish(&mut sim);
    let data = payload(400_000, 1);
    let got = transfer(&mut sim, (A, c), (B, srv), &data, secs(30));
    assert!(got == data);
    let segs = sim.segments();
    let mss = sim.stack(A).tcb(c).unwrap().mss;
    // After the first 16 quick ACKs, each pure ACK from B covers two segments.
    let acks: Vec<_> = segs
        .iter()
        .filter(|s| s.from == B && s.len == 0 && s.flags_str() == "ACK")
        .collect();
    let steps: Vec<u32> = acks
        .windows(2)
        .map(|w| w[1].ack - w[0].ack)
        .skip(20)
        .take(50)
        .collect();
    let two = steps.iter().filter(|d| **d == 2 * mss).count();
    assert!(two >= 45, "ACK steps (bytes): {steps:?}");
}

#[test]
fn first_segments_are_acked_at_once_in_quickack_mode() {
    let mut sim = ideal();
    let (c, _, _srv) = establish(&mut sim);
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).send(now, c, b"one").unwrap();
    sim.run_for(ms(10));
    let s = sim.segments();
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].at - s[0].at, ms(1), "ACKed on arrival, no delay");
}

#[test]
fn delayed_ack_fires_after_40ms_once_quickacks_are_spent() {
    let mut sim = ideal();
    let (c, _, _srv) = establish(&mut sim);
    // Spend the quick-ACK budget with small segments 100 ms apart (less than
    // the RTO: a longer idle gap would restart quick-ACK mode, as in Linux).
    for _ in 0..20 {
        let now = sim.now();
        sim.stack(A).send(now, c, b"x").unwrap();
        sim.run_for(ms(100));
    }
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).send(now, c, b"y").unwrap();
    sim.run_for(ms(100));
    let s = sim.segments();
    assert_eq!(sim.flags(), ["PSH|ACK", "ACK"]);
    let delay = s[1].at - s[0].at - ms(1);
    assert!(
        delay >= ms(40) && delay <= ms(200),
        "delack timer between TCP_DELACK_MIN and MAX: {delay:?}"
    );
    assert!(sim.stack(B).mib.tcp_ext.delayed_acks > 0);
}

/// B's program lags behind: input holds back the ACK for three full
/// segments (acking would announce a shrunken window), and the program's
/// read sends it at once (`tcp_cleanup_rbuf()`), not the delayed-ACK timer.
#[test]
fn a_read_sends_the_ack_input_held_back_for_a_lagging_reader() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let mut buf = [0u8; 8192];
    for _ in 0..20 {
        let now = sim.now();
        sim.stack(A).send(now, c, b"x").unwrap();
        sim.run_for(ms(100));
        let now = sim.now();
        assert_eq!(sim.stack(B).recv(now, srv, &mut buf, false), Ok(1));
    }
    sim.clear_trace();
    let mss = sim.stack(A).tcb(c).unwrap().mss as usize;
    let now = sim.now();
    sim.stack(A).send(now, c, &payload(3 * mss, 9)).unwrap();
    sim.run_for(ms(5));
    let from_b = |sim: &Sim| -> Vec<netd_core::sim::Seg> {
        sim.segments().into_iter().filter(|s| s.from == B).collect()
    };
    assert_eq!(sim.segments().len(), 3, "three full segments");
    assert!(
        from_b(&sim).is_empty(),
        "ACK held back while the data is unread"
    );
    let read_at = sim.now();
    assert_eq!(
        sim.stack(B).recv(read_at, srv, &mut buf, false),
        Ok(3 * mss)
    );
    sim.run_for(ms(5));
    let acks = from_b(&sim);
    assert_eq!(acks.len(), 1, "{:?}", sim.flags());
    assert_eq!(acks[0].at, read_at, "sent by the read");
    assert_eq!(acks[0].ack, sim.stack(A).tcb(c).unwrap().snd_nxt);
}

#[test]
fn nagle_holds_a_second_small_write_until_the_first_is_acked() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(20)));
    let (c, _, _) = establish(&mut sim);
    sim.clear_trace();
    let data = two_runts(&mut sim, c);
    assert_eq!(data.len(), 2);
    assert!(
        data[1].at - data[0].at >= ms(40),
        "second runt waited for the ACK"
    );
}

#[test]
fn tcp_nodelay_sends_small_writes_at_once() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(20)));
    let (c, _, _) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::NoDelay(true))
        .unwrap();
    sim.clear_trace();
    let data = two_runts(&mut sim, c);
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].at, data[1].at);
}

#[test]
fn peer_without_mss_option_gets_536_byte_segments() {
    // A hand-made SYN with no options at all, as an old stack would send.
    let mut b = bare_stack(HOST_B);
    let l = b.socket(netd_core::SockType::Stream).unwrap();
    b.bind(l, addr_b(PORT)).unwrap();
    b.listen(Instant::ZERO, l, 8).unwrap();
    let syn = TcpRepr {
        src_port: 5000,
        dst_port: PORT,
        seq: netd_core::tcp::SeqNum(100),
        ack: netd_core::tcp::SeqNum(0),
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    let mut seg = Vec::new();
    syn.emit(HOST_A, HOST_B, &mut seg);
    b.receive(Instant::ZERO, &ip_packet(HOST_A, HOST_B, PROTO_TCP, &seg));
    let out = drain(&mut b);
    let (_, body) = Ipv4Repr::parse(&out[0]).unwrap();
    let synack = TcpRepr::parse(HOST_B, HOST_A, body).unwrap();
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    // Only MSS is offered back: no WS, SACK or TS unless the SYN had them.
    assert_eq!(synack.options.mss, Some(1460));
    assert_eq!(
        (
            synack.options.wscale,
            synack.options.sack_permitted,
            synack.options.timestamp
        ),
        (None, false, None)
    );
    let ack = TcpRepr {
        seq: syn.seq + 1,
        ack: synack.seq + 1,
        flags: TcpFlags::ACK,
        ..syn
    };
    let mut seg = Vec::new();
    ack.emit(HOST_A, HOST_B, &mut seg);
    b.receive(
        Instant::from_millis(1),
        &ip_packet(HOST_A, HOST_B, PROTO_TCP, &seg),
    );
    let (srv, _) = b.accept(l).unwrap();
    assert_eq!(b.tcb(srv).unwrap().mss, 536);
    b.send(Instant::from_millis(1), srv, &payload(3000, 1))
        .unwrap();
    let out = drain(&mut b);
    let sizes: Vec<usize> = out
        .iter()
        .map(|p| {
            let (_, body) = Ipv4Repr::parse(p).unwrap();
            TcpRepr::parse(HOST_B, HOST_A, body).unwrap().payload.len()
        })
        .collect();
    assert_eq!(sizes, [536, 536, 536, 536, 536, 320]);
    let _ = HOST_A;
}

/// Two one-byte writes from A at once; the data segments A sent in the next 200 ms.
fn two_runts(sim: &mut Sim, c: netd_core::SocketHandle) -> Vec<netd_core::sim::Seg> {
    let now = sim.now();
    sim.stack(A).send(now, c, b"a").unwrap();
    sim.stack(A).send(now, c, b"b").unwrap();
    sim.run_for(ms(200));
    sim.segments()
        .into_iter()
        .filter(|s| s.from == A && s.len > 0)
        .collect()
}
