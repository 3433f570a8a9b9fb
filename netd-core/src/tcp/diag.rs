//! What `ss` lists for TCP (Linux `tcp_diag.c`, `inet_diag.c`): a row per
//! socket, per request sock and per TIME-WAIT bucket, with the queue
//! columns of `tcp_diag_get_info()` and TCP_INFO.

use super::sock::{Role, TcpSock};
use super::table::TcpTables;
use super::{ConnState, State};
use crate::time::Instant;
use netd_proto::{SockInfo, WireAddr};

impl TcpTables {
    /// Every TCP row; a socket's first row carries its handle in `sk`.
    pub fn diag_rows(&self, now: Instant, mtu: usize, out: &mut Vec<SockInfo>) {
        let left = |d: Option<Instant>| d.map_or(0, |d| d.saturating_since(now).as_millis() as u64);
        for (h, s) in self.socks() {
            let start = out.len();
            rows(s, now, mtu, &left, out);
            if let Some(first) = out.get_mut(start) {
                first.sk = u64::from(h.0);
            }
        }
        for tw in self.timewait().iter() {
            out.push(SockInfo {
                timer: Some(("timewait".into(), left(Some(tw.deadline)), 0)),
                ..SockInfo::row(
                    "tcp",
                    tw.substate as u8,
                    tw.tuple.local.into(),
                    tw.tuple.remote.into(),
                )
            });
        }
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
