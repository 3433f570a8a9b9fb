//! What a blind attacker on the link must not achieve, as Linux stops it:
//! poison a connection's timestamps, kill a connect() or a connection with a
//! forged ICMP error, reach loopback or get answers reflected, or make one
//! connection's queues cost time or memory without bound.

mod common;
use common::*;
use netd_core::sim::Sim;
use netd_core::tcp::{SeqNum, State};
use netd_core::wire::tcp::{TcpFlags, TcpOptions};
use netd_core::{Errno, SocketHandle};
use std::net::{Ipv4Addr, SocketAddrV4};

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

/// An ICMP destination unreachable to the sender of a TCP segment
/// `from → to` with sequence number `seq`, quoting its IP header and first
/// 8 bytes, as a router on the path would send it.
fn unreachable(code: u8, from: SocketAddrV4, to: SocketAddrV4, seq: SeqNum) -> Vec<u8> {
    let quoted = tcp_packet(
        from,
        to,
        seq,
        SeqNum(0),
        TcpFlags::SYN,
        TcpOptions::default(),
        b"",
    );
    let msg = netd_core::icmp::build(3, code, [0; 4], &quoted[..28]);
    ip_packet(*to.ip(), *from.ip(), 1, &msg)
}

/// connect() to B, with its SYN on the way; the ICMP error is processed
/// before the SYN-ACK can come back.
fn connect_with_icmp(seq_offset: u32) -> (Sim, SocketHandle) {
    let mut sim = ideal();
    let _l = listen(&mut sim, B, PORT, 16);
    let c = connect(&mut sim, A, addr_b(PORT));
    let t = sim.stack(A).tcb(c).unwrap();
    let pkt = unreachable(3, t.tuple.local, t.tuple.remote, t.iss + seq_offset);
    sim.inject(A, pkt);
    sim.run_for(ms(10));
    (sim, c)
}

/// `tcp_v4_err()`: an error quoting a sequence number not in [snd_una,
/// snd_nxt] is ignored and counted (OutOfWindowIcmps); a blind sweep of
/// ports with a guessed sequence number cannot fail a connect().
#[test]
fn an_icmp_error_quoting_a_sequence_never_sent_leaves_a_connect_alone() {
    let (mut sim, c) = connect_with_icmp(12_345);
    assert_eq!(state(&sim, A, c), State::Established);
    assert_eq!(sim.stack(A).mib.tcp_ext.out_of_window_icmps, 1);
}

#[test]
fn an_icmp_error_quoting_our_syn_fails_the_connect() {
    let (mut sim, c) = connect_with_icmp(0);
    let now = sim.now();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(sim.stack(A).mib.tcp_ext.out_of_window_icmps, 0);
}

/// A SYN from an address nobody answers for, and the ISN of B's SYN-ACK.
fn half_open(sim: &mut Sim) -> (SocketHandle, SocketAddrV4, SeqNum) {
    let l = listen(sim, B, PORT, 16);
    let client = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 40_000);
    sim.clear_trace();
    sim.inject(B, syn_from(client, addr_b(PORT), 1000));
    sim.run_for(ms(1));
    let synack = sim
        .segments()
        .into_iter()
        .find(|s| s.from == B)
        .expect("a SYN-ACK");
    assert_eq!(sim.stack(B).listen_queues(l).map(|q| q.0), Some(1));
    (l, client, synack.seq)
}

/// `tcp_req_err()`: a network or host unreachable quoting our SYN-ACK's ISN
/// drops the half-open request at once (ListenDrops); one quoting another
/// sequence number is counted and changes nothing.
#[test]
fn an_unreachable_for_our_syn_ack_drops_the_half_open_request() {
    let mut sim = ideal();
    let (l, client, iss) = half_open(&mut sim);
    sim.inject(B, unreachable(1, addr_b(PORT), client, iss + 1));
    sim.run_for(ms(1));
    assert_eq!(sim.stack(B).listen_queues(l).map(|q| q.0), Some(1));
    assert_eq!(sim.stack(B).mib.tcp_ext.out_of_window_icmps, 1);
    sim.inject(B, unreachable(1, addr_b(PORT), client, iss));
    sim.run_for(ms(1));
    assert_eq!(sim.stack(B).listen_queues(l).map(|q| q.0), Some(0));
    assert_eq!(sim.stack(B).mib.tcp_ext.listen_drops, 1);
}

/// What a SYN from `src` to B's `dst` brings back from B.
fn answers_to_syn(src: Ipv4Addr, dst: SocketAddrV4) -> Vec<String> {
    let mut sim = ideal();
    let _l = listen(&mut sim, B, dst.port(), 16);
    sim.clear_trace();
    sim.inject(B, syn_from(SocketAddrV4::new(src, 40_000), dst, 1000));
    sim.run_for(ms(5));
    let from_b = sim.segments().into_iter().filter(|s| s.from == B);
    from_b.map(|s| s.flags_str()).collect()
}

