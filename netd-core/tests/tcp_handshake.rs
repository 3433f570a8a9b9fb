//! Opening connections: the three-way handshake and its failures.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};
use netd_core::tcp::State;
use netd_core::Errno;

#[test]
fn handshake_states_and_seq_ack_at_every_step() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 128);
    let c = connect(&mut sim, A, addr_b(PORT));
    assert_eq!(state(&sim, A, c), State::SynSent);
    sim.run_for(ms(1));
    // The SYN reached B: a request sock exists, no connection yet.
    assert_eq!(sim.stack(B).listen_queues(l), Some((1, 0, 128)));
    sim.run_for(ms(1));
    assert_eq!(state(&sim, A, c), State::Established);
    sim.run_for(ms(1));
    assert_eq!(sim.stack(B).listen_queues(l), Some((0, 1, 128)));
    let segs = sim.segments();
    assert_eq!(sim.flags(), ["SYN", "SYN|ACK", "ACK"]);
    let (syn, synack, ack) = (&segs[0], &segs[1], &segs[2]);
    assert_eq!(synack.ack, syn.seq + 1, "SYN consumes one sequence number");
    assert_eq!(ack.seq, syn.seq + 1);
    assert_eq!(ack.ack, synack.seq + 1);
    assert_eq!(
        (
            syn.at.as_millis(),
            synack.at.as_millis(),
            ack.at.as_millis()
        ),
        (0, 1, 2)
    );
    let (srv, _) = sim.stack(B).accept(l).unwrap();
    assert_eq!(state(&sim, B, srv), State::Established);
    // The first data segment carries the same seq/ack as the third ACK.
    let now = sim.now();
    sim.stack(A).send(now, c, b"hello").unwrap();
    sim.run_for(ms(5));
    let data = &sim.segments()[3];
    assert_eq!((data.seq, data.ack, data.len), (ack.seq, ack.ack, 5));
    assert_eq!(data.flags_str(), "PSH|ACK");
    let s = sim.stack(A);
    assert_eq!(s.mib.tcp.active_opens, 1);
    // SYN, ACK, data out; SYN-ACK and the data's ACK in.
    assert_eq!((s.mib.tcp.out_segs, s.mib.tcp.in_segs), (3, 2));
    assert_eq!(sim.stack(B).mib.tcp.passive_opens, 1);
    assert_eq!(sim.stack(B).curr_estab(), 1);
}

#[test]
fn lost_third_ack_with_data_completes_the_handshake() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 128);
    // Lose A's first pure ACK (the third segment of the handshake).
    let mut dropped = false;
    sim.drop_if(move |s| {
        let hit = !dropped && s.from == A && s.flags_str() == "ACK" && s.len == 0;
        dropped |= hit;
        hit
    });
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(3));
    assert_eq!(state(&sim, A, c), State::Established);
    assert_eq!(
        sim.stack(B).listen_queues(l),
        Some((1, 0, 128)),
        "B still half-open"
    );
    let now = sim.now();
    sim.stack(A).send(now, c, b"GET /").unwrap();
    sim.run_for(ms(3));
    let (srv, _) = sim
        .stack(B)
        .accept(l)
        .expect("data segment completed the handshake");
    let mut buf = [0u8; 16];
    let now = sim.now();
    assert_eq!(sim.stack(B).recv(now, srv, &mut buf, false), Ok(5));
    assert_eq!(&buf[..5], b"GET /");
}

