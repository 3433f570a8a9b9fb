//! Blind-attack defences: RFC 5961 challenge ACKs and their rate limit, PAWS,
//! RFC 6528 ISNs, and tunables taking effect at run time.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};
use netd_core::tcp::{SeqNum, State};
use netd_core::wire::tcp::{TcpFlags, TcpOptions};
use netd_core::{Errno, SockType};

fn rst_at(sim: &mut Sim, c: netd_core::SocketHandle, offset: u32) {
    let t = sim.stack(A).tcb(c).unwrap();
    let (tuple, seq) = (t.tuple, t.rcv_nxt + offset);
    let pkt = tcp_packet(
        tuple.remote,
        tuple.local,
        seq,
        SeqNum(0),
        TcpFlags::RST,
        TcpOptions::default(),
        b"",
    );
    sim.inject(A, pkt);
    sim.run_for(ms(1));
}

#[test]
fn in_window_rst_gets_a_challenge_ack() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    sim.clear_trace();
    rst_at(&mut sim, c, 1000);
    assert_eq!(state(&sim, A, c), State::Established);
    assert_eq!(sim.flags(), ["ACK"], "the challenge");
    let ack = &sim.segments()[0];
    assert_eq!(ack.ack, sim.stack(A).tcb(c).unwrap().rcv_nxt);
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_challenge_ack, 1);
}

#[test]
fn rst_exactly_at_rcv_nxt_resets() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    rst_at(&mut sim, c, 0);
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ECONNRESET));
    assert_eq!(sim.stack(A).mib.tcp.estab_resets, 1);
}

#[test]
fn out_of_window_rst_is_ignored_silently() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    sim.clear_trace();
    rst_at(&mut sim, c, 10_000_000);
    assert_eq!(state(&sim, A, c), State::Established);
    assert!(sim.trace().is_empty());
}

#[test]
fn challenge_acks_are_rate_limited_per_namespace() {
    let mut sim = ideal();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_challenge_ack_limit", "10")
        .unwrap();
    let l = listen(&mut sim, B, PORT, 128);
    let mut conns = Vec::new();
    for _ in 0..40 {
        conns.push(connect(&mut sim, A, addr_b(PORT)));
    }
    sim.run_for(ms(10));
    while sim.stack(B).accept(l).is_ok() {}
    // Align to the start of a second, then 40 in-window RSTs within it.
    let now = sim.now().as_millis();
    sim.run_for(ms(1000 - now % 1000 + 1));
    sim.clear_trace();
    for c in &conns {
        rst_at(&mut sim, *c, 100);
    }
    let sent = sim.segments().iter().filter(|s| s.from == A).count() as u64;
    // A budget in [limit/2, 1.5 limit) per second.
    assert!((5..15).contains(&sent), "{sent} challenge ACKs");
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_challenge_ack, sent);
    assert!(conns
        .iter()
        .all(|c| sim.tcp_state(A, *c) == Some(State::Established)));
}

#[test]
fn syn_at_a_last_ack_socket_gets_a_challenge_and_the_syn_sent_side_resets_it() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let now = sim.now();
    let c = sim.stack(A).socket(SockType::Stream).unwrap();
    sim.stack(A).bind(c, addr_a(5000)).unwrap();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(5));
    let (srv, _) = sim.stack(B).accept(l).unwrap();
    // A closes, B closes; A's last ACK is lost and A reboots before B retransmits its FIN.
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(100));
    sim.drop_if(|s| s.from == A && s.flags_str() == "ACK");
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(5));
    assert_eq!(state(&sim, B, srv), State::LastAck);
    sim.clear_drop();
    sim.reboot(A);
    sim.clear_trace();
    // The rebooted host connects again from the same port.
    let now = sim.now();
    let c2 = sim.stack(A).socket(SockType::Stream).unwrap();
    sim.stack(A).bind(c2, addr_a(5000)).unwrap();
    assert_eq!(
        sim.stack(A).connect(now, c2, addr_b(PORT)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(5));
    assert_eq!(
        sim.flags(),
        ["SYN", "ACK", "RST"],
        "SYN, challenge ACK, RST from SYN-SENT"
    );
    let s = sim.segments();
    assert_eq!(
        s[2].seq, s[1].ack,
        "the RST takes the challenge's ACK number"
    );
    assert!(sim.stack(B).tcb(srv).is_none(), "the RST closed LAST-ACK");
    assert_eq!(sim.stack(B).mib.tcp_ext.tcp_syn_challenge, 1);
    // The SYN retransmission a second later opens the new connection.
    sim.run_for(ms(1100));
    assert_eq!(state(&sim, A, c2), State::Established);
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    transfer(&mut sim, (B, srv), (A, c), b"fresh", secs(1));
    let t = sim.stack(A).tcb(c).unwrap();
    let (tuple, rcv_nxt, recent) = (t.tuple, t.rcv_nxt, t.ts_recent);
    sim.clear_trace();
    let old = TcpOptions {
        timestamp: Some((recent.wrapping_sub(1), 0)),
        ..TcpOptions::default()
    };
    let pkt = tcp_packet(
        tuple.remote,
        tuple.local,
        rcv_nxt,
        SeqNum(0),
        TcpFlags::ACK,
        old,
        b"replay",
    );
    sim.inject(A, pkt);
    sim.run_for(ms(1));
    let mut b = [0u8; 8];
    let now = sim.now();
    assert_eq!(sim.stack(A).recv(now, c, &mut b, false), Err(Errno::EAGAIN));
    assert_eq!(sim.stack(A).mib.tcp_ext.paws_estab, 1);
    assert_eq!(sim.flags(), ["ACK"], "a duplicate ACK answers it");
}

