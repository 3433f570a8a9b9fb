//! Counts the stack keeps as it goes, rather than by walking every socket
//! (so an idle socket costs nothing): each must agree with a walk of the
//! tables, here the rows `ss` lists, whatever happened.

mod common;
use common::*;
use netd_core::sim::Sim;
use netd_core::tcp::State;

/// Tcp CurrEstab by walking: the ESTAB and CLOSE-WAIT rows.
fn walked(sim: &mut Sim, host: usize) -> usize {
    let now = sim.now();
    sim.stack(host)
        .sockets_info(now)
        .iter()
        .filter(|r| r.proto == "tcp" && (r.state == 1 || r.state == 8))
        .count()
}

fn agree(sim: &mut Sim, want: [usize; 2], when: &str) {
    for (host, n) in [(A, want[0]), (B, want[1])] {
        let kept = sim.stack(host).curr_estab();
        assert_eq!(
            kept,
            walked(sim, host),
            "host {host} {when}: kept vs walked"
        );
        assert_eq!(kept, n, "host {host} {when}");
    }
}

#[test]
fn curr_estab_agrees_with_the_socket_table_through_every_transition() {
    let mut sim = ideal();
    agree(&mut sim, [0, 0], "before anything");
    let (c, l, srv) = establish(&mut sim);
    agree(&mut sim, [1, 1], "established");

    // A child still in the accept queue counts, as in Linux.
    let c2 = connect(&mut sim, A, addr_b(PORT));
    sim.run_for(ms(50));
    agree(&mut sim, [2, 2], "a second connection, not accepted");

    // Half-closed: CLOSE-WAIT counts, FIN-WAIT-2 does not.
    let now = sim.now();
    sim.stack(A).close(now, c).unwrap();
    sim.run_for(ms(50));
    assert_eq!(state(&sim, B, srv), State::CloseWait);
    agree(&mut sim, [1, 2], "one side closed");
    let now = sim.now();
    sim.stack(B).close(now, srv).unwrap();
    sim.run_for(ms(50));
    agree(&mut sim, [1, 1], "both closed (TIME-WAIT)");

    // A reset.
    let now = sim.now();
    sim.stack(A).abort(now, c2).unwrap();
    sim.run_for(ms(50));
    agree(&mut sim, [0, 0], "reset");

    // A refused connect and a closed listener.
    let r = connect(&mut sim, A, addr_b(PORT + 1));
    sim.run_for(ms(50));
    assert_eq!(sim.tcp_state(A, r), Some(State::Closed));
    let now = sim.now();
    sim.stack(B).close(now, l).unwrap();
    sim.run_for(secs(70));
    agree(&mut sim, [0, 0], "after TIME-WAIT and the listener's close");
}

/// Connections whose buffers were given back leave the set the reclaim
/// looks at, and come back to it when they hold data again.
#[test]
fn only_connections_holding_buffers_are_looked_at_for_reclaim() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let data = payload(100_000, 3);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &data, secs(10)), data);
    sim.run_for(secs(2));
    let now = sim.now();
    assert!(sim.stack(A).buffered_connections() >= 1);
    assert!(sim.stack(A).reclaim_idle_buffers(now, secs(1)) > 0);
    assert_eq!(sim.stack(A).buffered_connections(), 0);
    assert_eq!(sim.stack(A).reclaim_idle_buffers(now, secs(1)), 0);
    let more = payload(10_000, 4);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &more, secs(10)), more);
    assert!(sim.stack(A).buffered_connections() >= 1);
}
