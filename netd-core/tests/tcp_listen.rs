//! The Linux listen path: SYN queue, SYN cookies, accept queue and its overflow.

mod common;
use common::*;
use netd_core::sim::{Link, Sim, HOST_B};
use netd_core::tcp::{SeqNum, State};
use netd_core::wire::tcp::{TcpFlags, TcpOptions};
use netd_core::{Errno, SockType};
use std::net::{Ipv4Addr, SocketAddrV4};

/// A spoofed source that no host answers for.
fn spoofed(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a01_0000 + i), 1024 + (i % 60000) as u16)
}

fn flood(sim: &mut Sim, from: u32, count: u32) {
    for i in from..from + count {
        sim.inject(
            B,
            syn_from(spoofed(i), addr_b(PORT), i.wrapping_mul(2_654_435_761)),
        );
    }
}

#[test]
fn syn_queue_full_without_syncookies_drops_the_syn() {
    let mut sim = ideal();
    sim.stack(B)
        .sysctl
        .set("net.ipv4.tcp_syncookies", "0")
        .unwrap();
    let l = listen(&mut sim, B, PORT, 4);
    flood(&mut sim, 0, 5);
    sim.run_for(ms(1));
    assert_eq!(
        sim.stack(B).listen_queues(l),
        Some((5, 0, 4)),
        "backlog 4 holds 5 requests"
    );
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(500));
    assert_eq!(
        state(&sim, A, c),
        State::SynSent,
        "the real client's SYN was dropped too"
    );
    let m = &sim.stack(B).mib.tcp_ext;
    assert_eq!(
        (m.tcp_req_q_full_drop, m.listen_drops, m.syncookies_sent),
        (1, 1, 0)
    );
}

#[test]
fn syncookies_1_sends_cookies_only_when_the_queue_is_full_and_they_work() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 4);
    // Below the limit: an ordinary request sock.
    let c1 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    assert_eq!(state(&sim, A, c1), State::Established);
    assert_eq!(sim.stack(B).mib.tcp_ext.syncookies_sent, 0);
    flood(&mut sim, 0, 5);
    sim.run_for(ms(1));
    assert_eq!(sim.stack(B).listen_queues(l).map(|q| q.0), Some(5));
    // Queue full: the next SYN gets a cookie and nothing is stored.
    let now = sim.now();
    let c2 = sim.stack(A).socket(netd_core::SockType::Stream).unwrap();
    sim.stack(A)
        .setsockopt(now, c2, netd_core::SockOpt::MaxSeg(1300))
        .unwrap();
    assert_eq!(
        sim.stack(A).connect(now, c2, addr_b(PORT)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(5));
    assert_eq!(state(&sim, A, c2), State::Established);
    let m = sim.stack(B).mib.tcp_ext.clone();
    assert_eq!(
        (
            m.syncookies_sent,
            m.syncookies_recv,
            m.tcp_req_q_full_do_cookies
        ),
        (1, 1, 1)
    );
    assert_eq!(
        sim.stack(B).listen_queues(l).map(|q| q.0),
        Some(5),
        "nothing stored for the cookie"
    );
    // The cookie connection carries data and kept the negotiated MSS, WS and SACK.
    let (srv1, _) = sim.stack(B).accept(l).unwrap();
    let (srv2, _) = sim.stack(B).accept(l).unwrap();
    assert_ne!(srv1, srv2);
    let t = sim.stack(B).tcb(srv2).unwrap();
    assert_eq!(t.neg.mss_clamp, 1300, "the MSS survived the cookie");
    assert!(t.neg.wscale_ok && t.neg.sack_ok && t.neg.ts_ok);
    let data = payload(100_000, 8);
    let got = transfer(&mut sim, (A, c2), (B, srv2), &data, secs(10));
    assert!(got == data);
}

