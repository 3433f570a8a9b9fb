//! The listen path (Linux `inet_connection_sock.c`, `tcp_minisocks.c`
//! `tcp_check_req()`, `tcp_input.c` `tcp_conn_request()`): a SYN queue of
//! compact request socks hashed by 4-tuple, and a FIFO accept queue of
//! completed connections that need no accept() call to exist.

use super::input::negotiate;
use super::tcb::{Negotiated, Tcb};
use super::{ts_now, Ctx, FourTuple, SeqNum, State};
use crate::socket::{SockOpts, SocketHandle};
use crate::time::Instant;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use core::time::Duration;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddrV4;

/// A half-open connection (`struct tcp_request_sock`): what the SYN told us,
/// nothing more. A full control block exists only once the handshake completes.
#[derive(Clone, Debug)]
pub struct RequestSock {
    pub tuple: FourTuple,
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub neg: Negotiated,
    pub adv_mss: u16,
    pub rcv_wnd: u32,
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// SYN-ACK retransmissions so far (`num_timeout`).
    pub num_timeout: u32,
    pub deadline: Instant,
    pub first_sent: Instant,
    /// Final ACK seen while the accept queue was full (`inet_rsk(req)->acked`).
    pub acked: bool,
}

/// What the stack must do after a segment reached a listener.
pub enum ListenAction {
    Nothing,
    /// The handshake completed: build the child from this request.
    Promote(RequestSock),
}

#[derive(Debug)]
pub struct Listener {
    pub local: SocketAddrV4,
    /// `sk_max_ack_backlog`: the listen() backlog after the somaxconn clamp.
    pub backlog: u32,
    pub syn_queue: HashMap<FourTuple, RequestSock>,
    timers: BTreeSet<(Instant, u64)>,
    timer_keys: HashMap<u64, FourTuple>,
    next_key: u64,
    pub accept_queue: VecDeque<SocketHandle>,
    /// Options children inherit (Linux copies the listener's socket).
    pub opts: SockOpts,
}

/// The SYN-ACK retransmission interval after `n` timeouts (`reqsk_timeout()`).
fn synack_timeout(n: u32) -> Duration {
    (Duration::from_secs(1) * (1u32 << n.min(7))).min(super::rtt::RTO_MAX)
}

impl Listener {
    pub fn new(local: SocketAddrV4, backlog: u32, opts: SockOpts) -> Listener {
        Listener {
            local,
            backlog,
            syn_queue: HashMap::new(),
            timers: BTreeSet::new(),
            timer_keys: HashMap::new(),
            next_key: 0,
            accept_queue: VecDeque::new(),
            opts,
        }
    }

