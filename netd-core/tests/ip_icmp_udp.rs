//! IPv4, ICMP and UDP: echo, port unreachable, fragmentation and reassembly,
//! and every malformed packet counted under its Linux name.

mod common;
use common::*;
use netd_core::sim::{HOST_A, HOST_B};
use netd_core::wire::icmp::{self, IcmpRepr};
use netd_core::wire::ipv4::{Ipv4Repr, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use netd_core::wire::udp::UdpRepr;
use netd_core::{Errno, Instant, SockType};
use std::net::SocketAddrV4;

fn echo_request(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let [i0, i1] = id.to_be_bytes();
    let [s0, s1] = seq.to_be_bytes();
    IcmpRepr {
        msg_type: icmp::ECHO_REQUEST,
        code: 0,
        rest: [i0, i1, s0, s1],
        body: data,
    }
    .emit(&mut body);
    ip_packet(HOST_A, HOST_B, PROTO_ICMP, &body)
}

#[test]
fn ping_is_answered_with_an_echo_reply() {
    let mut st = bare_stack(HOST_B);
    st.receive(Instant::ZERO, &echo_request(0x1234, 7, b"abcdefgh"));
    let out = drain(&mut st);
    assert_eq!(out.len(), 1);
    let (ip, payload) = Ipv4Repr::parse(&out[0]).unwrap();
    assert_eq!((ip.src, ip.dst, ip.ttl), (HOST_B, HOST_A, 64));
    let reply = IcmpRepr::parse(payload).unwrap();
    assert_eq!(reply.msg_type, icmp::ECHO_REPLY);
    assert_eq!(reply.echo_ident_seq(), (0x1234, 7));
    assert_eq!(reply.body, b"abcdefgh");
    assert_eq!((st.mib.icmp.in_echos, st.mib.icmp.out_echo_reps), (1, 1));
}

#[test]
fn icmp_echo_ignore_all_suppresses_the_reply() {
    let mut st = bare_stack(HOST_B);
    st.sysctl.set("net.ipv4.icmp_echo_ignore_all", "1").unwrap();
    st.receive(Instant::ZERO, &echo_request(1, 1, b"x"));
    assert!(drain(&mut st).is_empty());
    assert_eq!(st.mib.icmp.in_echos, 1);
}

#[test]
fn udp_datagrams_flow_both_ways() {
    let mut sim = ideal();
    let now = sim.now();
    let a = sim.stack(A).socket(SockType::Datagram).unwrap();
    let b = sim.stack(B).socket(SockType::Datagram).unwrap();
    sim.stack(B).bind(b, addr_b(53)).unwrap();
    sim.stack(A).sendto(now, a, b"query", addr_b(53)).unwrap();
    sim.run_for(ms(5));
    let mut buf = [0u8; 64];
    let (n, from) = sim.stack(B).recvfrom(b, &mut buf, false).unwrap();
    assert_eq!(&buf[..n], b"query");
    assert_eq!(*from.ip(), HOST_A);
    let (lo, hi) = (32768, 60999);
    assert!(
        (lo..=hi).contains(&from.port()),
        "autobound from ip_local_port_range: {}",
        from.port()
    );
    let now = sim.now();
    sim.stack(B).sendto(now, b, b"answer", from).unwrap();
    sim.run_for(ms(5));
    let (n, from) = sim.stack(A).recvfrom(a, &mut buf, false).unwrap();
    assert_eq!((&buf[..n], from), (&b"answer"[..], addr_b(53)));
    assert_eq!(
        sim.stack(A).recvfrom(a, &mut buf, false),
        Err(Errno::EAGAIN)
    );
    assert_eq!(
        (
            sim.stack(B).mib.udp.in_datagrams,
            sim.stack(B).mib.udp.out_datagrams
        ),
        (1, 1)
    );
}

#[test]
fn udp_to_a_closed_port_gets_port_unreachable_and_connected_socket_sees_econnrefused() {
    let mut sim = ideal();
    let now = sim.now();
    let a = sim.stack(A).socket(SockType::Datagram).unwrap();
    sim.stack(A).connect(now, a, addr_b(9999)).unwrap();
    sim.stack(A).send(now, a, b"hello?").unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.stack(B).mib.udp.no_ports, 1);
    assert_eq!(sim.stack(B).mib.icmp.out_dest_unreachs, 1);
    assert_eq!(sim.stack(A).mib.icmp.in_dest_unreachs, 1);
    let now = sim.now();
    assert!(sim
        .stack(A)
        .poll_events(a)
        .unwrap()
        .has(netd_core::PollEvents::ERR));
    assert_eq!(
        sim.stack(A).send(now, a, b"again"),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(sim.stack(A).send(now, a, b"again"), Ok(5), "reported once");
}

#[test]
fn large_udp_datagram_is_fragmented_and_reassembled() {
    let mut sim = ideal();
    let now = sim.now();
    let a = sim.stack(A).socket(SockType::Datagram).unwrap();
    let b = sim.stack(B).socket(SockType::Datagram).unwrap();
    sim.stack(B).bind(b, addr_b(7)).unwrap();
    let data = payload(8000, 4);
    sim.stack(A).sendto(now, a, &data, addr_b(7)).unwrap();
    sim.run_for(ms(5));
    // 8008 bytes of UDP in 1480-byte fragments: six of them.
    assert_eq!(sim.trace().len(), 6);
    for p in &sim.trace()[..5] {
        let (ip, body) = Ipv4Repr::parse(&p.packet).unwrap();
        assert!(ip.more_frags && !ip.dont_frag && body.len() == 1480);
    }
    let mut buf = vec![0u8; 10_000];
    let (n, _) = sim.stack(B).recvfrom(b, &mut buf, false).unwrap();
    assert!(n == data.len() && buf[..n] == data[..]);
    let ma = sim.stack(A).mib.ip.clone();
    let mb = sim.stack(B).mib.ip.clone();
    assert_eq!((ma.frag_oks, ma.frag_creates), (1, 6));
    assert_eq!((mb.reasm_reqds, mb.reasm_oks), (6, 1));
}

#[test]
fn incomplete_datagram_times_out_after_ipfrag_time() {
    let mut a = bare_stack(HOST_A);
    let mut b = bare_stack(HOST_B);
    let s = a.socket(SockType::Datagram).unwrap();
    let t = b.socket(SockType::Datagram).unwrap();
    b.bind(t, SocketAddrV4::new(HOST_B, 7)).unwrap();
    a.sendto(
        Instant::ZERO,
        s,
        &payload(4000, 5),
        SocketAddrV4::new(HOST_B, 7),
    )
    .unwrap();
    let frags = drain(&mut a);
    assert_eq!(frags.len(), 3);
    b.receive(Instant::ZERO, &frags[0]);
    b.receive(Instant::ZERO, &frags[2]);
    assert!(b.reassembly_mem() > 0);
    assert_eq!(b.next_deadline(), Some(Instant::from_secs(30)));
    b.poll(Instant::from_secs(29));
    assert_eq!(b.mib.ip.reasm_timeout, 0);
    b.poll(Instant::from_secs(30));
    assert_eq!((b.mib.ip.reasm_timeout, b.mib.ip.reasm_fails), (1, 1));
    assert_eq!(b.reassembly_mem(), 0);
    // The first fragment had arrived, so the sender hears "time exceeded in reassembly".
    let out = drain(&mut b);
    let (_, body) = Ipv4Repr::parse(&out[0]).unwrap();
    let msg = IcmpRepr::parse(body).unwrap();
    assert_eq!((msg.msg_type, msg.code), (icmp::TIME_EXCEEDED, 1));
    let mut buf = [0u8; 16];
    assert_eq!(b.recvfrom(t, &mut buf, false), Err(Errno::EAGAIN));
}

#[test]
fn reassembly_memory_is_bounded_by_ipfrag_high_thresh() {
    let mut b = bare_stack(HOST_B);
    b.sysctl
        .set("net.ipv4.ipfrag_high_thresh", "100000")
        .unwrap();
    let mut a = bare_stack(HOST_A);
    let s = a.socket(SockType::Datagram).unwrap();
    // A flood of first fragments that never complete.
    for _ in 0..500 {
        a.sendto(
            Instant::ZERO,
            s,
            &payload(3000, 6),
            SocketAddrV4::new(HOST_B, 7),
        )
        .unwrap();
        let frags = drain(&mut a);
        b.receive(Instant::ZERO, &frags[0]);
    }
    assert!(b.reassembly_mem() <= 100_000, "held {}", b.reassembly_mem());
    assert!(b.mib.ip.reasm_fails > 400);
}

#[test]
fn tcp_segments_carry_df_and_the_default_ttl() {
    let mut sim = ideal();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.ip_default_ttl", "33")
        .unwrap();
    connect(&mut sim, A, addr_b(80));
    sim.run_for(ms(1));
    let (ip, _) = Ipv4Repr::parse(&sim.trace()[0].packet).unwrap();
    assert!(ip.dont_frag);
    assert_eq!(ip.ttl, 33);
}

#[test]
fn malformed_packets_are_counted_under_linux_names_and_dropped() {
    let mut st = bare_stack(HOST_B);
    let now = Instant::ZERO;
    let good = echo_request(1, 1, b"payload!");
    // IP header checksum.
    let mut p = good.clone();
    p[8] ^= 0xff;
    st.receive(now, &p);
    assert_eq!((st.mib.ip.in_csum_errors, st.mib.ip.in_hdr_errors), (1, 1));
    // Version 5.
    let mut p = good.clone();
    p[0] = 0x55;
    st.receive(now, &p);
    assert_eq!(st.mib.ip.in_hdr_errors, 2);
    // Total length beyond the packet.
    st.receive(now, &good[..good.len() - 4]);
    assert_eq!(st.mib.ip.in_truncated_pkts, 1);
    // Not our address.
    st.receive(
        now,
        &ip_packet(
            HOST_A,
            std::net::Ipv4Addr::new(10, 9, 9, 9),
            PROTO_ICMP,
            &good[20..],
        ),
    );
    assert_eq!(st.mib.ip.in_addr_errors, 1);
    // ICMP checksum.
    let mut body = good[20..].to_vec();
    body[9] ^= 1;
    st.receive(now, &ip_packet(HOST_A, HOST_B, PROTO_ICMP, &body));
    assert_eq!((st.mib.icmp.in_csum_errors, st.mib.icmp.in_errors), (1, 1));
    // UDP checksum.
    let mut dgram = Vec::new();
    UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload: b"abc",
    }
    .emit(HOST_A, HOST_B, &mut dgram);
    dgram[8] ^= 1;
    st.receive(now, &ip_packet(HOST_A, HOST_B, PROTO_UDP, &dgram));
    assert_eq!((st.mib.udp.in_csum_errors, st.mib.udp.in_errors), (1, 1));
    // TCP checksum and a data offset past the end.
    let mut seg = vec![0u8; 20];
    seg[12] = 5 << 4;
    seg[13] = 0x02;
    st.receive(now, &ip_packet(HOST_A, HOST_B, PROTO_TCP, &seg));
    assert_eq!((st.mib.tcp.in_csum_errors, st.mib.tcp.in_errs), (1, 1));
    seg[12] = 15 << 4;
    st.receive(now, &ip_packet(HOST_A, HOST_B, PROTO_TCP, &seg));
    assert_eq!(st.mib.tcp.in_errs, 2);
    // Unknown protocol: counted and answered with protocol unreachable.
    st.receive(now, &ip_packet(HOST_A, HOST_B, 99, b"??"));
    assert_eq!(st.mib.ip.in_unknown_protos, 1);
    assert_eq!(drain(&mut st).len(), 1);
    assert_eq!(st.mib.ip.in_receives, 9);
}

