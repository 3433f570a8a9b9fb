//! The socket calls' Linux semantics: bind rules, ephemeral ports, errno
//! sequences, options and readiness (socket-api.md).

mod common;
use common::*;
use netd_core::sim::{HOST_A, HOST_B};
use netd_core::socket::{SockOptName, SockOptValue};
use netd_core::tcp::State;
use netd_core::{Errno, PollEvents, Shutdown, SockOpt, SockType};
use std::net::{Ipv4Addr, SocketAddrV4};

#[test]
fn bind_conflicts_follow_linux_reuseaddr_rules() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(B);
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9000);
    let s1 = st.socket(SockType::Stream).unwrap();
    st.bind(s1, addr_b(9000)).unwrap();
    assert_eq!(
        st.bind(s1, addr_b(9001)),
        Err(Errno::EINVAL),
        "already bound"
    );
    let s2 = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.bind(s2, any),
        Err(Errno::EADDRINUSE),
        "0.0.0.0:P overlaps 10.0.0.2:P"
    );
    // SO_REUSEADDR on both sides allows it while the holder is not listening...
    st.setsockopt(now, s1, SockOpt::ReuseAddr(true)).unwrap();
    st.setsockopt(now, s2, SockOpt::ReuseAddr(true)).unwrap();
    assert_eq!(st.bind(s2, any), Ok(()));
    // ...but a listener blocks even with SO_REUSEADDR on both.
    let s3 = st.socket(SockType::Stream).unwrap();
    st.setsockopt(now, s3, SockOpt::ReuseAddr(true)).unwrap();
    st.listen(now, s1, 5).unwrap();
    assert_eq!(st.bind(s3, addr_b(9000)), Err(Errno::EADDRINUSE));
    let s4 = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.bind(s4, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80)),
        Err(Errno::EADDRNOTAVAIL)
    );
    // UDP and TCP ports are separate spaces.
    let u = st.socket(SockType::Datagram).unwrap();
    assert_eq!(st.bind(u, addr_b(9000)), Ok(()));
}

#[test]
fn closing_the_holder_frees_the_port() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(B);
    let s1 = st.socket(SockType::Stream).unwrap();
    st.bind(s1, addr_b(9000)).unwrap();
    st.close(now, s1).unwrap();
    let s2 = st.socket(SockType::Stream).unwrap();
    assert_eq!(st.bind(s2, addr_b(9000)), Ok(()));
    assert_eq!(
        st.bind(s1, addr_b(9002)),
        Err(Errno::EBADF),
        "a closed handle is EBADF"
    );
}

#[test]
fn server_time_wait_blocks_rebinding_without_reuseaddr() {
    let mut sim = ideal();
    let (c, l, srv) = establish(&mut sim);
    let now = sim.now();
    // The server closes first, so the TIME-WAIT is on its port.
    sim.stack(B).close(now, srv).unwrap();
    sim.stack(B).close(now, l).unwrap();
    sim.run_for(ms(10));
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(10));
    assert_eq!(sim.stack(B).timewait_count(), 1);
    let st = sim.stack(B);
    let s = st.socket(SockType::Stream).unwrap();
    st.setsockopt(now, s, SockOpt::ReuseAddr(true)).unwrap();
    assert_eq!(
        st.bind(s, addr_b(PORT)),
        Err(Errno::EADDRINUSE),
        "the old listener lacked SO_REUSEADDR"
    );
    sim.run_for(secs(61));
    let now = sim.now();
    let st = sim.stack(B);
    assert_eq!(st.bind(s, addr_b(PORT)), Ok(()));
    st.listen(now, s, 5).unwrap();
}

