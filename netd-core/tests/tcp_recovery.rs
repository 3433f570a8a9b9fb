//! Loss recovery as Linux runs it, on the wire in virtual time: SACK-based
//! recovery with RACK loss detection, PRR, tail loss probes, D-SACK in both
//! directions and undo. A sends, B receives, over a 20 ms round trip.

mod common;
use common::*;
use netd_core::sim::{Link, Seg, Sim};
use netd_core::tcp::recovery::CaState;
use netd_core::SocketHandle;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

const MSS: usize = 1448;

fn pair() -> (Sim, SocketHandle, SocketHandle) {
    let mut sim = Sim::pair(Link::ideal().latency(ms(10)));
    let (c, _, srv) = establish(&mut sim);
    assert!(sim.stack(A).tcb(c).unwrap().neg.sack_ok);
    (sim, c, srv)
}

/// Drop the first transmission of A's data segments whose 1-based ordinal
/// (by sequence, from the first data byte) is in `lost`; retransmissions pass.
fn lose_originals(sim: &mut Sim, lost: &'static [u32]) {
    let first: Rc<RefCell<Option<u32>>> = Rc::default();
    let seen: Rc<RefCell<HashSet<u32>>> = Rc::default();
    sim.drop_if(move |s: &Seg| {
        if s.from != A || s.len == 0 {
            return false;
        }
        let base = *first.borrow_mut().get_or_insert(s.seq.0);
        let ordinal = s.seq.0.wrapping_sub(base) / MSS as u32 + 1;
        seen.borrow_mut().insert(s.seq.0) && lost.contains(&ordinal)
    });
}

fn send_all(sim: &mut Sim, c: SocketHandle, data: &[u8]) {
    let now = sim.now();
    assert_eq!(sim.stack(A).send(now, c, data), Ok(data.len()));
}

/// All of `data` from A to B within `limit`, checked byte for byte.
fn push_through(
    sim: &mut Sim,
    c: SocketHandle,
    srv: SocketHandle,
    data: &[u8],
    limit: std::time::Duration,
) {
    let got = transfer(sim, (A, c), (B, srv), data, limit);
    assert!(
        got == data,
        "{} of {} bytes arrived intact",
        got.len(),
        data.len()
    );
}

fn read_all(sim: &mut Sim, srv: SocketHandle, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len + 1];
    let now = sim.now();
    let n = sim.stack(B).recv(now, srv, &mut buf, false).unwrap();
    buf.truncate(n);
    buf
}

/// Retransmissions of data by A, in order.
fn retransmissions(sim: &Sim) -> Vec<Seg> {
    let mut seen = HashSet::new();
    sim.segments()
        .into_iter()
        .filter(|s| s.from == A && s.len > 0 && !seen.insert(s.seq.0))
        .collect()
}

#[test]
fn one_loss_in_a_window_is_repaired_by_sack_within_one_round_trip() {
    let (mut sim, c, srv) = pair();
    lose_originals(&mut sim, &[3]);
    let data = payload(10 * MSS, 1);
    let t0 = sim.now();
    send_all(&mut sim, c, &data);
    sim.run_for(secs(1));
    assert_eq!(read_all(&mut sim, srv, data.len()), data);
    let rtx = retransmissions(&sim);
    assert_eq!(rtx.len(), 1, "only the lost segment: {rtx:?}");
    // The SACKs for segments 4..10 reach A one round trip after the send;
    // the third marks the hole lost (RACK's reordering window is zero once
    // three packets are SACKed) and PRR lets the retransmission out at once.
    assert_eq!(rtx[0].at - t0, ms(20));
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!(
        (m.tcp_sack_recovery, m.tcp_timeouts, m.tcp_fast_retrans),
        (1, 0, 1)
    );
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(t.rec.ca_state, CaState::Open);
    // CUBIC's reduction (the default): 717/1024 of the window.
    assert_eq!(t.cc.ssthresh, (t.rec.prior_cwnd * 717 / 1024).max(2));
    assert_eq!(t.cc.cwnd, t.cc.ssthresh, "PRR ends at ssthresh");
    assert!(t.rtx.is_empty() && t.rtx.consistent());
}

