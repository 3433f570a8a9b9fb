//! Congestion control: slow start, congestion avoidance, fast retransmit and
//! NewReno recovery, checked on the wire in virtual time.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};
use netd_core::tcp::recovery::CaState;

/// cwnd, in segments, at the start of each of 8 RTTs of a greedy transfer
/// A -> B over a 100 ms RTT, B reading every 5 ms.
fn cwnd_per_rtt(moderate_rcvbuf: bool) -> Vec<u32> {
    let mut sim = Sim::pair(Link::ideal().latency(ms(50)));
    sim.record = false;
    if !moderate_rcvbuf {
        sim.stack(B).sysctl.tcp_moderate_rcvbuf = 0;
    }
    let (c, _, srv) = establish(&mut sim);
    let data = payload(4_000_000, 1);
    let mut sent = 0;
    let mut cwnd_per_rtt = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for _rtt in 0..8 {
        cwnd_per_rtt.push(sim.stack(A).tcb(c).unwrap().cc.cwnd);
        for _ in 0..20 {
            let now = sim.now();
            while sent < data.len() {
                match sim.stack(A).send(now, c, &data[sent..]) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            sim.run_for(ms(5));
            let now = sim.now();
            while let Ok(n) = sim.stack(B).recv(now, srv, &mut buf, false) {
                if n == 0 {
                    break;
                }
            }
        }
    }
    cwnd_per_rtt
}

#[test]
fn slow_start_doubles_cwnd_every_rtt() {
    // Initial window 10 (RFC 6928), doubling each RTT while in slow start;
    // B's autotuned receive window stays ahead of it.
    assert_eq!(
        cwnd_per_rtt(true),
        [10, 20, 40, 80, 160, 320, 640, 1280],
        "slow start doubles per RTT"
    );
}

#[test]
fn cwnd_stops_growing_once_the_receive_window_bounds_the_flight() {
    // B's buffer fixed at 128 KB (90 segments): a cwnd that no longer
    // limits the flight stops growing (`tcp_is_cwnd_limited()`).
    let w = cwnd_per_rtt(false);
    assert_eq!(w[..5], [10, 20, 40, 80, 160], "{w:?}");
    assert_eq!(w[6], w[7], "{w:?}");
}

#[test]
fn reno_congestion_avoidance_adds_one_segment_per_rtt_after_loss() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(50)));
    sim.record = false;
    sim.stack(A).sysctl.tcp_congestion_control = "reno".into();
    let (c, _, srv) = establish(&mut sim);
    // One loss early on sets ssthresh; afterwards growth is linear.
    let mut dropped = 0;
    sim.drop_if(move |s| {
        let hit = s.from == A && s.len > 0 && dropped == 0 && s.seq.0 % 7 == 3;
        if hit {
            dropped += 1;
        }
        hit
    });
    let data = payload(6_000_000, 2);
    let mut sent = 0;
    let mut samples = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..40 {
        send_available(&mut sim, A, c, &data, &mut sent);
        let t = sim.stack(A).tcb(c).unwrap();
        samples.push((
            t.cc.cwnd,
            t.cc.ssthresh_known(),
            t.rec.ca_state != CaState::Open,
        ));
        sim.run_for(ms(100));
        let now = sim.now();
        while let Ok(n) = sim.stack(B).recv(now, srv, &mut buf, false) {
            if n == 0 {
                break;
            }
        }
    }
    let ca: Vec<u32> = samples
        .iter()
        .filter(|(cwnd, ss, rec)| *ss && !rec && *cwnd > 0)
        .map(|s| s.0)
        .collect();
    assert!(ca.len() >= 10, "{samples:?}");
    let tail = &ca[ca.len() - 8..];
    for w in tail.windows(2) {
        assert!(
            w[1] == w[0] || w[1] == w[0] + 1,
            "linear growth, +1 MSS per RTT at most: {tail:?}"
        );
    }
    assert!(tail[tail.len() - 1] > tail[0], "it does grow: {tail:?}");
}

/// Lose exactly one data segment from A: the 3rd of the first flight.
fn lose_third_data_segment(sim: &mut Sim) {
    let mut n = 0;
    sim.drop_if(move |s| {
        if s.from == A && s.len > 0 {
            n += 1;
            return n == 3;
        }
        false
    });
}