#[test]
fn synack_retransmitted_with_backoff_then_half_open_dropped() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 128);
    // The client's ACKs never arrive: B keeps a half-open request.
    sim.drop_if(|s| s.from == A && !s.flags.syn());
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(secs(70));
    let synacks: Vec<u64> = sim
        .segments()
        .iter()
        .filter(|s| s.flags_str() == "SYN|ACK")
        .map(|s| s.at.as_millis())
        .collect();
    // Sent at 1 ms, then 1, 3, 7, 15, 31 s later (tcp_synack_retries = 5).
    assert_eq!(synacks, [1, 1_001, 3_001, 7_001, 15_001, 31_001]);
    assert_eq!(
        sim.stack(B).listen_queues(l),
        Some((0, 0, 128)),
        "request dropped at 63 s"
    );
    assert_eq!(sim.stack(B).mib.tcp_ext.tcp_syn_retrans, 5);
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn connect_times_out_after_syn_retries_with_etimedout() {
    let mut sim = ideal();
    sim.link_down();
    let c = connect(&mut sim, A, addr_b(PORT));
    let ok = sim.run_until(secs(300), |s| s.tcp_state(A, c) == Some(State::Closed));
    assert!(ok);
    // Linux 6.5+: four linear 1 s retransmissions then backoff: 0,1,2,3,4,5,7,11,19,35,67, give up at 131 s.
    let syns: Vec<u64> = sim
        .segments()
        .iter()
        .map(|s| s.at.as_millis() / 1000)
        .collect();
    assert_eq!(syns, [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    assert_eq!(sim.now().as_millis(), 131_000);
    let now = sim.now();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::ETIMEDOUT)
    );
    let m = &sim.stack(A).mib;
    assert_eq!(
        (
            m.tcp.attempt_fails,
            m.tcp_ext.tcp_syn_retrans,
            m.tcp_ext.tcp_abort_on_timeout
        ),
        (1, 10, 1)
    );
}

#[test]
fn syn_retries_one_gives_up_after_three_seconds() {
    let mut sim = ideal();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_syn_retries", "1")
        .unwrap();
    sim.link_down();
    let c = connect(&mut sim, A, addr_b(PORT));
    assert!(sim.run_until(secs(60), |s| s.tcp_state(A, c) == Some(State::Closed)));
    assert_eq!(sim.now().as_millis(), 3_000);
}

#[test]
fn connect_to_closed_port_is_refused_by_rst() {
    let mut sim = ideal();
    let c = connect(&mut sim, A, addr_b(9));
    sim.run_for(ms(5));
    assert_eq!(sim.flags(), ["SYN", "RST|ACK"]);
    let segs = sim.segments();
    assert_eq!(segs[1].ack, segs[0].seq + 1);
    let now = sim.now();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(9)),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(sim.stack(B).mib.tcp.out_rsts, 1);
    assert_eq!(sim.stack(A).mib.tcp.attempt_fails, 1);
}

