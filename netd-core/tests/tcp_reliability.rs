//! Reliable transfer: bytes arrive intact and in order whatever the link does;
//! retransmission timing and the give-up model in virtual time.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};
use netd_core::tcp::State;
use netd_core::Errno;

fn bulk(link: Link, seed: u64, size: usize) -> (Sim, Vec<u8>, Vec<u8>) {
    let mut sim = Sim::new(seed, link);
    sim.add_host(netd_core::sim::HOST_A);
    sim.add_host(netd_core::sim::HOST_B);
    sim.record = false;
    let (c, _, srv) = establish(&mut sim);
    let data = payload(size, seed);
    let got = transfer(&mut sim, (A, c), (B, srv), &data, secs(3600));
    (sim, data, got)
}

const TEN_MB: usize = 10 * 1024 * 1024;

#[test]
fn ten_mb_exact_under_one_percent_loss() {
    let (sim, data, got) = bulk(
        Link::ideal().latency(ms(5)).rate(100_000_000).loss(0.01),
        11,
        TEN_MB,
    );
    assert!(got == data, "bytes differ");
    assert!(sim.hosts[A].stack.mib.tcp.retrans_segs > 0);
}

#[test]
fn ten_mb_exact_under_five_percent_loss() {
    let (sim, data, got) = bulk(
        Link::ideal().latency(ms(5)).rate(100_000_000).loss(0.05),
        12,
        TEN_MB,
    );
    assert!(got == data, "bytes differ");
    assert!(sim.hosts[A].stack.mib.tcp_ext.tcp_timeouts > 0);
}

#[test]
fn ten_mb_exact_under_reordering() {
    let link = Link::ideal()
        .latency(ms(5))
        .rate(100_000_000)
        .reorder(0.05, ms(3));
    let (sim, data, got) = bulk(link, 13, TEN_MB);
    assert!(got == data, "bytes differ");
    assert!(
        sim.hosts[B].stack.mib.tcp_ext.tcp_ofo_queue > 0,
        "segments did arrive out of order"
    );
}

#[test]
fn ten_mb_exact_under_duplication() {
    let (sim, data, got) = bulk(
        Link::ideal()
            .latency(ms(5))
            .rate(100_000_000)
            .duplicate(0.05),
        14,
        TEN_MB,
    );
    assert!(got == data, "bytes differ");
    assert!(
        sim.hosts[B].stack.mib.tcp_ext.delayed_ack_lost > 0,
        "duplicates were seen and re-ACKed"
    );
}

#[test]
fn ten_mb_exact_under_corruption() {
    let (sim, data, got) = bulk(
        Link::ideal().latency(ms(5)).rate(100_000_000).corrupt(0.02),
        15,
        TEN_MB,
    );
    assert!(got == data, "bytes differ");
    let b = &sim.hosts[B].stack.mib;
    assert!(
        b.tcp.in_csum_errors + b.ip.in_csum_errors > 0,
        "corruption was caught by checksums"
    );
}

#[test]
fn out_of_order_segments_are_reassembled_and_sacked() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    // Lose the first of a burst of 4 segments once.
    let mut dropped = false;
    sim.drop_if(move |s| {
        let hit = !dropped && s.from == A && s.len > 0;
        dropped |= hit;
        hit
    });
    let data = payload(4 * 1448, 5);
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, &data), Ok(data.len()));
    // RACK repairs the hole within a fraction of a millisecond: look as
    // soon as the three have arrived.
    let held = sim.run_until(ms(3), |s| {
        s.stack(B).tcb(srv).unwrap().ooo_bytes() == 3 * 1448
    });
    let t = sim.stack(B).tcb(srv).unwrap();
    assert!(held, "three segments held out of order");
    assert!(t.recv_buf.is_empty());
    let sack = sim
        .segments()
        .iter()
        .rev()
        .find(|s| s.from == B)
        .unwrap()
        .options;
    assert_eq!(sack.sack().len(), 1);
    sim.run_for(secs(2));
    let mut got = vec![0u8; data.len() + 1];
    let now = sim.now();
    let n = sim.stack(B).recv(now, srv, &mut got, false).unwrap();
    assert!(
        n == data.len() && got[..n] == data[..],
        "reassembled in order"
    );
    assert_eq!(
        sim.stack(A).mib.tcp.retrans_segs,
        1,
        "only the lost segment was resent"
    );
}

