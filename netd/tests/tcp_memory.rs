//! Memory a connection holds: buffers come back when it goes quiet.

mod common;
use common::*;

#[test]
fn an_idle_connection_gives_its_buffers_back() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let data = payload(300_000, 5);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &data, secs(10)), data);
    let now = sim.now();
    // Still busy a moment ago: nothing is taken away.
    assert_eq!(sim.stack(A).reclaim_idle_buffers(now, secs(1)), 0);
    assert!(sim.stack(A).tcb(c).unwrap().send_buf.capacity() > 0);
    assert!(sim.stack(B).tcb(srv).unwrap().recv_buf.capacity() > 0);
    sim.run_for(secs(2));
    let now = sim.now();
    assert!(sim.stack(A).reclaim_idle_buffers(now, secs(1)) > 0);
    assert!(sim.stack(B).reclaim_idle_buffers(now, secs(1)) > 0);
    assert_eq!(sim.stack(A).tcb(c).unwrap().send_buf.capacity(), 0);
    assert_eq!(sim.stack(B).tcb(srv).unwrap().recv_buf.capacity(), 0);
    // And the connection goes on as before.
    let more = payload(100_000, 6);
    assert_eq!(transfer(&mut sim, (A, c), (B, srv), &more, secs(10)), more);
}

#[test]
fn unread_data_is_never_reclaimed() {
    let mut sim = ideal();
    let (c, _, srv) = establish(&mut sim);
    let now = sim.now();
    sim.stack(A).send(now, c, &payload(5000, 7)).unwrap();
    sim.run_for(secs(3));
    let now = sim.now();
    sim.stack(B).reclaim_idle_buffers(now, secs(1));
    let mut buf = vec![0u8; 8000];
    assert_eq!(sim.stack(B).recv(now, srv, &mut buf, false), Ok(5000));
    assert_eq!(&buf[..5000], &payload(5000, 7)[..]);
}
