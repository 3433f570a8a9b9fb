//! Keepalive, zero-window probing, TCP_USER_TIMEOUT and orphan retries, in virtual time.

mod common;
use common::*;
use netd_core::sim::{Link, Sim};
use netd_core::tcp::State;
use netd_core::{Errno, SockOpt};

fn keepalive_pair() -> (Sim, netd_core::SocketHandle, netd_core::SocketHandle) {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::KeepAlive(true))
        .unwrap();
    sim.clear_trace();
    (sim, c, srv)
}

/// When A last heard from the peer: keepalive idleness counts from there.
fn idle_since(sim: &Sim, c: netd_core::SocketHandle) -> netd_core::Instant {
    let t = sim.hosts[A].stack.tcb(c).unwrap();
    t.ack.lrcvtime.max(t.last_ack_recv)
}

/// Send times (whole seconds since `start`, rounded) of segments from `from`.
fn times(sim: &Sim, from: usize, start: netd_core::Instant) -> Vec<u64> {
    sim.segments()
        .iter()
        .filter(|s| s.from == from)
        .map(|s| ((s.at - start).as_millis() as u64 + 500) / 1000)
        .collect()
}

#[test]
fn keepalive_probes_at_7200s_then_every_75s_and_aborts_after_9() {
    let (mut sim, c, _) = keepalive_pair();
    let start = idle_since(&sim, c);
    sim.link_down();
    assert!(sim.run_until(secs(9000), |s| s.tcp_state(A, c) == Some(State::Closed)));
    // Nine probes, then the RST that ends it: 7200, 7275, ... 7800, and 7875 s.
    let expected: Vec<u64> = (0..9).map(|i| 7200 + 75 * i).chain([7875]).collect();
    assert_eq!(times(&sim, A, start), expected);
    let segs = sim.segments();
    let snd_una = sim.stack(A).tcb(c).unwrap().snd_una;
    assert!(
        segs[..9].iter().all(|s| s.len == 0 && s.seq + 1 == snd_una),
        "probes sit at snd_una - 1"
    );
    assert_eq!(segs[9].flags_str(), "RST|ACK");
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ETIMEDOUT));
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!((m.tcp_keep_alive, m.tcp_abort_on_timeout), (9, 1));
}

#[test]
fn per_socket_keepalive_overrides_win_over_the_sysctls() {
    let (mut sim, c, _) = keepalive_pair();
    let now = sim.now();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::KeepIdle(10))
        .unwrap();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::KeepIntvl(2))
        .unwrap();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::KeepCnt(3))
        .unwrap();
    assert_eq!(
        sim.stack(A).setsockopt(now, c, SockOpt::KeepCnt(128)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sim.stack(A).setsockopt(now, c, SockOpt::KeepIdle(0)),
        Err(Errno::EINVAL)
    );
    let start = idle_since(&sim, c);
    sim.link_down();
    assert!(sim.run_until(secs(100), |s| s.tcp_state(A, c) == Some(State::Closed)));
    assert_eq!(
        times(&sim, A, start),
        [10, 12, 14, 16],
        "three probes then the RST"
    );
}

#[test]
fn a_live_peer_answers_probes_and_the_connection_stays() {
    let (mut sim, c, _) = keepalive_pair();
    let start = idle_since(&sim, c);
    sim.run_for(secs(3 * 7200 + 100));
    assert_eq!(state(&sim, A, c), State::Established);
    assert_eq!(times(&sim, A, start), [7200, 14400, 21600]);
    assert_eq!(
        times(&sim, B, start),
        [7200, 14400, 21600],
        "each probe got an ACK at once"
    );
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_abort_on_timeout, 0);
}

#[test]
fn traffic_from_the_peer_resets_the_keepalive_idle_clock() {
    let (mut sim, c, srv) = keepalive_pair();
    let start = sim.now();
    sim.run_for(secs(7000));
    let now = sim.now();
    sim.stack(B).send(now, srv, b"still here").unwrap();
    sim.run_for(secs(7300));
    let a: Vec<u64> = times(&sim, A, start);
    // A's ACK of the data at 7000 s, then the first probe 7200 s after that data.
    assert_eq!(a.last().copied(), Some(14200));
    let _ = c;
}

#[test]
fn no_keepalive_probes_without_so_keepalive() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    sim.clear_trace();
    sim.link_down();
    sim.run_for(secs(20_000));
    assert!(sim.trace().is_empty());
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn keepalive_sysctl_change_reaches_existing_sockets_without_overrides() {
    let (mut sim, c, _) = keepalive_pair();
    // Linux reads tcp_keepalive_time when the timer fires, not at setsockopt time.
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_keepalive_time", "600")
        .unwrap();
    let start = idle_since(&sim, c);
    sim.run_for(secs(7900));
    let a = times(&sim, A, start);
    assert_eq!(
        a.first().copied(),
        Some(7200),
        "the armed timer fires as scheduled..."
    );
    assert_eq!(
        a.get(1).copied(),
        Some(7800),
        "...and then the new 600 s applies"
    );
    let _ = c;
}