#[test]
fn connect_picks_ephemeral_ports_from_the_range_and_runs_out_with_eaddrnotavail() {
    let mut sim = ideal();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.ip_local_port_range", "40000 40001")
        .unwrap();
    let _l = listen(&mut sim, B, PORT, 16);
    let c1 = connect(&mut sim, A, addr_b(PORT));
    let c2 = connect(&mut sim, A, addr_b(PORT));
    let p1 = sim.stack(A).local_addr(c1).unwrap().port();
    let p2 = sim.stack(A).local_addr(c2).unwrap().port();
    assert_ne!(p1, p2);
    assert!([p1, p2].iter().all(|p| (40000..=40001).contains(p)));
    let now = sim.now();
    let c3 = sim.stack(A).socket(SockType::Stream).unwrap();
    assert_eq!(
        sim.stack(A).connect(now, c3, addr_b(PORT)),
        Err(Errno::EADDRNOTAVAIL)
    );
    // Another destination may reuse the same local ports.
    assert_eq!(
        sim.stack(A).connect(now, c3, addr_b(PORT + 1)),
        Err(Errno::EINPROGRESS)
    );
}

#[test]
fn connect_errno_sequence_einprogress_ealready_zero_eisconn() {
    let mut sim = ideal();
    let _l = listen(&mut sim, B, PORT, 16);
    let c = connect(&mut sim, A, addr_b(PORT));
    let now = sim.now();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::EALREADY)
    );
    sim.run_for(ms(5));
    let now = sim.now();
    assert_eq!(sim.stack(A).connect(now, c, addr_b(PORT)), Ok(()));
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT)),
        Err(Errno::EISCONN)
    );
    let l = _l;
    assert_eq!(
        sim.stack(B).connect(now, l, addr_a(1)),
        Err(Errno::EISCONN),
        "on a listener"
    );
}

#[test]
fn so_error_returns_and_clears_the_pending_error() {
    let mut sim = ideal();
    let c = connect(&mut sim, A, addr_b(9));
    sim.run_for(ms(5));
    let st = sim.stack(A);
    assert_eq!(
        st.getsockopt(c, SockOptName::Error),
        Ok(SockOptValue::Int(Errno::ECONNREFUSED.code()))
    );
    assert_eq!(
        st.getsockopt(c, SockOptName::Error),
        Ok(SockOptValue::Int(0))
    );
}

#[test]
fn never_connected_socket_send_is_epipe_and_recv_is_enotconn() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(A);
    let s = st.socket(SockType::Stream).unwrap();
    assert_eq!(st.send(now, s, b"x"), Err(Errno::EPIPE));
    let mut b = [0u8; 4];
    assert_eq!(st.recv(now, s, &mut b, false), Err(Errno::ENOTCONN));
    assert_eq!(st.peer_addr(s), Err(Errno::ENOTCONN));
    assert_eq!(
        st.local_addr(s),
        Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
    );
    assert_eq!(st.shutdown(now, s, Shutdown::Write), Err(Errno::ENOTCONN));
}

#[test]
fn readiness_follows_tcp_poll() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let fresh = sim.stack(A).socket(SockType::Stream).unwrap();
    assert_eq!(
        sim.stack(A).poll_events(fresh),
        Ok(PollEvents(PollEvents::OUT | PollEvents::HUP))
    );
    assert_eq!(sim.stack(B).poll_events(l), Ok(PollEvents(0)));
    let c = connect(&mut sim, A, addr_b(PORT));
    assert_eq!(sim.stack(A).poll_events(c), Ok(PollEvents(0)), "SYN-SENT");
    sim.run_for(ms(5));
    assert_eq!(
        sim.stack(B).poll_events(l),
        Ok(PollEvents(PollEvents::IN)),
        "a connection is queued"
    );
    let (srv, _) = sim.stack(B).accept(l).unwrap();
    assert_eq!(sim.stack(A).poll_events(c), Ok(PollEvents(PollEvents::OUT)));
    let now = sim.now();
    sim.stack(B).send(now, srv, b"hi").unwrap();
    sim.run_for(ms(5));
    assert_eq!(
        sim.stack(A).poll_events(c),
        Ok(PollEvents(PollEvents::IN | PollEvents::OUT))
    );
    let now = sim.now();
    sim.stack(B).shutdown(now, srv, Shutdown::Write).unwrap();
    sim.run_for(ms(5));
    let ev = PollEvents::IN | PollEvents::OUT | PollEvents::RDHUP;
    assert_eq!(
        sim.stack(A).poll_events(c),
        Ok(PollEvents(ev)),
        "peer sent FIN"
    );
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.stack(A).send(now, c, b"x").unwrap();
    sim.run_for(ms(5));
    let ev =
        PollEvents::IN | PollEvents::OUT | PollEvents::ERR | PollEvents::HUP | PollEvents::RDHUP;
    assert_eq!(
        sim.stack(A).poll_events(c),
        Ok(PollEvents(ev)),
        "RST received: {:?}",
        sim.flags()
    );
}