#[test]
fn several_losses_in_one_window_are_all_repaired_in_the_same_round_trip() {
    let (mut sim, c, srv) = pair();
    // Open the window first (slow start to ~60 packets), then lose three
    // segments of one flight.
    lose_originals(&mut sim, &[130, 134, 138]);
    push_through(&mut sim, c, srv, &payload(120 * MSS, 1), secs(2));
    assert!(sim.stack(A).tcb(c).unwrap().cc.cwnd >= 40);
    sim.clear_trace();
    let data = payload(120 * MSS, 2);
    push_through(&mut sim, c, srv, &data, secs(2));
    let rtx = retransmissions(&sim);
    assert_eq!(rtx.len(), 3, "each hole once: {rtx:?}");
    // Not NewReno's one hole per round trip: all three leave before the
    // first retransmission could be acknowledged.
    assert!(rtx[2].at - rtx[0].at < ms(20), "{rtx:?}");
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!((m.tcp_sack_recovery, m.tcp_timeouts), (1, 0));
}

#[test]
fn a_tail_loss_is_repaired_by_a_probe_instead_of_a_timeout() {
    let (mut sim, c, srv) = pair();
    lose_originals(&mut sim, &[9, 10]);
    let data = payload(10 * MSS, 3);
    send_all(&mut sim, c, &data);
    sim.run_for(secs(2));
    assert_eq!(read_all(&mut sim, srv, data.len()), data);
    let rtx = retransmissions(&sim);
    assert_eq!(rtx.len(), 2, "{rtx:?}");
    let last_ack = sim
        .segments()
        .into_iter()
        .rfind(|s| s.from == B && s.at < rtx[0].at)
        .unwrap();
    // The probe is the last segment, one PTO (2·SRTT + 2 ms, rounded up
    // to a 4 ms jiffy) after the ACK that re-armed the timer arrived at A.
    let srtt = ms(20);
    let pto = srtt * 2 + ms(2);
    let arrived = last_ack.at + ms(10);
    assert!(
        rtx[0].at >= arrived + pto && rtx[0].at <= arrived + pto + ms(4),
        "{rtx:?}"
    );
    assert_eq!(rtx[0].seq.0 + MSS as u32, rtx[1].seq.0 + 2 * MSS as u32);
    // Its SACK shows segment 9 missing; RACK sends it at once.
    assert_eq!(rtx[1].at - rtx[0].at, ms(20));
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!((m.tcp_loss_probes, m.tcp_timeouts), (1, 0));
}

#[test]
fn a_lost_retransmission_is_detected_by_rack_without_a_timeout() {
    let (mut sim, c, srv) = pair();
    // Segment 3 and its first retransmission are both lost.
    let sent3: Rc<RefCell<u32>> = Rc::default();
    let first: Rc<RefCell<Option<u32>>> = Rc::default();
    sim.drop_if(move |s: &Seg| {
        if s.from != A || s.len == 0 {
            return false;
        }
        let base = *first.borrow_mut().get_or_insert(s.seq.0);
        if s.seq.0.wrapping_sub(base) / MSS as u32 + 1 == 3 {
            *sent3.borrow_mut() += 1;
            return *sent3.borrow() <= 2;
        }
        false
    });
    let data = payload(60 * MSS, 4);
    push_through(&mut sim, c, srv, &data, secs(3));
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!(m.tcp_timeouts, 0, "no RTO");
    assert_eq!(m.tcp_lost_retransmit, 1);
    assert_eq!(retransmissions(&sim).len(), 2);
}

#[test]
fn two_sacks_leave_the_hole_to_racks_reordering_timer() {
    let (mut sim, c, srv) = pair();
    // Four segments, the second lost: two SACKs, fewer than tcp_reordering.
    lose_originals(&mut sim, &[2]);
    let data = payload(4 * MSS, 5);
    let t0 = sim.now();
    send_all(&mut sim, c, &data);
    sim.run_for(secs(1));
    assert_eq!(read_all(&mut sim, srv, data.len()), data);
    let rtx = retransmissions(&sim);
    assert_eq!(rtx.len(), 1);
    // The SACKs arrive at 20 ms; what is left of RACK's RTT plus the
    // reordering window (min_rtt / 4 = 5 ms) is rounded up to a jiffy
    // (4 ms at HZ 250) and TCP_TIMEOUT_MIN (2 jiffies) is added: 20 + 8 + 8.
    let at = rtx[0].at - t0;
    assert_eq!(at, ms(36), "retransmitted at {at:?}");
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_timeouts, 0);
}

#[test]
fn without_rack_two_sacks_wait_for_the_timeout_which_resends_only_the_hole() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(10)));
    sim.stack(A).sysctl.tcp_recovery = 0;
    sim.stack(A).sysctl.tcp_early_retrans = 0;
    let (c, _, srv) = establish(&mut sim);
    lose_originals(&mut sim, &[2]);
    let data = payload(4 * MSS, 6);
    send_all(&mut sim, c, &data);
    sim.run_for(secs(2));
    assert_eq!(read_all(&mut sim, srv, data.len()), data);
    let rtx = retransmissions(&sim);
    // The RTO marks the unSACKed head lost; segments 3 and 4 were SACKed
    // and are not sent again (tcp_timeout_mark_lost()).
    assert_eq!(rtx.len(), 1, "{rtx:?}");
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!((m.tcp_timeouts, m.tcp_loss_probes), (1, 0));
}