/// Without SACK (the peer did not offer it), three duplicate ACKs mark the
/// head lost (`tcp_newreno_mark_lost()`, RFC 6582) and start recovery with
/// ssthresh = cwnd / 2 (`tcp_reno_ssthresh()`); PRR sends the
/// retransmission at once.
#[test]
fn without_sack_three_duplicate_acks_start_newreno_recovery() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(10)));
    sim.stack(A).sysctl.tcp_sack = 0;
    sim.stack(A).sysctl.tcp_congestion_control = "reno".into();
    let (c, _, srv) = establish(&mut sim);
    assert!(!sim.stack(A).tcb(c).unwrap().neg.sack_ok);
    let mss = sim.stack(A).tcb(c).unwrap().mss;
    lose_third_data_segment(&mut sim);
    let data = payload(10 * mss as usize, 3);
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, &data), Ok(data.len()));
    let flight = sim.stack(A).tcb(c).unwrap().flight();
    assert_eq!(
        flight,
        10 * mss,
        "initial window of 10 segments all in flight"
    );
    let ok = sim.run_until(secs(1), |s| s.stack(A).mib.tcp_ext.tcp_fast_retrans > 0);
    assert!(ok, "fast retransmit");
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(t.rec.ca_state, CaState::Recovery);
    assert_eq!(t.cc.ssthresh, (t.rec.prior_cwnd / 2).max(2));
    let segs = sim.segments();
    let lost_seq = segs
        .iter()
        .filter(|s| s.from == A && s.len > 0)
        .nth(2)
        .map(|s| s.seq)
        .unwrap();
    let dups: Vec<_> = segs
        .iter()
        .filter(|s| s.from == B && s.len == 0 && s.ack == lost_seq)
        .collect();
    assert!(dups.len() >= 4, "the ACK for the hole and three duplicates");
    let resent = segs
        .iter()
        .filter(|s| s.from == A && s.seq == lost_seq && s.len > 0)
        .nth(1)
        .unwrap();
    // Resent when the third duplicate arrived: one link latency after B sent it.
    assert_eq!(resent.at - dups[3].at, ms(10));
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_timeouts, 0);
    sim.run_for(secs(1));
    let mut buf = vec![0u8; data.len() + 1];
    let now = sim.now();
    let got = sim.stack(B).recv(now, srv, &mut buf, false).unwrap();
    assert!(got == data.len() && buf[..got] == data[..]);
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_reno_recovery, 1);
    assert_eq!(
        sim.stack(A).mib.tcp.retrans_segs,
        1,
        "only the lost segment"
    );
}

/// CUBIC (the default, as Linux's) keeps 717/1024 of the window after a
/// loss and remembers the peak as W_max (`bictcp_recalc_ssthresh()`).
#[test]
fn cubic_keeps_seven_tenths_of_the_window_after_a_loss() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(10)));
    let (c, _, srv) = establish(&mut sim);
    assert_eq!(sim.stack(A).tcb(c).unwrap().cc.algo.name(), "cubic");
    lose_third_data_segment(&mut sim);
    let mss = sim.stack(A).tcb(c).unwrap().mss as usize;
    let data = payload(10 * mss, 4);
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, &data), Ok(data.len()));
    assert!(sim.run_until(secs(1), |s| s.stack(A).mib.tcp_ext.tcp_fast_retrans > 0));
    let t = sim.stack(A).tcb(c).unwrap();
    let prior = t.rec.prior_cwnd;
    assert_eq!(t.cc.ssthresh, (prior * 717 / 1024).max(2));
    match &t.cc.algo {
        netd_core::tcp::cong::Algo::Cubic(cu) => assert_eq!(cu.last_max_cwnd, prior),
        other => panic!("{other:?}"),
    }
    sim.run_for(secs(1));
    let mut buf = vec![0u8; data.len() + 1];
    let now = sim.now();
    assert_eq!(sim.stack(B).recv(now, srv, &mut buf, false), Ok(data.len()));
}