#[test]
fn so_linger_zero_closes_with_rst_and_no_time_wait() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A)
        .setsockopt(now, c, SockOpt::Linger(Some(0)))
        .unwrap();
    sim.clear_trace();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.flags(), ["RST|ACK"]);
    assert_eq!(sim.stack(A).timewait_count(), 0);
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_abort_on_data, 1);
    assert_eq!(recv_now(&mut sim, B, srv), Err(Errno::ECONNRESET));
}

#[test]
fn so_rcvbuf_and_so_sndbuf_store_twice_the_value_within_limits() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(A);
    let s = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::RcvBuf),
        Ok(SockOptValue::Int(131_072))
    );
    assert_eq!(
        st.getsockopt(s, SockOptName::SndBuf),
        Ok(SockOptValue::Int(16_384))
    );
    st.setsockopt(now, s, SockOpt::RcvBuf(65536)).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::RcvBuf),
        Ok(SockOptValue::Int(131_072))
    );
    st.setsockopt(now, s, SockOpt::RcvBuf(1)).unwrap();
    st.setsockopt(now, s, SockOpt::SndBuf(1)).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::RcvBuf),
        Ok(SockOptValue::Int(2304))
    );
    assert_eq!(
        st.getsockopt(s, SockOptName::SndBuf),
        Ok(SockOptValue::Int(4608))
    );
    st.setsockopt(now, s, SockOpt::RcvBuf(100_000_000)).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::RcvBuf),
        Ok(SockOptValue::Int(2 * 212_992))
    );
}

#[test]
fn socket_option_ranges_and_defaults() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(A);
    let s = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.setsockopt(now, s, SockOpt::MaxSeg(87)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        st.setsockopt(now, s, SockOpt::MaxSeg(32768)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        st.getsockopt(s, SockOptName::MaxSeg),
        Ok(SockOptValue::Int(536))
    );
    assert_eq!(
        st.setsockopt(now, s, SockOpt::SynCnt(0)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        st.setsockopt(now, s, SockOpt::UserTimeout(-1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        st.getsockopt(s, SockOptName::QuickAck),
        Ok(SockOptValue::Int(1))
    );
    assert_eq!(
        st.getsockopt(s, SockOptName::Linger),
        Ok(SockOptValue::Linger(0, 0))
    );
    assert_eq!(
        st.getsockopt(s, SockOptName::Type),
        Ok(SockOptValue::Int(1))
    );
    st.setsockopt(now, s, SockOpt::KeepAlive(true)).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::KeepAlive),
        Ok(SockOptValue::Int(1))
    );
}

#[test]
fn accepted_sockets_inherit_listener_options() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let now = sim.now();
    sim.stack(B)
        .setsockopt(now, l, SockOpt::NoDelay(true))
        .unwrap();
    sim.stack(B)
        .setsockopt(now, l, SockOpt::KeepAlive(true))
        .unwrap();
    connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let (srv, peer) = sim.stack(B).accept(l).unwrap();
    assert_eq!(*peer.ip(), HOST_A);
    assert_eq!(
        sim.stack(B).getsockopt(srv, SockOptName::NoDelay),
        Ok(SockOptValue::Int(1))
    );
    assert_eq!(
        sim.stack(B).getsockopt(srv, SockOptName::KeepAlive),
        Ok(SockOptValue::Int(1))
    );
    assert_eq!(
        sim.stack(B).getsockopt(srv, SockOptName::MaxSeg),
        Ok(SockOptValue::Int(1448))
    );
}