#[test]
fn a_late_original_undoes_the_reduction_and_its_retransmission_is_dsacked() {
    let (mut sim, c, srv) = pair();
    // Segment 3's original is held back 2 ms past the others' arrival
    // (reordering): dropped on the link, then injected into B by hand.
    lose_originals(&mut sim, &[3]);
    let data = payload(10 * MSS, 7);
    send_all(&mut sim, c, &data);
    sim.run_for(ms(1));
    let segs = sim.segments();
    let original = sim
        .trace()
        .iter()
        .zip(segs.iter())
        .filter(|(_, s)| s.from == A && s.len > 0)
        .nth(2)
        .map(|(p, _)| p.packet.clone())
        .unwrap();
    sim.run_for(ms(11));
    sim.inject(B, original);
    sim.run_for(secs(1));
    assert_eq!(read_all(&mut sim, srv, data.len()), data);
    assert_eq!(
        retransmissions(&sim).len(),
        1,
        "RACK retransmitted it at 20 ms"
    );
    // B had the segment when the retransmission came: it says so with a
    // D-SACK block below its cumulative ACK (RFC 2883 §4.1.1).
    assert_eq!(sim.stack(B).mib.tcp_ext.tcp_dsack_old_sent, 1);
    let dsack = sim
        .segments()
        .into_iter()
        .find(|s| s.from == B && s.options.sack().first().is_some_and(|b| b.0.before(s.ack)))
        .expect("a D-SACK");
    assert_eq!(
        dsack.options.sack()[0].1 - dsack.options.sack()[0].0,
        MSS as u32
    );
    // The ACK of the late original echoes a timestamp older than the
    // retransmission (Eifel, RFC 3522): the reduction is undone in full.
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!(
        (m.tcp_sack_recovery, m.tcp_full_undo, m.tcp_dsack_recv),
        (1, 1, 1)
    );
    let t = sim.stack(A).tcb(c).unwrap();
    assert!(
        t.cc.cwnd >= t.rec.prior_cwnd,
        "cwnd {} prior {}",
        t.cc.cwnd,
        t.rec.prior_cwnd
    );
    // The D-SACK widens RACK's reordering window for later losses, once the
    // next delivery shows a round trip has passed (tcp_rack_update_reo_wnd()).
    assert_eq!(t.rack.reo_wnd_steps, 1);
    push_through(&mut sim, c, srv, &payload(2 * MSS, 8), secs(1));
    sim.run_for(ms(50));
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(t.rack.reo_wnd_steps, 2);
}

#[test]
fn prr_sends_in_proportion_to_what_is_delivered() {
    let (mut sim, c, srv) = pair();
    // Grow the window first, then lose one segment of a large flight.
    let warm = payload(200 * MSS, 8);
    push_through(&mut sim, c, srv, &warm, secs(2));
    let cwnd = sim.stack(A).tcb(c).unwrap().cc.cwnd;
    assert!(cwnd >= 40, "cwnd {cwnd}");
    let base = sim.stack(A).tcb(c).unwrap().snd_nxt;
    let seen: Rc<RefCell<bool>> = Rc::default();
    sim.drop_if(move |s: &Seg| {
        let hit = s.from == A && s.len > 0 && s.seq == base && !*seen.borrow();
        if hit {
            *seen.borrow_mut() = true;
        }
        hit
    });
    let data = payload(cwnd as usize * MSS * 3, 9);
    let mut sent = 0;
    let mut samples = Vec::new();
    let end = sim.now() + secs(3);
    while sim.now() < end {
        send_available(&mut sim, A, c, &data, &mut sent);
        let t = sim.stack(A).tcb(c).unwrap();
        if t.rec.ca_state == CaState::Recovery {
            samples.push((
                t.rec.prr_delivered,
                t.rec.prr_out,
                t.cc.ssthresh,
                t.rec.prior_cwnd,
            ));
        }
        let mut buf = vec![0u8; 65536];
        let now = sim.now();
        while let Ok(n) = sim.stack(B).recv(now, srv, &mut buf, false) {
            if n == 0 {
                break;
            }
        }
        if !sim.step(end) {
            break;
        }
    }
    assert!(!samples.is_empty(), "a recovery happened");
    for &(delivered, out, ssthresh, prior) in &samples {
        // RFC 6937: prr_out <= ceil(prr_delivered * ssthresh / prior_cwnd),
        // with one more for the fast retransmission itself.
        let allowed = (u64::from(delivered) * u64::from(ssthresh)).div_ceil(u64::from(prior)) + 1;
        assert!(
            u64::from(out) <= allowed,
            "out {out} delivered {delivered}: {samples:?}"
        );
    }
    let last = samples[samples.len() - 1];
    assert!(last.1 > 1, "sent during recovery: {samples:?}");
    assert_eq!(sim.stack(A).mib.tcp_ext.tcp_timeouts, 0);
}

