//! Closing connections: active, passive, half, abortive, simultaneous, TIME-WAIT.

mod common;
use common::*;
use netd_core::sim::Sim;
use netd_core::tcp::State;
use netd_core::{Errno, Shutdown, SockOpt};

fn recv_all(sim: &mut Sim, host: usize, h: netd_core::SocketHandle) -> Result<Vec<u8>, Errno> {
    let now = sim.now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sim.stack(host).recv(now, h, &mut buf, false) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn four_way_close_with_every_state_and_seq_ack() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    sim.run_for(ms(10));
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    let tuple = sim.stack(B).tcb(srv).unwrap().tuple;
    let client_tuple = netd_core::tcp::FourTuple {
        local: tuple.remote,
        remote: tuple.local,
    };
    assert_eq!(state(&sim, A, c), State::FinWait1);
    sim.run_for(ms(1));
    assert_eq!(state(&sim, B, srv), State::CloseWait);
    sim.run_for(ms(100));
    // B's delayed ACK of the FIN went out; A waits in FIN-WAIT-2 (an orphan: a timewait bucket).
    assert_eq!(
        sim.stack(A).timewait(&client_tuple).map(|t| t.substate),
        Some(State::FinWait2)
    );
    let now = sim.now();
    assert_eq!(recv_all(&mut sim, B, srv), Ok(vec![]), "EOF");
    sim.stack(B).close(now, srv).unwrap();
    assert_eq!(state(&sim, B, srv), State::LastAck);
    sim.run_for(ms(1));
    assert_eq!(
        sim.stack(A).timewait(&client_tuple).map(|t| t.substate),
        Some(State::TimeWait)
    );
    sim.run_for(ms(1));
    assert!(
        sim.stack(B).tcb(srv).is_none(),
        "LAST-ACK -> CLOSED frees the socket"
    );
    let s = sim.segments();
    assert_eq!(sim.flags(), ["FIN|ACK", "ACK", "FIN|ACK", "ACK"]);
    assert_eq!(s[1].ack, s[0].seq + 1, "FIN consumes one sequence number");
    assert_eq!(s[2].seq, s[1].seq);
    assert_eq!(s[2].ack, s[0].seq + 1);
    assert_eq!((s[3].seq, s[3].ack), (s[0].seq + 1, s[2].seq + 1));
    assert_eq!(sim.stack(A).timewait_count(), 1);
}

/// A request, a pause, then A closes and B's program closes as soon as
/// read() returns 0 (setting TCP_QUICKACK first if asked). Returns the
/// flags of the close.
fn passive_close_on_eof(quickack: bool) -> Vec<String> {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let got = transfer(&mut sim, (A, c), (B, srv), b"request", secs(1));
    assert_eq!(got, b"request");
    sim.run_for(ms(500));
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    let ok = sim.run_until(secs(1), |s| {
        let now = s.now();
        let mut b = [0u8; 8];
        if s.stack(B).recv(now, srv, &mut b, false) != Ok(0) {
            return false;
        }
        if quickack {
            // TCP_QUICKACK sends the pending ACK at once (Linux tcp_setsockopt).
            s.stack(B)
                .setsockopt(now, srv, SockOpt::QuickAck(true))
                .unwrap();
        }
        s.stack(B).close(now, srv).unwrap();
        true
    });
    assert!(ok);
    sim.run_for(secs(1));
    sim.flags()
}

#[test]
fn passive_close_merges_delayed_ack_with_fin() {
    assert_eq!(
        passive_close_on_eof(false),
        ["FIN|ACK", "FIN|ACK", "ACK"],
        "three segments, not four"
    );
}

#[test]
fn passive_close_with_quickack_sends_ack_and_fin_separately() {
    assert_eq!(
        passive_close_on_eof(true),
        ["FIN|ACK", "ACK", "FIN|ACK", "ACK"]
    );
}