#[test]
fn msg_peek_leaves_the_data_queued() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).send(now, c, b"peekaboo").unwrap();
    sim.run_for(ms(5));
    let mut b = [0u8; 4];
    let now = sim.now();
    assert_eq!(sim.stack(B).recv(now, srv, &mut b, true), Ok(4));
    assert_eq!(sim.stack(B).recv(now, srv, &mut b, true), Ok(4));
    assert_eq!(&b, b"peek");
    let mut all = [0u8; 16];
    assert_eq!(sim.stack(B).recv(now, srv, &mut all, false), Ok(8));
}

#[test]
fn shutdown_of_a_listener_resets_the_queue_and_accept_says_einval() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let now = sim.now();
    sim.stack(B).shutdown(now, l, Shutdown::Read).unwrap();
    sim.run_for(ms(5));
    assert_eq!(sim.stack(B).accept(l), Err(Errno::EINVAL));
    assert_eq!(recv_now(&mut sim, A, c), Err(Errno::ECONNRESET));
}

#[test]
fn shut_rd_reads_eof_but_data_still_arrives() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(B).shutdown(now, srv, Shutdown::Read).unwrap();
    let mut b = [0u8; 8];
    assert_eq!(sim.stack(B).recv(now, srv, &mut b, false), Ok(0));
    sim.stack(A).send(now, c, b"late").unwrap();
    sim.run_for(ms(5));
    let now = sim.now();
    // Linux: SHUT_RD is not a filter; queued data is still delivered.
    assert_eq!(sim.stack(B).recv(now, srv, &mut b, false), Ok(4));
    assert_eq!(state(&sim, B, srv), State::Established);
}

#[test]
fn listen_backlog_is_clamped_by_somaxconn() {
    let mut sim = ideal();
    sim.stack(B).sysctl.set("net.core.somaxconn", "64").unwrap();
    let l = listen(&mut sim, B, PORT, 1000);
    assert_eq!(sim.stack(B).listen_queues(l), Some((0, 0, 64)));
    let l2 = listen(&mut sim, B, PORT + 1, -1);
    assert_eq!(
        sim.stack(B).listen_queues(l2),
        Some((0, 0, 64)),
        "negative means somaxconn"
    );
    let now = sim.now();
    sim.stack(B).listen(now, l2, 3).unwrap();
    assert_eq!(
        sim.stack(B).listen_queues(l2),
        Some((0, 0, 3)),
        "listen() again only changes the backlog"
    );
    let _ = HOST_B;
}

/// The daemon pumps each socket the stack touched once per round.
#[test]
fn wakeups_name_each_touched_socket_once() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let mut woken = Vec::new();
    sim.stack(B).take_wakeups(&mut woken);
    for _ in 0..3 {
        let now = sim.now();
        sim.stack(A).send(now, c, b"x").unwrap();
        sim.run_for(ms(1));
    }
    sim.stack(B).take_wakeups(&mut woken);
    assert_eq!(woken, [srv], "three segments, one wake-up");
    sim.stack(B).take_wakeups(&mut woken);
    assert!(woken.is_empty(), "taken once");
}

#[test]
fn bind_checks_the_address_before_whether_the_socket_is_bound() {
    let mut sim = ideal();
    let st = sim.stack(B);
    let s = st.socket(SockType::Stream).unwrap();
    st.bind(s, addr_b(9000)).unwrap();
    assert_eq!(
        st.bind(s, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 9001)),
        Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(st.bind(s, addr_b(9001)), Err(Errno::EINVAL));
}

