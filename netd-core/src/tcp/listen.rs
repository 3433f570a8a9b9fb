//! The listen path (Linux `inet_connection_sock.c`, `tcp_minisocks.c`
//! `tcp_check_req()`, `tcp_input.c` `tcp_conn_request()`): a SYN queue of
//! compact request socks hashed by 4-tuple, and a FIFO accept queue of
//! completed connections that need no accept() call to exist.

use super::input::negotiate;
use super::tcb::{Negotiated, Tcb};
use super::{ts_now, ConnState, Ctx, FourTuple, SeqNum};
use crate::mib::Mib;
use crate::sock::{SockOpts, SocketHandle};
use crate::time::Instant;
use crate::timer::DeadlineSet;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
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
    /// Rebuilt from a SYN cookie: no RTT sample from the handshake.
    pub cookie: bool,
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
    /// Each queued request's SYN-ACK retransmission (its `deadline`).
    timers: DeadlineSet<FourTuple>,
    pub accept_queue: VecDeque<SocketHandle>,
    /// Options children inherit (Linux copies the listener's socket).
    pub opts: SockOpts,
    /// Last time the SYN queue overflowed (`tcp_synq_overflow()`): returning
    /// cookies are checked only within two minutes of it (mode 1).
    pub last_overflow: Option<Instant>,
}