/// A datagram from `src` to a port nobody has on HOST_B.
fn to_closed_port(src: std::net::Ipv4Addr) -> Vec<u8> {
    let mut dgram = Vec::new();
    UdpRepr {
        src_port: 40000,
        dst_port: 9,
        payload: b"knock",
    }
    .emit(src, HOST_B, &mut dgram);
    ip_packet(src, HOST_B, PROTO_UDP, &dgram)
}

/// Port unreachables sent, out of `n` datagrams from `src` 1 ms apart from `t`.
fn unreachables(st: &mut netd_core::Stack, src: std::net::Ipv4Addr, t: Instant, n: u64) -> usize {
    let mut sent = 0;
    for i in 0..n {
        st.receive(t + ms(i), &to_closed_port(src));
        sent += drain(st).len();
    }
    sent
}

#[test]
fn port_unreachables_to_one_destination_come_six_then_one_per_icmp_ratelimit() {
    let mut st = bare_stack(HOST_B);
    // A burst of six (XRLIM_BURST_FACTOR), then nothing within the second.
    assert_eq!(unreachables(&mut st, HOST_A, Instant::ZERO, 100), 6);
    assert_eq!(st.mib.udp.no_ports, 100);
    assert_eq!(st.mib.icmp.out_rate_limit_host, 94);
    assert_eq!(st.mib.icmp.out_dest_unreachs, 6);
    // One interval (1000 ms) later, one token more.
    let t = Instant::ZERO + ms(1100);
    assert_eq!(unreachables(&mut st, HOST_A, t, 10), 1);
    // icmp_ratelimit = 0 turns the per-destination limit off; it is never negative.
    assert!(st.sysctl.set("net.ipv4.icmp_ratelimit", "-1").is_err());
    st.sysctl.set("net.ipv4.icmp_ratelimit", "0").unwrap();
    let t = Instant::ZERO + ms(1200);
    assert_eq!(unreachables(&mut st, HOST_A, t, 20), 20);
}