#[test]
fn disconnect_resets_an_established_connection_and_the_socket_connects_again() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let port = sim.stack(A).local_addr(c).unwrap().port();
    let now = sim.now();
    // connect(AF_UNSPEC): an RST to the peer, ECONNRESET left for SO_ERROR.
    assert_eq!(sim.stack(A).disconnect(now, c), Ok(Some(Errno::ECONNRESET)));
    sim.run_for(ms(5));
    assert!(sim.flags().last().is_some_and(|f| f.starts_with("RST")));
    assert_eq!(recv_now(&mut sim, B, srv), Err(Errno::ECONNRESET));
    let st = sim.stack(A);
    assert_eq!(st.peer_addr(c), Err(Errno::ENOTCONN));
    // The port it took is given back, but getsockname() still shows it,
    // as Linux keeps inet_sport.
    assert_eq!(
        st.local_addr(c),
        Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
    );
    let _l = listen(&mut sim, B, PORT + 1, 16);
    let now = sim.now();
    assert_eq!(
        sim.stack(A).connect(now, c, addr_b(PORT + 1)),
        Err(Errno::EINPROGRESS)
    );
    sim.run_for(ms(5));
    assert_eq!(state(&sim, A, c), State::Established);
}

// Linux 6.18 (measured on 6.18.44, the kernel errno_diff compares with):
// a TCP socket that has held a connection never listens again. Kernels
// before it let a refused socket listen once connect() had reported the
// error; this is what `tests/c/errno_diff.c` cases 102 and 168 of seed 1 meet.

#[test]
fn listen_after_a_refused_connect_is_einval() {
    let mut sim = ideal();
    let c = connect(&mut sim, A, addr_b(9));
    sim.run_for(ms(5));
    let now = sim.now();
    let st = sim.stack(A);
    assert_eq!(st.connect(now, c, addr_b(9)), Err(Errno::ECONNREFUSED));
    assert_eq!(st.listen(now, c, 16), Err(Errno::EINVAL));
    // It is unconnected all the same: bind and a new attempt work.
    assert_eq!(st.bind(c, addr_a(9100)), Ok(()));
    assert_eq!(st.listen(now, c, 16), Err(Errno::EINVAL));
    assert_eq!(st.connect(now, c, addr_b(9)), Err(Errno::EINPROGRESS));
}

#[test]
fn listen_after_disconnecting_an_established_connection_is_einval() {
    let mut sim = ideal();
    let (c, _, _) = establish(&mut sim);
    let now = sim.now();
    let st = sim.stack(A);
    assert_eq!(st.disconnect(now, c), Ok(Some(Errno::ECONNRESET)));
    assert_eq!(st.listen(now, c, 16), Err(Errno::EINVAL));
}

#[test]
fn an_accepted_socket_never_listens_even_after_a_disconnect() {
    let mut sim = ideal();
    let (_, _, srv) = establish(&mut sim);
    let now = sim.now();
    let st = sim.stack(B);
    assert_eq!(st.disconnect(now, srv), Ok(Some(Errno::ECONNRESET)));
    assert_eq!(st.listen(now, srv, 16), Err(Errno::EINVAL));
}

#[test]
fn a_connect_that_sent_no_syn_leaves_a_socket_that_may_listen() {
    let mut sim = ideal();
    sim.stack(A)
        .sysctl
        .set("net.ipv4.ip_local_port_range", "40000 40000")
        .unwrap();
    let _l = listen(&mut sim, B, PORT, 16);
    let _c1 = connect(&mut sim, A, addr_b(PORT));
    let now = sim.now();
    let st = sim.stack(A);
    let c2 = st.socket(SockType::Stream).unwrap();
    assert_eq!(st.connect(now, c2, addr_b(PORT)), Err(Errno::EADDRNOTAVAIL));
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9200);
    st.bind(c2, any).unwrap();
    assert_eq!(st.listen(now, c2, 16), Ok(()));
}

#[test]
fn a_listener_shut_down_may_listen_again() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let _c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let now = sim.now();
    let st = sim.stack(B);
    st.shutdown(now, l, Shutdown::Read).unwrap();
    assert_eq!(st.accept(l), Err(Errno::EINVAL));
    assert_eq!(st.listen(now, l, 16), Ok(()));
}