/// A sender facing a receiver that stopped reading: the window closes.
fn zero_window_pair(latency: u64) -> (Sim, netd_core::SocketHandle, netd_core::SocketHandle) {
    let mut sim = Sim::pair(Link::ideal().latency(ms(latency)));
    let l = listen(&mut sim, B, PORT, 16);
    let now = sim.now();
    sim.stack(B)
        .setsockopt(now, l, SockOpt::RcvBuf(4096))
        .unwrap();
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(50));
    let srv = sim.stack(B).accept(l).unwrap().0;
    // 20 kB: more than the receiver's 8 kB buffer, less than the sender's.
    let data = payload(20_000, 1);
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, &data), Ok(20_000));
    sim.run_for(secs(1));
    assert_eq!(
        sim.stack(A).tcb(c).unwrap().snd_wnd,
        0,
        "the window is closed"
    );
    (sim, c, srv)
}

#[test]
fn zero_window_probes_back_off_and_transfer_resumes_after_a_lost_window_update() {
    let (mut sim, c, srv) = zero_window_pair(5);
    sim.clear_trace();
    let start = sim.now();
    sim.run_for(secs(60));
    let probes: Vec<_> = sim
        .segments()
        .into_iter()
        .filter(|s| s.from == A && s.len == 0)
        .collect();
    assert!(probes.len() >= 5);
    let gaps: Vec<f64> = probes
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    for g in gaps.windows(2) {
        assert!(
            (g[1] / g[0] - 2.0).abs() < 0.01,
            "probe intervals double: {gaps:?}"
        );
    }
    assert!(sim.stack(A).mib.tcp_ext.tcp_win_probe >= 5);
    let _ = start;
    // The reader drains its buffer; its window update is lost.
    sim.drop_if(|s| s.from == B && s.window > 0);
    let mut buf = vec![0u8; 8192];
    let now = sim.now();
    let mut got = sim.stack(B).recv(now, srv, &mut buf, false).unwrap();
    sim.run_for(ms(20));
    sim.clear_drop();
    // The next probe's answer carries the open window, and data flows again.
    let mut total = got;
    while total < 20_000 && sim.now().as_millis() < 600_000 {
        sim.run_for(ms(100));
        let now = sim.now();
        while let Ok(n) = sim.stack(B).recv(now, srv, &mut buf, false) {
            if n == 0 {
                break;
            }
            total += n;
        }
        got = total;
    }
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(
        got, 20_000,
        "una {:?} nxt {:?} write {:?} wnd {} persist {:?} rtx {:?}",
        t.snd_una, t.snd_nxt, t.write_seq, t.snd_wnd, t.persist_deadline, t.rtx_deadline
    );
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn zero_window_probes_to_a_vanished_peer_give_up_after_retries2() {
    let (mut sim, c, _) = zero_window_pair(5);
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_retries2", "5")
        .unwrap();
    // Cut the link just after a probe was answered, so none is outstanding.
    assert!(sim.run_until(secs(60), |s| s.stack(A).tcb(c).unwrap().probes_out == 0));
    sim.link_down();
    sim.clear_trace();
    assert!(sim.run_until(secs(3600), |s| s.tcp_state(A, c) == Some(State::Closed)));
    assert_eq!(sim.segments().len(), 5, "five unanswered probes");
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ETIMEDOUT));
}

#[test]
fn a_peer_answering_zero_window_probes_is_never_dropped() {
    let (mut sim, c, _) = zero_window_pair(5);
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_retries2", "3")
        .unwrap();
    sim.run_for(secs(3600));
    assert_eq!(state(&sim, A, c), State::Established, "RFC 1122 4.2.2.17");
    assert!(sim.stack(A).mib.tcp_ext.tcp_win_probe > 3);
}

#[test]
fn tcp_user_timeout_replaces_retries2() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::UserTimeout(2000))
        .unwrap();
    sim.link_down();
    let start = sim.now();
    sim.stack(A).send(start, c, b"data").unwrap();
    assert!(sim.run_until(secs(60), |s| s.tcp_state(A, c) == Some(State::Closed)));
    let took = (sim.now() - start).as_secs_f64();
    assert!(
        (2.0..5.0).contains(&took),
        "gave up after {took} s (Linux: first RTO expiry past 2 s)"
    );
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ETIMEDOUT));
}

#[test]
fn orphaned_connection_gives_up_after_tcp_orphan_retries() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    let tuple = sim.stack(A).tcb(c).unwrap().tuple;
    sim.link_down();
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    assert!(
        sim.stack(A).tcb_by_tuple(&tuple).is_some(),
        "the orphan lives on in FIN-WAIT-1"
    );
    sim.run_for(secs(400));
    assert!(sim.stack(A).tcb_by_tuple(&tuple).is_none());
    // tcp_orphan_retries = 0 means 8: the FIN is sent, probed once (TLP),
    // then retransmitted 8 times (~102 s of backoff from 200 ms).
    let fins = sim.segments().iter().filter(|s| s.flags.fin()).count();
    assert_eq!(fins, 10);
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_loss_probes, 1);
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_abort_on_timeout, 1);
}

/// A finished connection takes its timers with it: once the passive closer
/// is CLOSED, the stack's next deadline is none at all, not a stale
/// retransmission or delayed-ACK entry. The daemon arms its timerfd at that
/// deadline, so a stale one cost a wake-up per finished connection.
#[test]
fn a_finished_connection_leaves_no_timer_behind() {
    let mut sim = ideal();
    let (c, l, srv) = establish(&mut sim);
    let data = payload(20_000, 3);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &data, secs(5)), data);
    close_in_turn(&mut sim, (A, c), (B, srv), ms(5));
    sim.run_for(ms(50));
    assert_eq!(sim.tcp_state(B, srv), None);
    assert_eq!(state(&sim, B, l), State::Listen);
    assert_eq!(sim.stack(B).next_deadline(), None);
}