#[test]
fn syncookies_2_always_sends_cookies() {
    let mut sim = ideal();
    sim.stack(B)
        .sysctl
        .set("net.ipv4.tcp_syncookies", "2")
        .unwrap();
    let l = listen(&mut sim, B, PORT, 128);
    for _ in 0..3 {
        connect(&mut sim, A, addr_b(PORT));
    }
    sim.run_for(ms(1));
    assert_eq!(
        sim.stack(B).listen_queues(l),
        Some((0, 0, 128)),
        "no request socks at all"
    );
    sim.run_for(ms(5));
    assert_eq!(sim.stack(B).listen_queues(l), Some((0, 3, 128)));
    let m = &sim.stack(B).mib.tcp_ext;
    assert_eq!((m.syncookies_sent, m.syncookies_recv), (3, 3));
}

#[test]
fn forged_ack_with_a_bad_cookie_is_refused_and_counted() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 1);
    flood(&mut sim, 0, 2);
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(1));
    assert_eq!(
        sim.stack(B).mib.tcp_ext.syncookies_sent,
        1,
        "cookies are live for this listener"
    );
    let _ = c;
    // A blind attacker guesses a cookie.
    let forged = tcp_packet(
        spoofed(9),
        addr_b(PORT),
        SeqNum(5000),
        SeqNum(0xdead_beef),
        TcpFlags::ACK,
        TcpOptions::default(),
        b"",
    );
    sim.inject(B, forged);
    sim.run_for(ms(1));
    let m = &sim.stack(B).mib.tcp_ext;
    assert_eq!(m.syncookies_failed, 1);
    assert_eq!(
        sim.stack(B).listen_queues(l).map(|q| q.1),
        Some(0),
        "no connection from a bad cookie"
    );
    assert!(sim
        .segments()
        .iter()
        .any(|s| s.from == B && s.flags == TcpFlags::RST && s.seq == SeqNum(0xdead_beef)));
}

#[test]
fn syn_flood_from_spoofed_addresses_while_real_clients_connect_with_cookies() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(2)));
    sim.record = false;
    let l = listen(&mut sim, B, PORT, 128);
    let mut clients = Vec::new();
    let mut flooded = 0;
    let mut peak_sockets = 0;
    for round in 0..20 {
        flood(&mut sim, flooded, 500);
        flooded += 500;
        clients.push(connect(&mut sim, A, addr_b(PORT)));
        sim.run_for(ms(50));
        let (syn_q, _, _) = sim.stack(B).listen_queues(l).unwrap();
        assert!(
            syn_q <= 129,
            "SYN queue bounded by the backlog: {syn_q} in round {round}"
        );
        peak_sockets = peak_sockets.max(sim.stack(B).socket_count());
    }
    sim.run_for(secs(1));
    for c in &clients {
        assert_eq!(state(&sim, A, *c), State::Established);
    }
    let mut accepted = 0;
    while sim.stack(B).accept(l).is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 20);
    let m = &sim.stack(B).mib.tcp_ext;
    assert!(
        m.syncookies_sent >= 9_000,
        "cookies sent: {}",
        m.syncookies_sent
    );
    assert_eq!(
        m.syncookies_recv, 20,
        "every real client came in on a cookie"
    );
    assert!(
        peak_sockets <= 22,
        "sockets do not grow with the flood: {peak_sockets}"
    );
}

fn overflow_setup(
    abort: &str,
) -> (
    Sim,
    netd_core::SocketHandle,
    netd_core::SocketHandle,
    netd_core::SocketHandle,
) {
    let mut sim = ideal();
    sim.stack(B)
        .sysctl
        .set("net.ipv4.tcp_abort_on_overflow", abort)
        .unwrap();
    // backlog 1: the accept queue holds two, and the SYN queue two requests.
    let l = listen(&mut sim, B, PORT, 1);
    let _c0 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    // Two handshakes at once: the first fills the accept queue, the second overflows it.
    let c1 = connect(&mut sim, A, addr_b(PORT));
    let c2 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    (sim, l, c1, c2)
}

