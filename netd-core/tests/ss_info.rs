//! The socket listing behind `ss`: states and the Linux meaning of Recv-Q/Send-Q.

mod common;
use common::*;
use netd_core::tcp::State;
use netd_proto::SockInfo;

fn row(rows: &[SockInfo], state: State, local_port: u16) -> &SockInfo {
    rows.iter()
        .find(|r| r.state == state as u8 && r.local.port == local_port)
        .unwrap_or_else(|| panic!("no {state:?} row on port {local_port}: {rows:?}"))
}

#[test]
fn listen_queues_and_connection_queues_read_as_in_ss() {
    let mut sim = ideal();
    let l = listen(&mut sim, B, PORT, 1);
    let c1 = connect(&mut sim, A, addr_b(PORT));
    let c2 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(5));
    let now = sim.now();
    sim.stack(A).send(now, c1, &[7u8; 1000]).unwrap();
    sim.run_for(ms(5));
    let now = sim.now();
    let rows = sim.stack(B).sockets_info(now);
    // LISTEN: accept-queue length over the backlog ("LISTEN 2 1" for listen(fd, 1)).
    let lrow = row(&rows, State::Listen, PORT);
    assert_eq!((lrow.recv_q, lrow.send_q), (2, 1));
    // An unaccepted connection holding 1000 unread bytes.
    let unread: Vec<_> = rows
        .iter()
        .filter(|r| r.state == State::Established as u8 && r.recv_q == 1000)
        .collect();
    assert_eq!(unread.len(), 1);
    // The client's side: a SYN-SENT shows Send-Q 1 (the SYN).
    let c3 = connect(&mut sim, A, addr_b(9));
    let now = sim.now();
    let rows = sim.stack(A).sockets_info(now);
    let port3 = sim.stack(A).local_addr(c3).unwrap().port();
    let s = row(&rows, State::SynSent, port3);
    assert_eq!((s.recv_q, s.send_q), (0, 1));
    assert_eq!(s.timer.as_ref().map(|t| t.0.as_str()), Some("on"));
    // Close one side: FIN-WAIT and CLOSE-WAIT with their one-byte FINs.
    sim.run_for(ms(5));
    let now = sim.now();
    sim.stack(A)
        .shutdown(now, c2, netd_core::Shutdown::Write)
        .unwrap();
    sim.run_for(ms(5));
    let (srv, _) = sim.stack(B).accept(l).unwrap();
    let _ = srv;
    let now = sim.now();
    let rows_b = sim.stack(B).sockets_info(now);
    let port2 = sim.stack(A).local_addr(c2).unwrap().port();
    let cw = rows_b
        .iter()
        .find(|r| r.state == State::CloseWait as u8 && r.peer.port == port2)
        .expect("CLOSE-WAIT");
    assert_eq!((cw.recv_q, cw.send_q), (1, 0), "the unread FIN counts one");
    let _ = l;
}

#[test]
fn time_wait_rows_carry_the_timewait_timer() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let port = sim.stack(A).local_addr(c).unwrap().port();
    close_in_turn(&mut sim, (A, c), (B, srv), ms(5));
    let now = sim.now();
    let rows = sim.stack(A).sockets_info(now);
    let tw = row(&rows, State::TimeWait, port);
    let (name, left, _) = tw.timer.clone().unwrap();
    assert_eq!(name, "timewait");
    assert!((59_000..=60_000).contains(&left), "{left}");
}