#[test]
fn isns_differ_per_tuple_and_increase_over_time() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(1)));
    let _l = listen(&mut sim, B, PORT, 16);
    let isn_of = |sim: &mut Sim, port: u16| {
        let now = sim.now();
        let c = sim.stack(A).socket(SockType::Stream).unwrap();
        sim.stack(A).bind(c, addr_a(port)).unwrap();
        let _ = sim.stack(A).connect(now, c, addr_b(PORT));
        let iss = sim.stack(A).tcb(c).unwrap().iss;
        let now = sim.now();
        sim.stack(A)
            .setsockopt(now, c, netd_core::SockOpt::Linger(Some(0)))
            .unwrap();
        sim.stack(A).close(now, c).unwrap();
        sim.run_for(ms(10));
        iss
    };
    let a1 = isn_of(&mut sim, 6000);
    let b1 = isn_of(&mut sim, 6001);
    assert_ne!(a1, b1, "distinct per 4-tuple");
    sim.run_for(secs(10));
    let a2 = isn_of(&mut sim, 6000);
    // 64 ns clock ticks: about 156 million per 10 s, well within half the sequence space.
    let delta = a2 - a1;
    assert!(
        a2.after(a1) && (150_000_000..170_000_000).contains(&delta),
        "advanced by {delta}"
    );
}

#[test]
fn changing_a_tunable_at_run_time_changes_new_connections() {
    let mut sim = ideal();
    let _l = listen(&mut sim, B, PORT, 16);
    let c1 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_timestamps", "0")
        .unwrap();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_window_scaling", "0")
        .unwrap();
    sim.clear_trace();
    let c2 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let syn = &sim.segments()[0];
    assert_eq!((syn.options.timestamp, syn.options.wscale), (None, None));
    assert!(
        sim.stack(A).tcb(c1).unwrap().neg.ts_ok,
        "the existing connection keeps its options"
    );
    assert!(!sim.stack(A).tcb(c2).unwrap().neg.ts_ok);
    // And an invalid value is refused without changing anything.
    assert!(sim
        .stack(A)
        .sysctl
        .set("net.ipv4.tcp_timestamps", "256")
        .is_err());
    assert_eq!(
        sim.stack(A).sysctl.get("net.ipv4.tcp_timestamps").unwrap(),
        "0"
    );
}

#[test]
fn data_outside_the_window_is_dropped_and_answered_with_an_ack() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    let t = sim.stack(A).tcb(c).unwrap();
    let (tuple, beyond, ts) = (t.tuple, t.rcv_nxt + t.rcv_wnd + 10, t.ts_recent);
    sim.clear_trace();
    let opts = TcpOptions {
        timestamp: Some((ts.wrapping_add(1), 0)),
        ..TcpOptions::default()
    };
    let pkt = tcp_packet(
        tuple.remote,
        tuple.local,
        beyond,
        SeqNum(0),
        TcpFlags::ACK,
        opts,
        b"far away",
    );
    sim.inject(A, pkt);
    sim.run_for(ms(1));
    let mut b = [0u8; 16];
    let now = sim.now();
    assert_eq!(sim.stack(A).recv(now, c, &mut b, false), Err(Errno::EAGAIN));
    assert_eq!(sim.flags(), ["ACK"]);
    assert!(sim.stack(A).tcb(c).unwrap().ooo.is_empty(), "nothing kept");
}