#[test]
fn connect_after_the_attempts_error_was_read_is_econnaborted_once() {
    let mut sim = ideal();
    let c = connect(&mut sim, A, addr_b(9));
    sim.run_for(ms(5));
    let now = sim.now();
    let st = sim.stack(A);
    assert_eq!(
        st.getsockopt(c, SockOptName::Error),
        Ok(SockOptValue::Int(Errno::ECONNREFUSED.code()))
    );
    assert_eq!(st.connect(now, c, addr_b(9)), Err(Errno::ECONNABORTED));
    // Disconnected by that call: the next one starts a new attempt.
    assert_eq!(st.connect(now, c, addr_b(9)), Err(Errno::EINPROGRESS));
}

#[test]
fn disconnect_stops_a_listener_and_gives_back_a_port_bind_did_not_name() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(B);
    let l = st.socket(SockType::Stream).unwrap();
    st.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    let port = st.local_addr(l).unwrap().port();
    st.listen(now, l, 16).unwrap();
    assert_eq!(st.disconnect(now, l), Ok(None));
    assert_eq!(st.accept(l), Err(Errno::EINVAL));
    // bind(port 0) takes no SOCK_BINDPORT_LOCK: another socket may have the port.
    let other = st.socket(SockType::Stream).unwrap();
    assert_eq!(st.bind(other, addr_b(port)), Ok(()));
}

#[test]
fn shut_wr_on_a_listener_leaves_it_listening() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 16);
    let now = sim.now();
    sim.stack(B).shutdown(now, l, Shutdown::Write).unwrap();
    let _c = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    assert!(sim.stack(B).accept(l).is_ok());
}

#[test]
fn udp_disconnect_forgets_the_peer_and_an_autobound_port() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(A);
    let u = st.socket(SockType::Datagram).unwrap();
    st.connect(now, u, addr_b(7)).unwrap();
    assert_ne!(st.local_addr(u).unwrap().port(), 0);
    assert_eq!(st.disconnect(now, u), Ok(None));
    assert_eq!(st.peer_addr(u), Err(Errno::ENOTCONN));
    assert_eq!(
        st.local_addr(u),
        Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
    );
    // A port bind() named stays.
    st.bind(u, addr_a(9100)).unwrap();
    st.connect(now, u, addr_b(7)).unwrap();
    st.disconnect(now, u).unwrap();
    assert_eq!(st.local_addr(u).unwrap().port(), 9100);
}

#[test]
fn tcp_maxseg_from_the_syn_until_the_peers_mss_is_the_clamp_less_timestamps() {
    let mut sim = ideal();
    let now = sim.now();
    let st = sim.stack(A);
    let s = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::MaxSeg),
        Ok(SockOptValue::Int(536))
    );
    st.setsockopt(now, s, SockOpt::MaxSeg(1000)).unwrap();
    assert_eq!(
        st.getsockopt(s, SockOptName::MaxSeg),
        Ok(SockOptValue::Int(1000))
    );
    let _ = st.connect(now, s, addr_b(9));
    sim.run_for(ms(5));
    let now = sim.now();
    let st = sim.stack(A);
    // Refused: Linux's mss_cache stays min(MTU - 40, 1000) - 12.
    assert_eq!(
        st.getsockopt(s, SockOptName::MaxSeg),
        Ok(SockOptValue::Int(988))
    );
    assert_eq!(st.connect(now, s, addr_b(9)), Err(Errno::ECONNREFUSED));
    assert_eq!(
        st.getsockopt(s, SockOptName::MaxSeg),
        Ok(SockOptValue::Int(988))
    );
}

#[test]
fn udp_buffers_start_from_net_core_defaults() {
    let mut sim = ideal();
    let st = sim.stack(A);
    let u = st.socket(SockType::Datagram).unwrap();
    assert_eq!(
        st.getsockopt(u, SockOptName::RcvBuf),
        Ok(SockOptValue::Int(212_992))
    );
    assert_eq!(
        st.getsockopt(u, SockOptName::SndBuf),
        Ok(SockOptValue::Int(212_992))
    );
    let t = st.socket(SockType::Stream).unwrap();
    assert_eq!(
        st.getsockopt(t, SockOptName::RcvBuf),
        Ok(SockOptValue::Int(131_072))
    );
}