#[test]
fn sender_never_exceeds_the_advertised_window() {
    let mut sim = ideal();
    // A small receive buffer (children inherit the listener's), and a reader that reads late.
    let l = listen(&mut sim, B, PORT, 16);
    let now = sim.now();
    sim.stack(B)
        .setsockopt(now, l, netd_core::SockOpt::RcvBuf(8192))
        .unwrap();
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let srv = sim.stack(B).accept(l).unwrap().0;
    let data = payload(300_000, 9);
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 3000];
    while got.len() < data.len() && sim.now().as_millis() < 120_000 {
        let now = sim.now();
        if let Ok(n) = sim.stack(A).send(now, c, &data[sent..]) {
            sent += n;
        }
        sim.run_for(ms(20));
        let now = sim.now();
        if let Ok(n) = sim.stack(B).recv(now, srv, &mut buf, false) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got, data);
    // Replay the trace: every data byte lies inside the right edge B advertised.
    let mut right_edge: Option<netd_core::tcp::SeqNum> = None;
    let shift = 7u32;
    for s in sim.segments() {
        if s.from == B && s.flags.ack() {
            // Windows in SYN segments are never scaled (RFC 7323 §2.2).
            let edge = s.ack + (u32::from(s.window) << if s.flags.syn() { 0 } else { shift });
            right_edge = Some(match right_edge {
                Some(e) if e.after(edge) => e,
                _ => edge,
            });
        } else if s.from == A && s.len > 0 {
            let end = s.seq + s.len as u32;
            let edge = right_edge.expect("a window was advertised");
            assert!(
                end.before_eq(edge),
                "segment ends {:?} past the window edge {:?}",
                end,
                edge
            );
        }
    }
    // The window did bind: B's offer shrank to a fraction of its 16 KiB buffer.
    let min_window = sim
        .segments()
        .iter()
        .filter(|s| s.from == B && !s.flags.syn())
        .map(|s| u32::from(s.window) << shift)
        .min()
        .unwrap();
    assert!(
        min_window <= 16_384 / 4,
        "smallest window offered: {min_window}"
    );
}

fn stalled_sender(latency_ms: u64) -> (Sim, netd_core::SocketHandle) {
    let mut sim = Sim::pair(Link::ideal().latency(ms(latency_ms)));
    let (c, _, _srv) = establish(&mut sim);
    // Settle the RTT estimate with some traffic, then the peer goes silent.
    for _ in 0..20 {
        let now = sim.now();
        sim.stack(A).send(now, c, b"ping").unwrap();
        sim.run_for(ms(4 * latency_ms + 50));
    }
    sim.link_down();
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).send(now, c, b"lost").unwrap();
    (sim, c)
}

