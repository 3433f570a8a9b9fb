//! TSO and checksum offload toward a link that segments for the stack (a
//! TUN device with a virtio-net header), and GSO super-segments from it.

mod common;
use common::*;
use netd_core::ip::{gso, Offloads, TxPacket};
use netd_core::sim::{Link, Sim};
use netd_core::wire::ipv4::Ipv4Repr;
use netd_core::wire::tcp::TcpRepr;

const TSO: Offloads = Offloads {
    tso_max: 65536,
    tx_csum: true,
};

/// A connection A -> B whose sender A has `TSO`, with A's first flight of
/// `len` bytes taken off A before the link sees it.
fn first_flight(
    len: usize,
) -> (
    Sim,
    netd_core::SocketHandle,
    netd_core::SocketHandle,
    Vec<TxPacket>,
) {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    sim.stack(A).set_offloads(TSO);
    let now = sim.now();
    let data = payload(len, 7);
    let mut sent = 0;
    while sent < data.len() {
        match sim.stack(A).send(now, c, &data[sent..]) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let mut pkts = Vec::new();
    while let Some(p) = sim.stack(A).poll_transmit_packet() {
        pkts.push(p);
    }
    (sim, c, srv, pkts)
}

fn tcp_of(pkt: &[u8], verify: bool) -> (Ipv4Repr, TcpRepr<'_>) {
    let (ip, body) = Ipv4Repr::parse(pkt).expect("valid IPv4");
    let seg = TcpRepr::parse_with(ip.src, ip.dst, body, verify).expect("valid TCP");
    (ip, seg)
}

#[test]
fn the_initial_window_leaves_as_two_super_segments_of_half_the_window() {
    let (_, _, _, pkts) = first_flight(100_000);
    // tcp_cwnd_test(): one TSO packet carries at most half the window.
    assert_eq!(pkts.len(), 2, "IW10 is two TSO packets of 5");
    let p = &pkts[0];
    let (_, seg) = tcp_of(&p.data, false);
    let mss = usize::from(p.gso_size);
    assert_eq!(mss, 1448, "MSS 1460 less the timestamp option");
    assert_eq!(seg.payload.len(), 5 * mss);
    assert!(p.data.len() > 1500, "larger than the MTU");
    assert!(p.csum_partial);
    assert_eq!(usize::from(p.hdr_len), 20 + seg.header_len());
}

#[test]
fn a_partial_checksum_holds_the_pseudo_header_sum_the_link_completes() {
    let (_, _, _, mut pkts) = first_flight(100_000);
    let p = pkts.remove(0);
    let (ip, _) = tcp_of(&p.data, false);
    let tcp_len = p.data.len() - 20;
    let pseudo = netd_core::wire::checksum::pseudo_header(ip.src, ip.dst, 6, tcp_len);
    let field = u16::from_be_bytes([p.data[36], p.data[37]]);
    assert_eq!(field, netd_core::wire::checksum::fold(pseudo));
    assert!(
        TcpRepr::parse(ip.src, ip.dst, &p.data[20..]).is_err(),
        "not a full checksum"
    );
}

#[test]
fn software_segmentation_gives_mtu_sized_segments_with_push_on_the_last() {
    let (_, _, _, mut pkts) = first_flight(100_000);
    let p = pkts.remove(0);
    let (ip0, seg0) = tcp_of(&p.data, false);
    let (seq0, total, psh) = (seg0.seq, seg0.payload.len(), seg0.flags.psh());
    let segs = gso::segment(p);
    assert_eq!(segs.len(), 5);
    let mut next = seq0;
    for (i, s) in segs.iter().enumerate() {
        assert!(s.len() <= 1500);
        let (ip, seg) = tcp_of(s, true);
        assert_eq!(ip.ident, ip0.ident.wrapping_add(i as u16));
        assert_eq!(seg.seq, next);
        assert_eq!(seg.flags.psh(), psh && i == 4, "PSH only on the last");
        next += seg.payload.len() as u32;
    }
    assert_eq!(next, seq0 + total as u32);
}

#[test]
fn out_segs_counts_the_wire_segments_of_a_tso_packet() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    sim.stack(A).set_offloads(TSO);
    let before = sim.stack(A).mib.tcp.out_segs;
    let now = sim.now();
    sim.stack(A).send(now, c, &payload(10 * 1448, 1)).unwrap();
    let mut pkts = 0;
    while sim.stack(A).poll_transmit_packet().is_some() {
        pkts += 1;
    }
    assert_eq!(pkts, 2);
    assert_eq!(sim.stack(A).mib.tcp.out_segs - before, 10);
}