/// getsockopt(TCP_INFO) in Linux 6.18's layout shows the recovery as
/// `tcp_get_info()` does: the CA state, the scoreboard counts in packets,
/// cwnd and ssthresh.
#[test]
fn tcp_info_reports_the_scoreboard_at_linux_offsets() {
    let (mut sim, c, _srv) = pair();
    lose_originals(&mut sim, &[3]);
    send_all(&mut sim, c, &payload(10 * MSS, 9));
    assert!(sim.run_until(secs(1), |s| s.stack(A).mib.tcp_ext.tcp_fast_retrans > 0));
    let now = sim.now();
    let info = match sim
        .stack(A)
        .getsockopt_at(now, c, netd_core::sock::SockOptName::TcpInfo)
    {
        Ok(netd_core::sock::SockOptValue::Bytes(b)) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!(info.len(), 280);
    let u32_at = |off: usize| u32::from_ne_bytes(info[off..off + 4].try_into().unwrap());
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(
        (info[0], info[1]),
        (1, CaState::Recovery as u8),
        "ESTABLISHED, Recovery"
    );
    assert_eq!(info[5] & 7, 7, "timestamps, SACK, window scaling");
    assert_eq!(u32_at(24), t.rtx.packets_out);
    assert_eq!(u32_at(28), t.rtx.sacked_out);
    assert_eq!(u32_at(32), 1, "one packet lost");
    assert_eq!(u32_at(36), 1, "its retransmission in flight");
    assert_eq!((u32_at(76), u32_at(80)), (t.cc.ssthresh, t.cc.cwnd));
    assert_eq!(u32_at(88), 3, "tcp_reordering");
    assert_eq!(u32_at(100), 1, "total_retrans");
}

/// F-RTO (RFC 5682, `tcp_frto` = 2): ACKs held up past the RTO, then
/// delivered, acknowledge data that was never retransmitted; the timeout
/// was spurious and the window comes back (TCPSpuriousRTOs, TCPLossUndo).
/// Timestamps are off so Eifel cannot decide first; TLP is off so the RTO
/// is what fires.
#[test]
fn a_spurious_rto_is_undone_by_frto() {
    let mut sim = Sim::pair(Link::ideal().latency(ms(10)));
    sim.stack(A).sysctl.tcp_timestamps = 0;
    sim.stack(A).sysctl.tcp_early_retrans = 0;
    let (c, _, srv) = establish(&mut sim);
    push_through(&mut sim, c, srv, &payload(40 * MSS, 1), secs(1));
    sim.run_for(ms(50));
    let cwnd_before = sim.stack(A).tcb(c).unwrap().cc.cwnd;
    // Hold back every ACK B sends for the next 400 ms (dropped on the
    // link, kept in the trace), past A's RTO.
    let start = sim.now();
    let until = start + ms(400);
    sim.drop_if(move |s: &Seg| s.from == B && s.at < until);
    sim.clear_trace();
    send_all(&mut sim, c, &payload(10 * MSS, 2));
    assert!(sim.run_until(secs(1), |s| s.stack(A).mib.tcp_ext.tcp_timeouts > 0));
    let held: Vec<Vec<u8>> = sim
        .trace()
        .iter()
        .zip(sim.segments())
        .filter(|(_, s)| s.from == B)
        .map(|(p, _)| p.packet.clone())
        .collect();
    assert!(!held.is_empty());
    for p in held {
        sim.inject(A, p);
    }
    sim.run_for(ms(200));
    let m = &sim.stack(A).mib.tcp_ext;
    assert_eq!(
        (m.tcp_timeouts, m.tcp_spurious_rtos, m.tcp_loss_undo),
        (1, 1, 1)
    );
    let t = sim.stack(A).tcb(c).unwrap();
    assert_eq!(t.rec.ca_state, CaState::Open);
    assert!(
        t.cc.cwnd >= cwnd_before,
        "cwnd {} before {}",
        t.cc.cwnd,
        cwnd_before
    );
    assert_eq!(read_all(&mut sim, srv, 10 * MSS).len(), 10 * MSS);
}
