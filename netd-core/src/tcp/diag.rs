//! What `ss` lists for TCP (Linux `tcp_diag.c`, `inet_diag.c`): a row per
//! socket, per request sock and per TIME-WAIT bucket, with the queue
//! columns of `tcp_diag_get_info()` and TCP_INFO.

use super::sock::{Role, TcpSock};
use super::table::TcpTables;
use super::timewait::TimeWaitSock;
use super::{ConnState, FourTuple, State};
use crate::sock::SocketHandle;
use crate::time::Instant;
use netd_proto::{SockInfo, WireAddr};

impl TcpTables {
    /// Every TCP row; a socket's first row carries its handle in `sk`.
    pub fn diag_rows(&self, now: Instant, mtu: usize, out: &mut Vec<SockInfo>) {
        for h in self.socks.keys() {
            self.diag_sock_rows(*h, now, mtu, out);
        }
        for tw in self.timewait().iter() {
            out.push(tw_row(tw, now));
        }
    }

    /// What a dump walks: every socket's handle, every TIME-WAIT bucket's
    /// 4-tuple (`inet_diag_dump_icsk()`'s two passes).
    pub fn diag_keys(&self) -> (Vec<SocketHandle>, Vec<FourTuple>) {
        let tw = self.timewait().iter().map(|tw| tw.tuple).collect();
        (self.socks.keys().copied().collect(), tw)
    }

    /// The rows of socket `h` (a listener's request socks follow it); none
    /// if it has gone since the dump began.
    pub fn diag_sock_rows(
        &self,
        h: SocketHandle,
        now: Instant,
        mtu: usize,
        out: &mut Vec<SockInfo>,
    ) {
        let Some(s) = self.socks.get(&h) else {
            return;
        };
        let start = out.len();
        rows(s, now, mtu, &|d| left(d, now), out);
        if let Some(first) = out.get_mut(start) {
            first.sk = u64::from(h.0);
        }
    }

    /// The row of the TIME-WAIT bucket on `tuple`, if it is still there.
    pub fn diag_tw_row(&self, tuple: &FourTuple, now: Instant, out: &mut Vec<SockInfo>) {
        if let Some(tw) = self.timewait().get(tuple) {
            out.push(tw_row(tw, now));
        }
    }

    /// /proc/net/sockstat's TCP line: (inuse, orphan, tw, alloc). `inuse`
    /// counts what is in the lookup tables, as `sock_prot_inuse_add()` does
    /// on hash and unhash; a socket that became a TIME-WAIT bucket has left
    /// them (`inet_twsk_hashdance()`).
    pub fn sockstat(&self) -> (usize, usize, usize, usize) {
        let orphans = self.socks.values().filter(|s| s.is_orphan()).count();
        (
            self.listeners.len() + self.established.len(),
            orphans,
            self.timewait().len(),
            self.socks.len(),
        )
    }
}

/// Milliseconds from `now` to a deadline (0 if none or past).
fn left(d: Option<Instant>, now: Instant) -> u64 {
    d.map_or(0, |d| d.saturating_since(now).as_millis() as u64)
}

fn tw_row(tw: &TimeWaitSock, now: Instant) -> SockInfo {
    SockInfo {
        timer: Some(("timewait".into(), left(Some(tw.deadline), now), 0)),
        ..SockInfo::row(
            "tcp",
            tw.substate as u8,
            tw.tuple.local.into(),
            tw.tuple.remote.into(),
        )
    }
}

fn rows(
    s: &TcpSock,
    now: Instant,
    mtu: usize,
    left: &dyn Fn(Option<Instant>) -> u64,
    out: &mut Vec<SockInfo>,
) {
    match &s.role {
        Role::Idle => {}
        Role::Listen(l) => {
            out.push(SockInfo {
                recv_q: l.accept_queue.len() as u64,
                send_q: u64::from(l.backlog),
                ..SockInfo::row(
                    "tcp",
                    State::Listen as u8,
                    l.local.into(),
                    WireAddr::UNSPECIFIED,
                )
            });
            for r in l.syn_queue.values() {
                out.push(SockInfo {
                    timer: Some(("on".into(), left(Some(r.deadline)), r.num_timeout)),
                    ..SockInfo::row(
                        "tcp",
                        State::SynRcvd as u8,
                        r.tuple.local.into(),
                        r.tuple.remote.into(),
                    )
                });
            }
        }
        Role::Conn(t) => {
            if t.state == ConnState::Closed {
                return;
            }
            // rcv_nxt - copied_seq: a received FIN counts one.
            let recv_q = t.recv_buf.len() as u64 + u64::from(t.fin_received);
            // write_seq - snd_una, with a queued FIN counted once.
            let end = t.write_seq + u32::from(t.snd_shutdown);
            let send_q = if end.after(t.snd_una) {
                u64::from(end - t.snd_una)
            } else {
                0
            };
            let timer = if t.rtx_deadline.is_some() {
                Some(("on".to_string(), left(t.rtx_deadline), t.retransmits))
            } else if t.persist_deadline.is_some() {
                let when = left(t.persist_deadline);
                Some(("persist".to_string(), when, t.probes_out))
            } else if t.keepalive_deadline.is_some() {
                let when = left(t.keepalive_deadline);
                Some(("keepalive".to_string(), when, t.probes_out))
            } else {
                None
            };
            out.push(SockInfo {
                recv_q,
                send_q,
                timer,
                info: Some(t.info(now, mtu)),
                ..SockInfo::row(
                    "tcp",
                    t.state as u8,
                    t.tuple.local.into(),
                    t.tuple.remote.into(),
                )
            });
        }
    }
}