/// `ip_route_input_slow()`'s martian sources get no answer, so B reflects
/// no SYN-ACK to a broadcast, multicast, zero or loopback address, nor to
/// its own; a subnet broadcast source is not martian to Linux, and is
/// answered there too.
#[test]
fn syns_from_martian_sources_get_no_answer() {
    let b = *addr_b(PORT).ip();
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::LOCALHOST,
        b,
    ] {
        assert!(
            answers_to_syn(src, addr_b(PORT)).is_empty(),
            "{src} was answered"
        );
    }
    assert_eq!(
        answers_to_syn(Ipv4Addr::new(10, 0, 0, 255), addr_b(PORT)),
        ["SYN|ACK"]
    );
}

/// A destination in 127.0.0.0/8 from the link is martian: a server bound
/// to 127.0.0.1 is out of the link's reach, while loopback still works.
#[test]
fn loopback_is_not_reachable_from_the_link() {
    let local = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
    assert!(answers_to_syn(*addr_a(0).ip(), local).is_empty());
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(B);
    let l = st.socket(netd_core::SockType::Stream).unwrap();
    st.bind(l, local).unwrap();
    st.listen(now, l, 16).unwrap();
    let c = connect(&mut sim, B, local);
    sim.run_for(ms(5));
    assert_eq!(state(&sim, B, c), State::Established, "loopback connects");
    assert!(sim.stack(B).accept(l).is_ok());
}

/// One-byte segments at every other sequence number across the whole
/// window: the out-of-order queue holds them up to its truesize limit
/// (twice the receive buffer, skb overhead counted per block), prunes or
/// drops the rest (OfoPruned, TCPOFODrop), and the connection goes on
/// taking the peer's in-order data.
#[test]
fn an_out_of_order_flood_of_tiny_segments_is_bounded_by_truesize() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let t = sim.stack(A).tcb(c).unwrap();
    let (tuple, rcv_nxt, window, ts) = (t.tuple, t.rcv_nxt, t.rcv_wnd, t.ts_recent);
    let opts = TcpOptions {
        timestamp: Some((ts, 0)),
        ..TcpOptions::default()
    };
    let flags = TcpFlags::ACK | TcpFlags::PSH;
    let ack = t.snd_nxt;
    let mut sent = 0;
    for off in (2..window).step_by(2) {
        let pkt = tcp_packet(
            tuple.remote,
            tuple.local,
            rcv_nxt + off,
            ack,
            flags,
            opts,
            b"x",
        );
        sim.inject(A, pkt);
        sent += 1;
    }
    sim.run_for(ms(50));
    let t = sim.stack(A).tcb(c).unwrap();
    let (blocks, truesize, rcvbuf) = (t.ooo.blocks(), t.ooo.truesize(), t.rcvbuf);
    assert!(sent > 30_000, "{sent} segments");
    assert!(
        truesize <= 2 * rcvbuf,
        "truesize {truesize} for a {rcvbuf} buffer"
    );
    assert!(blocks < sent / 50, "{blocks} of {sent} tiny segments held");
    let ext = &sim.stack(A).mib.tcp_ext;
    assert!(ext.tcp_ofo_drop > 0 && ext.prune_called > 0, "{ext:?}");
    assert_eq!(state(&sim, A, c), State::Established);
    let now = sim.now();
    sim.stack(B).send(now, srv, b"in order").unwrap();
    sim.run_for(ms(10));
    assert!(
        recv_now(&mut sim, A, c).is_ok_and(|n| n > 0),
        "in-order data is still taken"
    );
}

/// 8-byte first fragments, each of a new datagram: with the fragments
/// charged as Linux charges them (truesize, and each queue its `struct
/// ipq`), the default 4 MB of ipfrag_high_thresh holds about 4,000 queues,
/// as on Linux, and the rest are refused (ReasmFails); counting payload
/// alone it took all 20,000 and would have taken 500,000.
#[test]
fn a_flood_of_tiny_first_fragments_holds_thousands_of_queues_not_millions() {
    let mut sim = ideal();
    let src = *addr_a(0).ip();
    let dst = *addr_b(0).ip();
    for id in 0..20_000u16 {
        let hdr = netd_core::wire::ipv4::Ipv4Repr {
            src,
            dst,
            protocol: netd_core::wire::ipv4::PROTO_UDP,
            ttl: 64,
            tos: 0,
            ident: id,
            dont_frag: false,
            more_frags: true,
            frag_offset: 0,
            header_len: 20,
            total_len: 28,
        };
        let mut pkt = Vec::new();
        hdr.emit(8, &mut pkt);
        pkt.extend_from_slice(&[0u8; 8]);
        let now = sim.now();
        sim.stack(B).receive(now, &pkt);
    }
    let st = sim.stack(B);
    let (queues, mem) = (st.reassembly_queues(), st.reassembly_mem());
    assert!((3_000..=5_000).contains(&queues), "{queues} queues");
    assert!(mem <= 4 * 1024 * 1024, "{mem} bytes");
    assert_eq!(st.mib.ip.reasm_fails as usize, 20_000 - queues);
}