#[test]
fn connect_to_bound_but_not_listening_port_is_refused() {
    let mut sim = ideal();
    let now = sim.now();
    let b = sim.stack(B).socket(netd_core::SockType::Stream).unwrap();
    sim.stack(B).bind(b, addr_b(PORT)).unwrap();
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    assert_eq!(sim.flags(), ["SYN", "RST|ACK"]);
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::ECONNREFUSED)
    );
    // The refused socket may connect again once something listens.
    sim.stack(B).listen(now, b, 16).unwrap();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(5));
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn simultaneous_open_reaches_established_on_both_sides() {
    let mut sim = ideal();
    let now = sim.now();
    let a = sim.stack(A).socket(netd_core::SockType::Stream).unwrap();
    let b = sim.stack(B).socket(netd_core::SockType::Stream).unwrap();
    sim.stack(A).bind(a, addr_a(7000)).unwrap();
    sim.stack(B).bind(b, addr_b(7001)).unwrap();
    assert_eq!(
        sim.stack(A).connect(now, a, addr_b(7001)),
        Err(Errno::EINPROGRESS)
    );
    assert_eq!(
        sim.stack(B).connect(now, b, addr_a(7000)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(1));
    assert_eq!(
        (state(&sim, A, a), state(&sim, B, b)),
        (State::SynRcvd, State::SynRcvd)
    );
    sim.run_for(ms(5));
    assert_eq!(
        (state(&sim, A, a), state(&sim, B, b)),
        (State::Established, State::Established)
    );
    assert_eq!(sim.flags(), ["SYN", "SYN", "SYN|ACK", "SYN|ACK"]);
    let got = transfer(&mut sim, (A, a), (B, b), b"crossed", secs(1));
    assert_eq!(got, b"crossed");
    assert_eq!(sim.stack(A).mib.tcp.retrans_segs, 0);
}

#[test]
fn self_connect_echoes_data_back() {
    let mut sim = ideal();
    let now = sim.now();
    let s = sim.stack(A).socket(netd_core::SockType::Stream).unwrap();
    sim.stack(A).bind(s, addr_a(5555)).unwrap();
    assert_eq!(
        sim.stack(A).connect(now, s, addr_a(5555)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(1));
    assert_eq!(state(&sim, A, s), State::Established);
    let got = transfer(&mut sim, (A, s), (A, s), b"talking to myself", secs(1));
    assert_eq!(got, b"talking to myself");
    assert!(sim.trace().is_empty(), "loopback never touches the link");
}

#[test]
fn tcp_maxseg_on_the_listener_caps_the_advertised_mss() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(1)));
    let l = listen(&mut sim, B, PORT, 8);
    let now = sim.now();
    sim.stack(B)
        .setsockopt(now, l, netd_core::SockOpt::MaxSeg(536))
        .unwrap();
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let srv = sim.stack(B).accept(l).unwrap().0;
    assert_eq!(sim.segments()[1].options.mss, Some(536));
    let data = payload(5000, 3);
    let got = transfer(&mut sim, (A, c), (B, srv), &data, secs(2));
    assert_eq!(got, data);
    let max = sim
        .segments()
        .iter()
        .filter(|s| s.from == A)
        .map(|s| s.len)
        .max()
        .unwrap();
    assert_eq!(max, 536 - 12, "536 minus the timestamp option");
}

#[test]
fn window_scale_and_timestamps_negotiated_both_ways() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let segs = sim.segments();
    let (syn, synack) = (&segs[0], &segs[1]);
    assert_eq!(
        syn.options.wscale,
        Some(7),
        "6 MiB tcp_rmem max needs shift 7"
    );
    assert_eq!(synack.options.wscale, Some(7));
    assert!(syn.options.timestamp.is_some() && synack.options.timestamp.is_some());
    assert_eq!(
        synack.options.timestamp.unwrap().1,
        syn.options.timestamp.unwrap().0,
        "TSecr echoes TSval"
    );
    assert!(syn.options.sack_permitted && synack.options.sack_permitted);
    let a = sim.stack(A).tcb(c).unwrap().neg;
    let b = sim.stack(B).tcb(srv).unwrap().neg;
    assert!(a.wscale_ok && a.ts_ok && a.sack_ok && b.wscale_ok && b.ts_ok);
    assert_eq!((a.snd_wscale, b.snd_wscale), (7, 7));
    // The third ACK's window is scaled: 131072 bytes free >> 7.
    assert_eq!(segs[2].window, (131_072 >> 7) as u16);
}

#[test]
fn options_off_on_one_side_are_off_for_both() {
    let mut sim = ideal();
    sim.stack(B)
        .sysctl
        .set("net.ipv4.tcp_window_scaling", "0")
        .unwrap();
    sim.stack(B)
        .sysctl
        .set("net.ipv4.tcp_timestamps", "0")
        .unwrap();
    let (c, _, srv) = establish(&mut sim);
    let synack = &sim.segments()[1];
    assert_eq!(synack.options.wscale, None);
    assert_eq!(synack.options.timestamp, None);
    let a = sim.stack(A).tcb(c).unwrap().neg;
    assert!(!a.wscale_ok && !a.ts_ok && a.sack_ok);
    assert_eq!(
        sim.stack(A).tcb(c).unwrap().mss,
        1460,
        "no timestamp overhead"
    );
    let b = sim.stack(B).tcb(srv).unwrap();
    assert!(b.rcv_wnd <= 65535, "unscaled window capped at 64 KiB");
}
