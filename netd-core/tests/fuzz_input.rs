//! No input may panic the stack: random bytes and mutated valid packets are
//! fed to a stack with a listener, an established connection and UDP sockets.

mod common;
use common::*;
use netd_core::sim::Sim;
use netd_core::Stack;
use proptest::prelude::*;
use std::net::SocketAddrV4;

/// Real packets from a short exchange, to mutate.
fn corpus() -> (Vec<Vec<u8>>, Sim) {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    transfer(&mut sim, (A, c), (B, srv), &payload(5000, 1), secs(1));
    let now = sim.now();
    let u = sim.stack(B).socket(netd_core::SockType::Datagram).unwrap();
    sim.stack(B)
        .bind(u, SocketAddrV4::new(netd_core::sim::HOST_B, 53))
        .unwrap();
    let ua = sim.stack(A).socket(netd_core::SockType::Datagram).unwrap();
    sim.stack(A)
        .sendto(
            now,
            ua,
            &payload(3000, 2),
            SocketAddrV4::new(netd_core::sim::HOST_B, 53),
        )
        .unwrap();
    sim.run_for(ms(10));
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(300));
    let packets = sim.trace().iter().map(|s| s.packet.clone()).collect();
    (packets, sim)
}

fn feed(stack: &mut Stack, now_ms: u64, pkt: &[u8]) {
    feed_offloaded(stack, now_ms, pkt, false);
}

/// `csum_ok`: the TUN device's virtio-net header said NEEDS_CSUM/DATA_VALID,
/// so mutated TCP/UDP reaches the protocol code without a valid checksum.
fn feed_offloaded(stack: &mut Stack, now_ms: u64, pkt: &[u8], csum_ok: bool) {
    let now = netd_core::Instant::from_millis(now_ms);
    stack.receive_offloaded(now, pkt, csum_ok);
    stack.poll(now);
    while stack.poll_transmit().is_some() {}
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let (_, mut sim) = corpus_once();
        feed(sim.stack(B), 1_000, &bytes);
    }

    #[test]
    fn mutated_packets_never_panic(
        pick in any::<usize>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
        fix_checksums in any::<bool>(),
        link_vouches in any::<bool>(),
    ) {
        let (packets, mut sim) = corpus_once();
        let mut pkt = packets[pick % packets.len()].clone();
        for (at, x) in flips {
            let i = at % pkt.len();
            pkt[i] ^= x;
        }
        let len = pkt.len();
        pkt.truncate(len - cut % len.max(1));
        if fix_checksums && pkt.len() >= 20 {
            // Keep the IP header valid so the mutation reaches TCP/UDP/ICMP.
            pkt[0] = 0x45;
            let total = (pkt.len() as u16).to_be_bytes();
            pkt[2..4].copy_from_slice(&total);
            pkt[10..12].copy_from_slice(&[0, 0]);
            let c = netd_core::wire::checksum::checksum(&pkt[..20]);
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let now = sim.now().as_millis() + 1;
        for host in [A, B] {
            feed_offloaded(sim.stack(host), now, &pkt, link_vouches);
        }
        // The stacks still work afterwards: time passes without panics, and
        // the CurrEstab the stack keeps is still what a walk counts.
        for host in [A, B] {
            let now = sim.now();
            let walked = sim.stack(host).sockets_info(now).iter()
                .filter(|r| r.proto == "tcp" && (r.state == 1 || r.state == 8))
                .count();
            prop_assert_eq!(sim.stack(host).curr_estab(), walked);
        }
        sim.run_for(secs(120));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The software TSO fallback sees only the stack's own packets, but a
    /// bad header must still not panic it.
    #[test]
    fn software_segmentation_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        gso_size in any::<u16>(),
        csum_partial in any::<bool>(),
        tcp_header in any::<bool>(),
    ) {
        let mut data = data;
        if tcp_header && data.len() >= 40 {
            data[0] = 0x45;
            data[9] = 6;
        }
        let pkt = netd_core::ip::TxPacket { data, gso_size, hdr_len: 0, csum_partial };
        // Nothing vanishes: at least one packet always comes out.
        prop_assert!(!netd_core::ip::gso::segment(pkt).is_empty());
    }
}

fn corpus_once() -> (Vec<Vec<u8>>, Sim) {
    corpus()
}