/// B's reply queued with MSG_MORE and then close(): the segment that
/// carries it carries the FIN too, as `tcp_send_fin()` tacks the FIN onto
/// an unsent tail. netd does this for a program's write and close read
/// from its socketpair together.
#[test]
fn reply_queued_with_more_leaves_with_the_fin_in_one_segment() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    sim.run_for(ms(10));
    sim.clear_trace();
    let now = sim.now();
    assert_eq!(sim.stack(B).send_more(now, srv, b"reply"), Ok(5));
    assert!(sim.segments().is_empty(), "MSG_MORE holds the bytes back");
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(1));
    let s = sim.segments();
    assert_eq!(s[0].from, B);
    assert_eq!(s[0].flags_str(), "FIN|PSH|ACK");
    assert_eq!(s[0].len, 5);
    assert_eq!(recv_all(&mut sim, A, c), Ok(b"reply".to_vec()));
    assert_eq!(state(&sim, A, c), State::CloseWait);
}

#[test]
fn push_sends_what_more_held_back() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    sim.run_for(ms(10));
    sim.clear_trace();
    let now = sim.now();
    sim.stack(B).send_more(now, srv, b"ab").unwrap();
    sim.stack(B).send_more(now, srv, b"cd").unwrap();
    sim.run_for(ms(1));
    assert!(sim.segments().is_empty());
    let now = sim.now();
    sim.stack(B).push(now, srv);
    sim.run_for(ms(1));
    let s = sim.segments();
    assert_eq!(
        (s[0].from, s[0].flags_str(), s[0].len),
        (B, "PSH|ACK".to_string(), 4)
    );
    assert_eq!(recv_all(&mut sim, A, c), Ok(b"abcd".to_vec()));
}

#[test]
fn half_close_keeps_the_other_direction_flowing() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).shutdown(now, c, Shutdown::Write).unwrap();
    sim.run_for(ms(50));
    assert_eq!(state(&sim, A, c), State::FinWait2);
    assert_eq!(state(&sim, B, srv), State::CloseWait);
    assert_eq!(sim.stack(A).send(now, c, b"x"), Err(Errno::EPIPE));
    let data = payload(200_000, 7);
    let got = transfer(&mut sim, (B, srv), (A, c), &data, secs(10));
    assert_eq!(got, data);
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(10));
    assert_eq!(recv_all(&mut sim, A, c), Ok(vec![]));
    // A still holds its fd: the connection went to TIME-WAIT, the socket reads EOF.
    assert_eq!(state(&sim, A, c), State::Closed);
    assert_eq!(sim.stack(A).timewait_count(), 1);
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).send(now, c, b"unread").unwrap();
    sim.run_for(ms(50));
    sim.clear_trace();
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.flags(), ["RST|ACK"]);
    assert_eq!(sim.stack(B).mib.tcp_ext.tcp_abort_on_close, 1);
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ECONNRESET));
    assert_eq!(recv_now(&mut sim, A, c), Ok(0), "then EOF");
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, b"x"), Err(Errno::EPIPE));
    assert_eq!(sim.stack(A).mib.tcp.estab_resets, 1);
}

#[test]
fn data_after_close_is_answered_with_rst() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(50));
    assert_eq!(state(&sim, A, c), State::CloseWait);
    sim.clear_trace();
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, b"late"), Ok(4));
    sim.run_for(ms(5));
    assert_eq!(sim.flags(), ["PSH|ACK", "RST"]);
    let s = sim.segments();
    assert_eq!(
        s[1].seq, s[0].ack,
        "the RST takes its seq from the data's ACK"
    );
    // B's orphan is a FIN-WAIT-2 timewait bucket by now; Linux resets from
    // there (TCP_TW_RST) without counting TCPAbortOnData.
    assert_eq!(sim.stack(B).timewait_count(), 0, "the bucket is gone");
    let now = sim.now();
    assert_eq!(
        sim.stack(A).send(now, c, b"more"),
        Err(Errno::EPIPE),
        "RST in CLOSE-WAIT reads as EPIPE"
    );
}