#[test]
fn the_host_wide_icmp_budget_caps_errors_to_many_destinations() {
    let mut st = bare_stack(HOST_B);
    // One datagram from each of 80 sources within a millisecond: every
    // destination has tokens, the host has icmp_msgs_burst (50).
    let mut sent = 0;
    for i in 0..80u8 {
        st.receive(
            Instant::ZERO,
            &to_closed_port(std::net::Ipv4Addr::new(10, 1, 0, i)),
        );
        sent += drain(&mut st).len();
    }
    assert_eq!(sent, 50);
    assert_eq!(st.mib.icmp.out_rate_limit_global, 30);
    assert_eq!(st.mib.icmp.out_rate_limit_host, 0);
    // 100 ms at icmp_msgs_per_sec (1000) refill 100, capped at the burst.
    let t = Instant::ZERO + ms(100);
    let mut sent = 0;
    for i in 80..200u8 {
        st.receive(t, &to_closed_port(std::net::Ipv4Addr::new(10, 1, 0, i)));
        sent += drain(&mut st).len();
    }
    assert_eq!(sent, 50);
}

#[test]
fn echo_replies_are_not_rate_limited_by_default() {
    let mut st = bare_stack(HOST_B);
    let mut replies = 0;
    for i in 0..200 {
        st.receive(Instant::ZERO + ms(i), &echo_request(1, i as u16, b"x"));
        replies += drain(&mut st).len();
    }
    assert_eq!(replies, 200);
    // Put echo replies (type 0) in icmp_ratemask and they are limited too.
    st.sysctl.set("net.ipv4.icmp_ratemask", "6169").unwrap();
    let mut replies = 0;
    for i in 0..20 {
        st.receive(
            Instant::ZERO + ms(300 + i),
            &echo_request(1, i as u16, b"x"),
        );
        replies += drain(&mut st).len();
    }
    assert_eq!(replies, 6);
}