    /// `sk_acceptq_is_full()`: a backlog of N holds N + 1 connections.
    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() > self.backlog as usize
    }

    /// `inet_csk_reqsk_queue_is_full()`: the SYN queue is bounded by the backlog too.
    pub fn syn_queue_full(&self) -> bool {
        self.syn_queue.len() > self.backlog as usize
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    fn arm(&mut self, tuple: FourTuple, at: Instant) {
        self.next_key += 1;
        self.timers.insert((at, self.next_key));
        self.timer_keys.insert(self.next_key, tuple);
    }

    fn send_synack(ctx: &mut Ctx, req: &RequestSock) {
        let n = &req.neg;
        let options = TcpOptions {
            mss: Some(req.adv_mss),
            wscale: n.wscale_ok.then_some(n.rcv_wscale),
            sack_permitted: n.sack_ok,
            timestamp: n
                .ts_ok
                .then(|| (ts_now(ctx.now).wrapping_add(req.ts_offset), req.ts_recent)),
            ..TcpOptions::default()
        };
        let seg = TcpRepr {
            src_port: req.tuple.local.port(),
            dst_port: req.tuple.remote.port(),
            seq: req.iss,
            ack: req.irs + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: req.rcv_wnd.min(65535) as u16,
            urgent: 0,
            options,
            payload: &[],
        };
        ctx.send_tcp(&req.tuple, &seg, &[]);
    }

    /// A SYN for a new connection (`tcp_conn_request()`). `isn` is set when a
    /// TIME-WAIT socket handed the SYN over (`tcp_tw_isn`).
    pub fn on_syn(&mut self, ctx: &mut Ctx, tuple: FourTuple, seg: &TcpRepr, isn: Option<SeqNum>) {
        if self.syn_queue_full() {
            // SYN cookies are not implemented yet: the SYN is dropped as with
            // tcp_syncookies = 0.
            ctx.mib.tcp_ext.tcp_req_q_full_drop += 1;
            ctx.mib.tcp_ext.listen_drops += 1;
            return;
        }
        if self.accept_queue_full() {
            ctx.mib.tcp_ext.listen_overflows += 1;
            ctx.mib.tcp_ext.listen_drops += 1;
            return;
        }
        let sysctl = ctx.sysctl;
        let rcvbuf = self
            .opts
            .rcvbuf
            .unwrap_or(sysctl.tcp_rmem[1].max(1) as usize);
        let ours = Negotiated {
            rcv_wscale: Tcb::choose_rcv_wscale(ctx, rcvbuf),
            wscale_ok: sysctl.tcp_window_scaling != 0,
            sack_ok: sysctl.tcp_sack != 0,
            ts_ok: sysctl.tcp_timestamps != 0,
            ..Negotiated::default()
        };
        let neg = negotiate(&ours, &seg.options);
        let route_mss = ctx.tx.mtu.saturating_sub(40).min(65535) as u16;
        let adv_mss = match self.opts.maxseg {
            0 => route_mss,
            m => m.min(route_mss),
        };
        let ts_offset = if sysctl.tcp_timestamps == 1 {
            ctx.secrets.ts_offset(&tuple)
        } else {
            0
        };
        let req = RequestSock {
            tuple,
            iss: isn.unwrap_or_else(|| ctx.secrets.isn(&tuple, ctx.now)),
            irs: seg.seq,
            neg,
            adv_mss,
            rcv_wnd: rcvbuf.min(65535) as u32,
            ts_recent: seg.options.timestamp.map_or(0, |t| t.0),
            ts_offset,
            num_timeout: 0,
            deadline: ctx.now + synack_timeout(0),
            first_sent: ctx.now,
            acked: false,
        };
        Self::send_synack(ctx, &req);
        self.arm(tuple, req.deadline);
        self.syn_queue.insert(tuple, req);
    }

    /// A segment for a pending request (`tcp_check_req()`).
    pub fn on_request_segment(
        &mut self,
        ctx: &mut Ctx,
        tuple: FourTuple,
        seg: &TcpRepr,
    ) -> ListenAction {
        let accept_queue_full = self.accept_queue_full();
        let Some(req) = self.syn_queue.get_mut(&tuple) else {
            return ListenAction::Nothing;
        };
        let flags = seg.flags;
        if seg.seq == req.irs && flags == TcpFlags::SYN {
            // The client retransmitted its SYN: our SYN-ACK was lost.
            ctx.mib.tcp.retrans_segs += 1;
            Self::send_synack(ctx, req);
            return ListenAction::Nothing;
        }
        if flags.ack() && seg.ack != req.iss + 1 {
            super::output::reset_for(ctx, &tuple, seg);
            return ListenAction::Nothing;
        }
        let rcv_nxt = req.irs + 1;
        let end = seg.seq + seg.seg_len();
        let in_window = !end.before(rcv_nxt) && !seg.seq.after(rcv_nxt + req.rcv_wnd);
        if !in_window {
            if !flags.rst() {
                Self::send_synack(ctx, req);
            }
            return ListenAction::Nothing;
        }
        if flags.rst() || flags.syn() {
            ctx.mib.tcp.attempt_fails += 1;
            ctx.mib.tcp_ext.embryonic_rsts += 1;
            if !flags.rst() {
                super::output::reset_for(ctx, &tuple, seg);
            }
            self.syn_queue.remove(&tuple);
            return ListenAction::Nothing;
        }
        if !flags.ack() {
            return ListenAction::Nothing;
        }
        if accept_queue_full {
            ctx.mib.tcp_ext.listen_overflows += 1;
            ctx.mib.tcp_ext.listen_drops += 1;
            if ctx.sysctl.tcp_abort_on_overflow == 0 {
                // Keep the request; the SYN-ACK timer will prompt the client again.
                req.acked = true;
            } else {
                super::output::reset_for(ctx, &tuple, seg);
                self.syn_queue.remove(&tuple);
                ctx.mib.tcp_ext.embryonic_rsts += 1;
            }
            return ListenAction::Nothing;
        }
        match self.syn_queue.remove(&tuple) {
            Some(mut req) => {
                if let Some((tsval, _)) = seg.options.timestamp {
                    req.ts_recent = tsval;
                }
                ListenAction::Promote(req)
            }
            None => ListenAction::Nothing,
        }
    }

    /// SYN-ACK retransmission and request expiry (`reqsk_timer_handler()`):
    /// timeouts at 1, 3, 7, 15, 31 s, dropped at 63 s with tcp_synack_retries = 5.
    pub fn on_timer(&mut self, ctx: &mut Ctx) {
        let retries = match self.opts.syncnt {
            0 => ctx.sysctl.tcp_synack_retries.clamp(0, 255) as u32,
            n => u32::from(n),
        };
        while let Some(&(at, key)) = self.timers.first() {
            if at > ctx.now {
                break;
            }
            self.timers.pop_first();
            let Some(tuple) = self.timer_keys.remove(&key) else {
                continue;
            };
            let Some(req) = self.syn_queue.get_mut(&tuple) else {
                continue;
            };
            if req.deadline != at {
                continue;
            }
            ctx.mib.tcp_ext.tcp_timeouts += 1;
            if req.num_timeout >= retries {
                self.syn_queue.remove(&tuple);
                continue;
            }
            ctx.mib.tcp.retrans_segs += 1;
            ctx.mib.tcp_ext.tcp_syn_retrans += 1;
            Self::send_synack(ctx, req);
            req.num_timeout += 1;
            req.deadline = at + synack_timeout(req.num_timeout);
            let next = req.deadline;
            self.arm(tuple, next);
        }
    }
}