#[test]
fn lost_last_ack_fin_retransmitted_from_last_ack_and_reacked_from_time_wait() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(300));
    // Lose A's ACK of B's FIN, once.
    let mut dropped = false;
    sim.drop_if(move |s| {
        let hit = !dropped && s.from == A && s.flags_str() == "ACK";
        dropped |= hit;
        hit
    });
    sim.clear_trace();
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(100));
    assert_eq!(state(&sim, B, srv), State::LastAck);
    sim.run_for(secs(2));
    assert!(
        sim.stack(B).tcb(srv).is_none(),
        "the re-ACK closed LAST-ACK"
    );
    let s = sim.segments();
    assert_eq!(sim.flags(), ["FIN|ACK", "ACK", "FIN|ACK", "ACK"]);
    assert_eq!(s[2].seq, s[0].seq, "the same FIN again");
    assert_eq!(s[3].ack, s[0].seq + 1);
    let rto = s[2].at - s[0].at;
    assert!(
        rto >= ms(200) && rto < ms(300),
        "retransmitted after one RTO: {rto:?}"
    );
    // The retransmitted FIN restarted the 60 s TIME-WAIT timer.
    let tuple = sim.stack(A).tcb(c).map(|t| t.tuple);
    assert!(
        tuple.is_none(),
        "A's socket was closed: only the bucket remains"
    );
    assert_eq!(sim.stack(A).timewait_count(), 1);
    sim.run_for(secs(60) - (sim.now() - s[2].at) - ms(1));
    assert_eq!(
        sim.stack(A).timewait_count(),
        1,
        "still there 60 s after the second FIN"
    );
    // Buckets expire at the end of their TW_SLOT.
    sim.run_for(netd_core::tcp::timewait::TW_SLOT + ms(5));
    assert_eq!(sim.stack(A).timewait_count(), 0);
}

#[test]
fn time_wait_ends_after_60s() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(300));
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.stack(A).timewait_count(), 1);
    let entered = sim.now();
    sim.run_for(secs(59));
    assert_eq!(sim.stack(A).timewait_count(), 1);
    sim.run_for(secs(2));
    assert_eq!(
        sim.stack(A).timewait_count(),
        0,
        "gone after TCP_TIMEWAIT_LEN"
    );
    assert!(sim.now() - entered >= secs(60));
    assert_eq!(sim.stack(A).mib.tcp_ext.tw, 1);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    sim.run_for(ms(10));
    sim.clear_trace();
    let now = sim.now();
    sim.stack(A).shutdown(now, c, Shutdown::Write).unwrap();
    sim.stack(B).shutdown(now, srv, Shutdown::Write).unwrap();
    sim.run_for(ms(1));
    assert_eq!(
        (state(&sim, A, c), state(&sim, B, srv)),
        (State::Closing, State::Closing)
    );
    sim.run_for(ms(5));
    assert_eq!(sim.stack(A).timewait_count(), 1);
    assert_eq!(sim.stack(B).timewait_count(), 1);
    assert_eq!(sim.flags(), ["FIN|ACK", "FIN|ACK", "ACK", "ACK"]);
}

#[test]
fn orphaned_fin_wait2_times_out_after_tcp_fin_timeout() {
    let mut sim = ideal();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.tcp_fin_timeout", "30")
        .unwrap();
    let (c, _, srv) = establish(&mut sim);
    let tuple = sim.stack(A).tcb(c).unwrap().tuple;
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(secs(1));
    assert_eq!(
        sim.stack(A).timewait(&tuple).map(|t| t.substate),
        Some(State::FinWait2)
    );
    sim.run_for(secs(28));
    assert_eq!(sim.stack(A).timewait_count(), 1);
    sim.run_for(secs(2));
    assert_eq!(sim.stack(A).timewait_count(), 0);
    // B never closed: its late FIN finds nothing and is reset.
    sim.clear_trace();
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.flags(), ["FIN|ACK", "RST"]);
}