#[test]
fn accept_queue_overflow_with_abort_on_overflow_0_completes_later() {
    let (mut sim, l, c1, c2) = overflow_setup("0");
    assert_eq!(
        sim.stack(B).listen_queues(l),
        Some((1, 2, 1)),
        "c2's final ACK was dropped"
    );
    assert_eq!(
        (state(&sim, A, c1), state(&sim, A, c2)),
        (State::Established, State::Established)
    );
    let m = sim.stack(B).mib.tcp_ext.clone();
    assert_eq!((m.listen_overflows, m.listen_drops), (1, 1));
    // The program accepts; the SYN-ACK retransmission at 1 s prompts a new ACK.
    sim.stack(B).accept(l).unwrap();
    sim.stack(B).accept(l).unwrap();
    sim.run_for(ms(1100));
    let (s2, _) = sim
        .stack(B)
        .accept(l)
        .expect("c2 completed once there was room");
    let got = transfer(&mut sim, (A, c2), (B, s2), b"finally", secs(1));
    assert_eq!(got, b"finally");
}

#[test]
fn accept_queue_overflow_with_abort_on_overflow_1_resets_the_client() {
    let (mut sim, l, _c1, c2) = overflow_setup("1");
    assert_eq!(sim.stack(B).listen_queues(l), Some((0, 2, 1)));
    assert_eq!(recv_now(&mut sim, A, c2), Err(Errno::ECONNRESET));
    assert_eq!(sim.stack(B).mib.tcp_ext.listen_overflows, 1);
}

#[test]
fn connection_completed_and_fed_data_before_accept() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let data = payload(20_000, 4);
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, &data), Ok(20_000));
    sim.run_for(ms(100));
    // Nobody called accept(), yet the data was acknowledged.
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(t.snd_una, t.snd_max, "all data ACKed before accept()");
    let (srv, _) = sim.stack(B).accept(l).unwrap();
    let mut buf = vec![0u8; 30_000];
    let now = sim.now();
    assert_eq!(sim.stack(B).recv(now, srv, &mut buf, false), Ok(20_000));
    assert!(buf[..20_000] == data[..]);
    let _ = HOST_B;
}

#[test]
fn an_expired_cookie_is_refused_and_counted() {
    let mut sim = ideal();
    sim.stack(B)
        .sysctl
        .set("net.ipv4.tcp_syncookies", "2")
        .unwrap();
    let l = listen(&mut sim, B, PORT, 16);
    // The client's handshake ACK is lost; it speaks again only after two minutes.
    sim.drop_if(|s| s.from == A && s.flags_str() == "ACK" && s.len == 0);
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    sim.clear_drop();
    assert_eq!(state(&sim, A, c), State::Established);
    sim.run_for(secs(130));
    let now = sim.now();
    sim.stack(A).send(now, c, b"late").unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.stack(B).mib.tcp_ext.syncookies_failed, 1);
    assert_eq!(sim.stack(B).listen_queues(l).map(|q| q.1), Some(0));
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ECONNRESET));
}

/// A listener closed as if its program left bytes unread (the daemon's
/// `abort`, for accept records nobody read) stops listening like any
/// closed listener (`inet_csk_listen_stop()`): every connection still in
/// its accept queue is reset and freed, and the port is free again. It used
/// to be destroyed alone, leaving its queued connections established, with
/// nobody to accept them, for ever.
#[test]
fn aborting_a_listener_resets_and_frees_its_queued_connections() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let c1 = connect(&mut sim, A, addr_b(PORT));
    let c2 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    assert_eq!(sim.stack(B).listen_queues(l), Some((0, 2, 16)));
    assert_eq!(sim.stack(B).socket_count(), 3);
    let now = sim.now();
    sim.stack(B).abort(now, l).unwrap();
    sim.run_for(ms(5));
    assert_eq!(recv_now(&mut sim, A, c1), Err(Errno::ECONNRESET));
    assert_eq!(recv_now(&mut sim, A, c2), Err(Errno::ECONNRESET));
    assert_eq!(sim.stack(B).socket_count(), 0, "nothing left behind");
    assert_eq!(sim.stack(B).curr_estab(), 0);
    let st = sim.stack(B);
    let s = st.socket(SockType::Stream).unwrap();
    assert_eq!(st.bind(s, addr_b(PORT)), Ok(()), "the port is free");
}