/// HyStart ends slow start before any loss: on a 100 ms path whose
/// bottleneck queues, the round trip grows past min_rtt + max(4 ms,
/// min_rtt / 8) and ssthresh is set to cwnd (TCPHystartDelayDetect), or
/// the ACK train lasts half the minimum RTT (TCPHystartTrainDetect).
#[test]
fn hystart_leaves_slow_start_before_the_first_loss() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(50)).rate(20_000_000));
    sim.record = false;
    let (c, _, srv) = establish(&mut sim);
    let data = payload(8_000_000, 5);
    let got = transfer(&mut sim, (A, c), (B, srv), &data, secs(30));
    assert!(got == data);
    let m = &sim.stack(A).mib.tcp_ext;
    assert!(
        m.tcp_hystart_delay_detect + m.tcp_hystart_train_detect == 1,
        "{m:?}"
    );
    let t = sim.stack(A).tcb(c).unwrap();
    assert!(t.cc.ssthresh_known());
    assert_eq!(sim.stack(A).mib.tcp.retrans_segs, 0, "no loss at all");
}

/// RFC 2861 as Linux's `tcp_cwnd_restart()`: after idling longer than an
/// RTO, the window halves per RTO idle, down to the initial window; with
/// `tcp_slow_start_after_idle` = 0 it is kept.
#[test]
fn an_idle_connection_restarts_from_the_initial_window() {
    for (ssai, expect_restart) in [(1, true), (0, false)] {
        let mut sim = Sim::pair(Link::ideal().latency(ms(10)));
        sim.record = false;
        sim.stack(A).sysctl.tcp_slow_start_after_idle = ssai;
        let (c, _, srv) = establish(&mut sim);
        let got = transfer(&mut sim, (A, c), (B, srv), &payload(400_000, 6), secs(5));
        assert_eq!(got.len(), 400_000);
        sim.run_for(ms(100));
        let before = sim.stack(A).tcb(c).unwrap().cc.cwnd;
        assert!(before > 40, "cwnd {before}");
        sim.run_for(secs(3));
        let now = sim.now();
        sim.stack(A).send(now, c, b"x").unwrap();
        let after = sim.stack(A).tcb(c).unwrap().cc.cwnd;
        if expect_restart {
            assert_eq!(after, 10, "from {before}");
        } else {
            assert_eq!(after, before);
        }
    }
}

fn ca_name(s: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..s.len()].copy_from_slice(s.as_bytes());
    b
}

/// TCP_CONGESTION picks the algorithm per socket (`tcp_set_congestion_control()`):
/// an unknown name is ENOENT, the choice reads back NUL-padded, a
/// listener's children inherit it, and a live connection can switch.
#[test]
fn tcp_congestion_chooses_the_algorithm_per_socket() {
    use netd_core::sock::{SockOptName, SockOptValue};
    use netd_core::{Errno, SockOpt, SockType};
    let mut sim = Sim::pair(Link::ideal().latency(ms(1)));
    let now = sim.now();
    let st = sim.stack(A);
    let s = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.setsockopt(now, s, SockOpt::Congestion(ca_name("vegas"))),
        Err(Errno::ENOENT)
    );
    let read = |st: &mut netd_core::Stack, h| match st.getsockopt(h, SockOptName::Congestion) {
        Ok(SockOptValue::Bytes(b)) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!(read(st, s), ca_name("cubic").to_vec(), "the default");
    st.setsockopt(now, s, SockOpt::Congestion(ca_name("reno")))
        .unwrap();
    assert_eq!(read(st, s), ca_name("reno").to_vec());
    // A listener set to reno hands its children reno.
    let l = listen(&mut sim, B, PORT, 8);
    let now = sim.now();
    sim.stack(B)
        .setsockopt(now, l, SockOpt::Congestion(ca_name("reno")))
        .unwrap();
    let c = connect(&mut sim, A, addr_b(PORT));
    let mut srv = None;
    assert!(sim.run_until(secs(2), |sim| {
        srv = srv.or_else(|| sim.stack(B).accept(l).ok().map(|(h, _)| h));
        srv.is_some()
    }));
    let srv = srv.unwrap();
    assert_eq!(sim.stack(B).tcb(srv).unwrap().cc.algo.name(), "reno");
    assert_eq!(sim.stack(A).tcb(c).unwrap().cc.algo.name(), "cubic");
    let now = sim.now();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::Congestion(ca_name("reno")))
        .unwrap();
    assert_eq!(sim.stack(A).tcb(c).unwrap().cc.algo.name(), "reno");
    let st = sim.stack(A);
    assert_eq!(read(st, c), ca_name("reno").to_vec());
}