impl Tcb {
    /// The child of a completed handshake (`tcp_create_openreq_child()`),
    /// ESTABLISHED, as `ack` (the final ACK) left it.
    pub fn from_request(ctx: &Ctx, req: &RequestSock, ack: &TcpRepr, opts: SockOpts) -> Tcb {
        let mut tcb = Tcb::new(ctx, req.tuple, opts, ctx.tx.mtu);
        tcb.state = State::Established;
        tcb.iss = req.iss;
        tcb.snd_una = req.iss + 1;
        tcb.snd_nxt = req.iss + 1;
        tcb.snd_max = req.iss + 1;
        tcb.write_seq = req.iss + 1;
        tcb.snd_sml = req.iss + 1;
        tcb.high_seq = req.iss + 1;
        tcb.irs = req.irs;
        tcb.rcv_nxt = req.irs + 1;
        tcb.rcv_wup = req.irs + 1;
        tcb.rcv_wnd = req.rcv_wnd;
        tcb.adv_mss = req.adv_mss;
        tcb.set_negotiated(req.neg);
        tcb.ts_recent = req.ts_recent;
        tcb.ts_recent_stamp = ctx.now;
        tcb.ts_offset = req.ts_offset;
        tcb.snd_wnd = u32::from(ack.window) << req.neg.snd_wscale;
        tcb.max_window = tcb.snd_wnd;
        tcb.snd_wl1 = ack.seq;
        tcb.snd_wl2 = ack.ack;
        tcb.syn_stamp = req.first_sent;
        if req.num_timeout == 0 {
            tcb.rtt.sample(ctx.now - req.first_sent);
        } else {
            tcb.rtt.fallback();
        }
        tcb.ack.lrcvtime = ctx.now;
        tcb
    }
}