#[test]
fn a_super_segment_the_link_vouches_for_is_taken_whole_and_acked_once() {
    let (mut sim, _, srv, mut pkts) = first_flight(100_000);
    let p = pkts.remove(0);
    let (_, seg) = tcp_of(&p.data, false);
    let end = seg.seq + seg.payload.len() as u32;
    let now = sim.now();
    let b = sim.stack(B);
    b.receive_offloaded(now, &p.data, true);
    let mut acks = Vec::new();
    while let Some(out) = b.poll_transmit() {
        let (_, a) = tcp_of(&out, true);
        acks.push((a.ack, a.payload.len()));
    }
    assert_eq!(acks, vec![(end, 0)], "one ACK for the whole super-segment");
    let mut buf = vec![0u8; 65536];
    assert_eq!(b.recv(now, srv, &mut buf, false), Ok(5 * 1448));
    assert_eq!(&buf[..5 * 1448], &payload(100_000, 7)[..5 * 1448]);
}

#[test]
fn a_partial_checksum_without_the_links_word_is_a_checksum_error() {
    let (mut sim, _, srv, mut pkts) = first_flight(100_000);
    let p = pkts.remove(0);
    let now = sim.now();
    let b = sim.stack(B);
    let before = b.mib.tcp.in_csum_errors;
    b.receive(now, &p.data);
    assert_eq!(b.mib.tcp.in_csum_errors - before, 1);
    let mut buf = [0u8; 16];
    assert_eq!(
        b.recv(now, srv, &mut buf, false),
        Err(netd_core::Errno::EAGAIN)
    );
}

#[test]
fn bulk_data_from_a_tso_sender_over_a_lossy_link_arrives_intact() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(5)).loss(0.01));
    sim.record = true;
    let (c, _, srv) = establish(&mut sim);
    sim.stack(A).set_offloads(TSO);
    sim.stack(B).set_offloads(TSO);
    let up = payload(2_000_000, 3);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &up, secs(120)), up);
    let down = payload(1_000_000, 4);
    assert_eq!(transfer(&mut sim, (B, srv), (A, c), &down, secs(120)), down);
    assert!(
        sim.trace().iter().all(|s| s.packet.len() <= 1500),
        "the link carried only MTU-sized packets"
    );
}

/// `tcp_tso_should_defer()`: when an ACK is due within a millisecond and
/// the window allows less than `tcp_tso_win_divisor` of itself, a small
/// TSO chunk waits for that ACK and goes out larger, so the same bulk
/// transfer takes fewer transmissions than with deferral nearly off
/// (divisor 255: any sliver of 1/255 of the window goes at once).
#[test]
fn tso_deferral_sends_fewer_larger_chunks() {
    let chunks = |divisor: i64| {
        let mut sim = netd_core::sim::Sim::pair(
            netd_core::sim::Link::ideal().latency(std::time::Duration::from_micros(200)),
        );
        sim.record = false;
        sim.stack(A).sysctl.tcp_tso_win_divisor = divisor;
        let (c, _, srv) = establish(&mut sim);
        sim.stack(A).set_offloads(TSO);
        let data = payload(4_000_000, 11);
        let got = transfer(&mut sim, (A, c), (B, srv), &data, secs(10));
        assert!(got == data);
        sim.stack(A).tcb(c).unwrap().data_segs_out
    };
    let (deferring, eager) = (chunks(3), chunks(255));
    assert!(
        deferring < eager,
        "divisor 3: {deferring} chunks, divisor 255: {eager}"
    );
}