/// TCP_SYNCOOKIE_VALID: how long after an overflow cookies are accepted.
const SYNCOOKIE_VALID: Duration = Duration::from_secs(120);

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
            timers: DeadlineSet::default(),
            accept_queue: VecDeque::new(),
            opts,
            last_overflow: None,
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
        self.timers.next_deadline()
    }

    /// Take a request off the SYN queue together with its timer: a stale
    /// one would keep `next_deadline` (and the daemon's timer) at a SYN-ACK
    /// retransmission that will never happen.
    fn unqueue(&mut self, tuple: &FourTuple) -> Option<RequestSock> {
        self.timers.remove(*tuple);
        self.syn_queue.remove(tuple)
    }

    /// An ICMP error quoting a SYN-ACK of ours (`tcp_req_err()`): one that
    /// quotes another sequence number is counted and ignored; an abort
    /// (network or host unreachable) drops the request (ListenDrops).
    pub fn icmp_error(&mut self, mib: &mut Mib, tuple: FourTuple, seq: SeqNum, abort: bool) {
        let Some(req) = self.syn_queue.get(&tuple) else {
            return;
        };
        if seq != req.iss {
            mib.tcp_ext.out_of_window_icmps += 1;
        } else if abort {
            self.unqueue(&tuple);
            mib.tcp_ext.listen_drops += 1;
        }
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

    /// What we offer a SYN, before intersecting with what it offered.
    fn our_offer(&self, ctx: &Ctx) -> (Negotiated, usize) {
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
        (ours, rcvbuf)
    }

    fn adv_mss(&self, ctx: &Ctx) -> u16 {
        let route_mss = ctx.tx.mtu.saturating_sub(40).min(65535) as u16;
        match self.opts.maxseg {
            0 => route_mss,
            m => m.min(route_mss),
        }
    }

    /// A SYN for a new connection (`tcp_conn_request()`). `isn` is set when a
    /// TIME-WAIT socket handed the SYN over (`tcp_tw_isn`).
    pub fn on_syn(&mut self, ctx: &mut Ctx, tuple: FourTuple, seg: &TcpRepr, isn: Option<SeqNum>) {
        let sysctl = ctx.sysctl;
        let syncookies = sysctl.tcp_syncookies;
        let mut want_cookie = false;
        if (syncookies == 2 || self.syn_queue_full()) && isn.is_none() {
            // tcp_syn_flood_action()
            if syncookies != 0 {
                want_cookie = true;
                ctx.mib.tcp_ext.tcp_req_q_full_do_cookies += 1;
            } else {
                ctx.mib.tcp_ext.tcp_req_q_full_drop += 1;
                ctx.mib.tcp_ext.listen_drops += 1;
                return;
            }
        }
        if self.accept_queue_full() {
            ctx.mib.tcp_ext.listen_overflows += 1;
            ctx.mib.tcp_ext.listen_drops += 1;
            return;
        }
        // Without cookies, keep the last quarter of tcp_max_syn_backlog for
        // proven peers; we keep no TCP metrics, so no peer is proven.
        let max_syn = sysctl.tcp_max_syn_backlog;
        if !want_cookie
            && syncookies == 0
            && max_syn - (self.syn_queue.len() as i64) < (max_syn >> 2)
        {
            ctx.mib.tcp_ext.listen_drops += 1;
            return;
        }
        let (ours, rcvbuf) = self.our_offer(ctx);
        let mut neg = negotiate(&ours, &seg.options);
        let adv_mss = self.adv_mss(ctx);
        if want_cookie {
            // Without timestamps a cookie cannot carry WS or SACK, so neither is
            // offered (tcp_clear_options() in tcp_conn_request()).
            if !neg.ts_ok {
                neg = Negotiated {
                    mss_clamp: neg.mss_clamp,
                    ..Negotiated::default()
                };
            }
            self.last_overflow = Some(ctx.now);
            let index = super::syncookie::mss_index(neg.mss_clamp);
            let iss = ctx.secrets.cookie.make(&tuple, seg.seq, ctx.now, index);
            let tsval = super::syncookie::encode_ts(
                ts_now(ctx.now),
                neg.wscale_ok.then_some(neg.snd_wscale),
                neg.sack_ok,
            );
            let req = RequestSock {
                tuple,
                iss,
                irs: seg.seq,
                neg,
                adv_mss,
                rcv_wnd: rcvbuf.min(65535) as u32,
                ts_recent: seg.options.timestamp.map_or(0, |t| t.0),
                // The cookie's TSval is sent as is: no per-connection offset.
                ts_offset: tsval.wrapping_sub(ts_now(ctx.now)),
                num_timeout: 0,
                deadline: ctx.now,
                first_sent: ctx.now,
                acked: false,
                cookie: true,
            };
            ctx.mib.tcp_ext.syncookies_sent += 1;
            Self::send_synack(ctx, &req);
            return;
        }
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
            cookie: false,
        };
        Self::send_synack(ctx, &req);
        self.timers.set(tuple, Some(req.deadline));
        self.syn_queue.insert(tuple, req);
    }

    /// An ACK with no request behind it: a returning SYN cookie?
    /// (`cookie_v4_check()`; an invalid one is answered with RST, as the
    /// listener's `tcp_rcv_state_process()` does.)
    pub fn on_cookie_ack(
        &mut self,
        ctx: &mut Ctx,
        tuple: FourTuple,
        seg: &TcpRepr,
    ) -> ListenAction {
        let mode = ctx.sysctl.tcp_syncookies;
        let recent = self
            .last_overflow
            .is_some_and(|t| ctx.now.saturating_since(t) < SYNCOOKIE_VALID);
        if mode == 0 || (mode != 2 && !recent) {
            super::output::reset_for(ctx, &tuple, seg);
            return ListenAction::Nothing;
        }
        let Some(mss) = ctx.secrets.cookie.check(&tuple, seg.ack, seg.seq, ctx.now) else {
            ctx.mib.tcp_ext.syncookies_failed += 1;
            super::output::reset_for(ctx, &tuple, seg);
            return ListenAction::Nothing;
        };
        ctx.mib.tcp_ext.syncookies_recv += 1;
        if self.accept_queue_full() {
            ctx.mib.tcp_ext.listen_overflows += 1;
            ctx.mib.tcp_ext.listen_drops += 1;
            return ListenAction::Nothing;
        }
        let (ours, rcvbuf) = self.our_offer(ctx);
        let mut neg = Negotiated {
            mss_clamp: mss,
            ..Negotiated::default()
        };
        let mut ts_recent = 0;
        let mut ts_offset = 0;
        if let Some((tsval, tsecr)) = seg.options.timestamp.filter(|_| ours.ts_ok) {
            let (wscale, sack) = super::syncookie::decode_ts(tsecr);
            neg.ts_ok = true;
            neg.sack_ok = sack && ours.sack_ok;
            if let (Some(w), true) = (wscale, ours.wscale_ok) {
                neg.wscale_ok = true;
                neg.snd_wscale = w.min(14);
                neg.rcv_wscale = ours.rcv_wscale;
            }
            ts_recent = tsval;
            // Our TSvals continue from the cookie's clock with no offset.
            ts_offset = 0;
        }
        ListenAction::Promote(RequestSock {
            tuple,
            iss: seg.ack - 1,
            irs: seg.seq - 1,
            neg,
            adv_mss: self.adv_mss(ctx),
            rcv_wnd: rcvbuf.min(65535) as u32,
            ts_recent,
            ts_offset,
            num_timeout: 0,
            deadline: ctx.now,
            first_sent: ctx.now,
            acked: false,
            cookie: true,
        })
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
            self.unqueue(&tuple);
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
                self.unqueue(&tuple);
                ctx.mib.tcp_ext.embryonic_rsts += 1;
            }
            return ListenAction::Nothing;
        }
        match self.unqueue(&tuple) {
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
        while let Some(tuple) = self.timers.pop_due(ctx.now) {
            let Some(req) = self.syn_queue.get_mut(&tuple) else {
                continue;
            };
            ctx.mib.tcp_ext.tcp_timeouts += 1;
            if req.num_timeout >= retries {
                self.unqueue(&tuple);
                continue;
            }
            ctx.mib.tcp.retrans_segs += 1;
            ctx.mib.tcp_ext.tcp_syn_retrans += 1;
            Self::send_synack(ctx, req);
            req.num_timeout += 1;
            req.deadline += synack_timeout(req.num_timeout);
            let next = req.deadline;
            self.timers.set(tuple, Some(next));
        }
    }
}