#[test]
fn rto_doubles_up_to_120_seconds() {
    let (mut sim, c) = stalled_sender(1);
    let start = sim.now();
    sim.run_for(secs(700));
    let times: Vec<f64> = sim
        .segments()
        .iter()
        .map(|s| (s.at - start).as_secs_f64())
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // First a tail loss probe when the RTO would have fired (PTO =
    // min(2·SRTT + 200 ms, RTO) with one packet out), then the RTO restarted
    // from the probe, then the doublings.
    assert!(
        (gaps[1] - gaps[0]).abs() < 0.01,
        "probe, then a full RTO: {gaps:?}"
    );
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_loss_probes, 1);
    for w in gaps[1..].windows(2) {
        let expect = (w[0] * 2.0).min(120.0);
        assert!(
            (w[1] - expect).abs() < 0.01,
            "gap {} after {} (expected {})",
            w[1],
            w[0],
            expect
        );
    }
    assert!(
        gaps.iter().any(|g| (*g - 120.0).abs() < 1e-6),
        "capped at TCP_RTO_MAX"
    );
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn retries2_aborts_after_about_924_6_seconds() {
    let (mut sim, c) = stalled_sender(1);
    let start = sim.now();
    assert!(sim.run_until(secs(2000), |s| s.tcp_state(A, c) == Some(State::Closed)));
    let died = (sim.now() - start).as_secs_f64();
    // RTO is srtt + 200 ms here (~0.202 s): 15 retransmissions, the 16th expiry
    // is the first at or after the 924.6 s tcp_model_timeout(15, 200 ms).
    let sent: Vec<f64> = sim
        .segments()
        .iter()
        .map(|s| (s.at - start).as_secs_f64())
        .collect();
    // The model: after 10 doublings the RTO is capped at 120 s; the first
    // expiry at or after 924.6 s (tcp_model_timeout(15, 200 ms)) kills it.
    // The tail loss probe at one RTO comes first and delays the schedule by one RTO.
    let (probe, rto0) = (sent[1], sent[2] - sent[1]);
    let expected = probe + rto0 * 1023.0 + 6.0 * 120.0;
    assert!(died >= 924.6, "died at {died}, sent at {sent:?}");
    assert!(
        (died - expected).abs() < 0.01,
        "died at {died}, model says {expected}"
    );
    assert_eq!(
        sent.len(),
        17,
        "original + probe + 15 retransmissions: {sent:?}"
    );
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ETIMEDOUT));
    assert_eq!(recv_now(&mut sim, A, c), Ok(0));
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_abort_on_timeout, 1);
    assert!(
        sim.segments().iter().all(|s| !s.flags.rst()),
        "no RST on timeout"
    );
}

#[test]
fn large_rto_aborts_after_fewer_retransmissions() {
    // 1.5 s each way: RTO starts near 3.2 s, so the 924.6 s budget is spent sooner.
    let (mut sim, c) = stalled_sender(1500);
    let start = sim.now();
    assert!(sim.run_until(secs(3000), |s| s.tcp_state(A, c) == Some(State::Closed)));
    let died = (sim.now() - start).as_secs_f64();
    let rtx = sim.segments().len() - 1;
    assert!(rtx < 15, "{rtx} retransmissions");
    assert!(died >= 924.6, "died at {died}");
}

#[test]
fn peer_crash_and_reboot_resets_the_reader() {
    let mut sim = ideal();
    let (c, _, _srv) = establish(&mut sim);
    sim.reboot(B);
    let now = sim.now();
    sim.stack(A).send(now, c, b"anyone?").unwrap();
    sim.run_for(secs(1));
    assert_eq!(sim.flags().last().map(String::as_str), Some("RST"));
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ECONNRESET));
}

#[test]
fn cable_pulled_during_retransmission_and_put_back_completes() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(2)).rate(10_000_000));
    let (c, _, srv) = establish(&mut sim);
    let data = payload(2_000_000, 21);
    let now = sim.now();
    let first = sim.stack(A).send(now, c, &data).unwrap();
    sim.run_for(ms(50));
    sim.link_down();
    sim.run_for(secs(30));
    assert!(
        sim.stack(A).mib.tcp_ext.tcp_timeouts >= 4,
        "retransmitting into the void"
    );
    sim.link_up();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut sent = first;
    while got.len() < data.len() && sim.now().as_millis() < 600_000 {
        let now = sim.now();
        if sent < data.len() {
            if let Ok(n) = sim.stack(A).send(now, c, &data[sent..]) {
                sent += n;
            }
        }
        while let Ok(n) = sim.stack(B).recv(now, srv, &mut buf, false) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        sim.run_for(ms(10));
    }
    assert!(got == data);
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn peer_vanishing_without_keepalive_or_data_stays_established() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    sim.link_down();
    sim.clear_trace();
    sim.run_for(secs(3 * 3600));
    assert_eq!(state(&sim, A, c), State::Established);
    assert!(sim.trace().is_empty(), "nothing to send, so nothing sent");
}
