//! What a blind attacker on the link must not achieve, as Linux stops it:
//! poison a connection's timestamps, kill a connect() or a connection with a
//! forged ICMP error, reach loopback or get answers reflected, or make one
//! connection's queues cost time or memory without bound.

mod common;
use common::*;
use netd_core::sim::Sim;
use netd_core::tcp::State;
use netd_core::wire::tcp::{TcpFlags, TcpOptions};
use netd_core::SocketHandle;

/// A segment to A's connection `c` as if from its peer: `seq` from
/// rcv_nxt, `ack` from snd_nxt, TSval from the peer's last.
fn forge(
    sim: &mut Sim,
    c: SocketHandle,
    flags: TcpFlags,
    ack_from_snd_nxt: u32,
    tsval_ahead: u32,
    payload: &[u8],
) -> Vec<u8> {
    let t = sim.stack(A).tcb(c).unwrap();
    let opts = TcpOptions {
        timestamp: Some((t.ts_recent.wrapping_add(tsval_ahead), 0)),
        ..TcpOptions::default()
    };
    tcp_packet(
        t.tuple.remote,
        t.tuple.local,
        t.rcv_nxt,
        t.snd_nxt + ack_from_snd_nxt,
        flags,
        opts,
        payload,
    )
}

/// After `poison` arrived, the real peer's next data must still be taken:
/// TS.Recent moves only with a segment whose ACK was acceptable (Linux's
/// `tcp_replace_ts_recent()` from `tcp_ack()`).
fn real_data_survives(poison: impl Fn(&mut Sim, SocketHandle) -> Vec<u8>) {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    assert_eq!(
        transfer(&mut sim, (B, srv), (A, c), b"first", secs(1)),
        b"first"
    );
    let pkt = poison(&mut sim, c);
    sim.inject(A, pkt);
    sim.run_for(ms(10));
    let got = transfer(&mut sim, (B, srv), (A, c), b"still here", secs(5));
    assert_eq!(got, b"still here", "the real peer's data was refused");
    assert_eq!(sim.stack(A).mib.tcp_ext.paws_estab, 0);
    assert_eq!(state(&sim, A, c), State::Established);
}

#[test]
fn a_segment_without_an_ack_cannot_poison_ts_recent() {
    real_data_survives(|sim, c| forge(sim, c, TcpFlags::PSH, 0, 1 << 30, b""));
}

#[test]
fn a_syn_cannot_poison_ts_recent() {
    real_data_survives(|sim, c| forge(sim, c, TcpFlags::SYN, 0, 1 << 30, b""));
}

#[test]
fn an_ack_for_unsent_data_cannot_poison_ts_recent() {
    real_data_survives(|sim, c| forge(sim, c, TcpFlags::ACK, 100_000, 1 << 30, b"x"));
}

/// Data at rcv_nxt acking bytes never sent is dropped with a challenge ACK,
/// one per tcp_invalid_ratelimit however many come (Linux 6.18's `tcp_ack()`
/// sends `tcp_send_challenge_ack()` there), not one ACK per segment.
#[test]
fn data_acking_unsent_bytes_gets_one_rate_limited_challenge() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    sim.clear_trace();
    for _ in 0..1000 {
        let pkt = forge(
            &mut sim,
            c,
            TcpFlags::ACK | TcpFlags::PSH,
            1 << 20,
            1,
            b"data",
        );
        sim.inject(A, pkt);
    }
    sim.run_for(ms(10));
    let answers = sim.segments().iter().filter(|s| s.from == A).count();
    assert_eq!(answers, 1, "one challenge ACK, not one per segment");
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_challenge_ack, 1);
    assert_eq!(
        recv_now(&mut sim, A, c),
        Err(netd_core::Errno::EAGAIN),
        "the data was dropped"
    );
}