impl Tcb {
    /// The child of a completed handshake (`tcp_create_openreq_child()`),
    /// ESTABLISHED, as `ack` (the final ACK) left it.
    pub fn from_request(ctx: &Ctx, req: &RequestSock, ack: &TcpRepr, opts: SockOpts) -> Tcb {
        let mut tcb = Tcb::new(ctx, req.tuple, opts, ctx.tx.mtu);
        tcb.state = ConnState::Established;
        tcb.iss = req.iss;
        tcb.snd_una = req.iss + 1;
        tcb.snd_nxt = req.iss + 1;
        tcb.snd_max = req.iss + 1;
        tcb.write_seq = req.iss + 1;
        tcb.snd_sml = req.iss + 1;
        tcb.rec.high_seq = req.iss + 1;
        tcb.rec.cwnd_usage_seq = req.iss + 1;
        tcb.irs = req.irs;
        tcb.rcv_nxt = req.irs + 1;
        tcb.rcv_wup = req.irs + 1;
        tcb.rcv_wnd = req.rcv_wnd;
        tcb.adv_mss = req.adv_mss;
        tcb.set_negotiated(req.neg);
        tcb.cc.init(ctx.now, tcb.snd_nxt.0);
        tcb.ts_recent = req.ts_recent;
        tcb.ts_recent_stamp = ctx.now;
        tcb.ts_offset = req.ts_offset;
        tcb.snd_wnd = u32::from(ack.window) << req.neg.snd_wscale;
        tcb.max_window = tcb.snd_wnd;
        tcb.snd_wl1 = ack.seq;
        tcb.snd_wl2 = ack.ack;
        tcb.syn_stamp = req.first_sent;
        if req.cookie {
            // Nothing was stored for the SYN-ACK, so its RTT is unknown.
        } else if req.num_timeout == 0 {
            tcb.rtt.sample(ctx.now - req.first_sent);
        } else {
            tcb.rtt.fallback();
        }
        tcb.ack.lrcvtime = ctx.now;
        tcb.last_ack_recv = ctx.now;
        tcb.arm_keepalive(ctx.now, ctx.sysctl);
        tcb
    }
}
