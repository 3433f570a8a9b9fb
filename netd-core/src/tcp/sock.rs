//! A TCP socket and what Linux's `tcp.c` does to a connection on the
//! application's behalf: connect's setup, sendmsg, recvmsg, shutdown,
//! close, disconnect, poll, TCP_INFO and the side effects of options.

use super::listen::Listener;
use super::tcb::{Negotiated, Tcb, MIN_MSS};
use super::timewait::Inherited;
use super::{ConnState, Ctx, FourTuple};
use crate::inet::InetSock;
use crate::sock::{PollEvents, Shutdown, SockOpt, SockOpts, SocketHandle};
use crate::time::Instant;
use core::time::Duration;
use netd_proto::{Errno, TcpInfo};

/// The answer to a connect() on a socket whose connection exists.
#[derive(Debug, PartialEq, Eq)]
pub enum Reconnect {
    /// The handshake completed: 0, once.
    Connected,
    /// This error, and nothing changes.
    Refuse(Errno),
    /// The attempt ended with this error: the socket is disconnected first.
    Ended(Errno),
}

/// What a TCP socket is doing.
#[derive(Debug)]
pub enum Role {
    /// Created, maybe bound, not listening or connected.
    Idle,
    Listen(Box<Listener>),
    Conn(Box<Tcb>),
}

/// A TCP socket: its addressing, its options, and its listener or
/// connection. Closed sockets stay here as orphans while their connection
/// finishes (`Tcb::orphan`), invisible to the application.
#[derive(Debug)]
pub struct TcpSock {
    pub inet: InetSock,
    /// The options while no listener or connection carries its own copy.
    pub opts: SockOpts,
    pub role: Role,
    /// TCP_MAXSEG after a disconnect: the connection's `mss_cache`.
    pub stale_mss: Option<u32>,
    /// The socket has held a connection: it sent a SYN (SYN-SENT), or was
    /// born from a listener's queue. Linux 6.18 then refuses `listen()` with
    /// EINVAL for the rest of the socket's life, whatever ended the
    /// connection (RST, timeout, AF_UNSPEC); a listener that was shut down
    /// may listen again. Measured on 6.18.44; kernels before it allowed
    /// `listen()` once `__inet_stream_connect()` left SS_UNCONNECTED.
    pub had_connection: bool,
    /// A completed connection waiting in this listener's accept queue.
    pub accept_parent: Option<SocketHandle>,
}

impl TcpSock {
    pub fn new() -> TcpSock {
        TcpSock {
            inet: InetSock::default(),
            opts: SockOpts::default(),
            role: Role::Idle,
            stale_mss: None,
            had_connection: false,
            accept_parent: None,
        }
    }

    pub fn tcb(&self) -> Option<&Tcb> {
        match &self.role {
            Role::Conn(t) => Some(t),
            _ => None,
        }
    }

    pub fn tcb_mut(&mut self) -> Option<&mut Tcb> {
        match &mut self.role {
            Role::Conn(t) => Some(t),
            _ => None,
        }
    }

    pub fn listener(&self) -> Option<&Listener> {
        match &self.role {
            Role::Listen(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_listening(&self) -> bool {
        matches!(self.role, Role::Listen(_))
    }

    /// Closed by the application, alive until the protocol is done.
    pub fn is_orphan(&self) -> bool {
        self.tcb().is_some_and(|t| t.orphan)
    }

    /// The options in force: a connection's or listener's own copy once it exists.
    pub fn opts(&self) -> &SockOpts {
        match &self.role {
            Role::Conn(t) => &t.opts,
            Role::Listen(l) => &l.opts,
            Role::Idle => &self.opts,
        }
    }

    pub fn opts_mut(&mut self) -> &mut SockOpts {
        match &mut self.role {
            Role::Conn(t) => &mut t.opts,
            Role::Listen(l) => &mut l.opts,
            Role::Idle => &mut self.opts,
        }
    }

    /// The earliest timer the socket has armed.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.role {
            Role::Conn(t) => t.next_deadline(),
            Role::Listen(l) => l.next_deadline(),
            Role::Idle => None,
        }
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&mut self) -> Option<Errno> {
        self.tcb_mut().and_then(|t| t.error.take())
    }

    /// TCP_MAXSEG as Linux reports it (`tp->mss_cache`): the user's value
    /// or 536 before a SYN was ever sent, then the connection's, which a
    /// disconnected socket keeps.
    pub fn maxseg(&self, mtu: u32) -> u32 {
        let clamp = match self.opts().maxseg {
            0 => 536,
            m => u32::from(m),
        };
        match self.tcb() {
            Some(t) => t.mss_cache(clamp, mtu),
            None => self.stale_mss.unwrap_or(clamp),
        }
    }

    /// Readiness as `tcp_poll()` computes it.
    pub fn poll(&self, wmem_max: i64) -> PollEvents {
        let m = match &self.role {
            Role::Idle => PollEvents::OUT | PollEvents::HUP,
            Role::Listen(l) if !l.accept_queue.is_empty() => PollEvents::IN,
            Role::Listen(_) => 0,
            Role::Conn(t) => t.poll(wmem_max),
        };
        PollEvents(m)
    }
}

impl Default for TcpSock {
    fn default() -> Self {
        TcpSock::new()
    }
}

impl Tcb {
    /// An active open (`tcp_v4_connect()` + `tcp_connect_init()` +
    /// `tcp_connect()`): the control block in SYN-SENT with its SYN sent.
    /// `inherit` is what a TIME-WAIT bucket taken over hands on.
    pub fn connect(
        ctx: &mut Ctx,
        tuple: FourTuple,
        opts: SockOpts,
        inherit: Option<Inherited>,
    ) -> Tcb {
        let mut tcb = Tcb::new(ctx, tuple, opts, ctx.tx.mtu);
        let rcv_wscale = Tcb::choose_rcv_wscale(ctx, tcb.rcvbuf);
        tcb.neg = Negotiated {
            mss_clamp: tcb.adv_mss.max(MIN_MSS),
            rcv_wscale,
            snd_wscale: 0,
            wscale_ok: ctx.sysctl.tcp_window_scaling != 0,
            sack_ok: ctx.sysctl.tcp_sack != 0,
            ts_ok: ctx.sysctl.tcp_timestamps != 0,
        };
        if ctx.sysctl.tcp_timestamps == 1 {
            tcb.ts_offset = ctx.secrets.ts_offset(&tuple);
        }
        if let Some(inherit) = inherit {
            tcb.set_iss(inherit.isn);
            if let Some((recent, stamp)) = inherit.ts_recent {
                tcb.ts_recent = recent;
                tcb.ts_recent_stamp = stamp;
            }
        }
        tcb.state = ConnState::SynSent;
        tcb.syn_stamp = ctx.now;
        tcb.send_syn(ctx);
        ctx.mib.tcp.active_opens += 1;
        tcb
    }

    /// What a connect() on a connection that exists says
    /// (`__inet_stream_connect()`): EALREADY while connecting, 0 once, then
    /// EISCONN; once the attempt is over, its error, or ECONNABORTED once
    /// that was read (the sock_error path, which also disconnects).
    pub fn connect_again(&mut self) -> Reconnect {
        match self.state {
            ConnState::SynSent | ConnState::SynRcvd => Reconnect::Refuse(Errno::EALREADY),
            ConnState::Closed => match self.error.take() {
                Some(e) => Reconnect::Ended(e),
                // One that connect() already reported is EISCONN.
                None if self.connect_reported => Reconnect::Refuse(Errno::EISCONN),
                None => Reconnect::Ended(Errno::ECONNABORTED),
            },
            _ if self.connect_reported => Reconnect::Refuse(Errno::EISCONN),
            _ => {
                self.connect_reported = true;
                Reconnect::Connected
            }
        }
    }

    /// `tcp_sendmsg()`: queue what fits in the send buffer and, unless
    /// `more` (MSG_MORE), transmit.
    pub fn sendmsg(&mut self, ctx: &mut Ctx, data: &[u8], more: bool) -> Result<usize, Errno> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.snd_shutdown {
            return Err(Errno::EPIPE);
        }
        match self.state {
            ConnState::Established | ConnState::CloseWait => {}
            ConnState::SynSent | ConnState::SynRcvd => return Err(Errno::EAGAIN),
            _ => return Err(Errno::EPIPE),
        }
        let space = self.send_space(ctx.sysctl.tcp_wmem[2]);
        if space == 0 {
            return Err(Errno::EAGAIN);
        }
        let n = space.min(data.len());
        if self.write_seq == self.snd_nxt {
            // A new skb is queued (tcp_skb_entail()).
            self.slow_start_after_idle_check(ctx);
        }
        self.send_buf.extend(&data[..n]);
        self.write_seq += n as u32;
        if !more {
            self.transmit(ctx);
        }
        Ok(n)
    }

    /// `tcp_recvmsg()` without an intermediate buffer: `take` sees the queued
    /// bytes as (up to) two slices, in order, and returns how many it
    /// consumed. Ok(0) is end of stream; EAGAIN when nothing is there yet.
    pub fn recvmsg(
        &mut self,
        ctx: &mut Ctx,
        peek: bool,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, Errno> {
        if !self.recv_buf.is_empty() {
            let (a, b) = self.recv_buf.as_slices();
            let n = take(a, b).min(self.recv_buf.len());
            if !peek && n > 0 {
                self.recv_buf.drain(..n);
                if self.state.is_synchronized() {
                    self.rcv_space_adjust(ctx);
                    self.cleanup_rbuf(ctx);
                }
            }
            return Ok(n);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.fin_received || self.rcv_shutdown {
            return Ok(0);
        }
        if self.state == ConnState::Closed {
            return Err(Errno::ENOTCONN);
        }
        Err(Errno::EAGAIN)
    }

    /// After the program read (`tcp_cleanup_rbuf()`): send the ACK that input
    /// held back because the window would have shrunk, once more than a
    /// segment came in since the last window update; otherwise announce a
    /// window that at least doubled. Without the first rule a receiver whose
    /// reader lags ACKs a bulk sender only when the delayed-ACK timer fires.
    fn cleanup_rbuf(&mut self, ctx: &mut Ctx) {
        let owed = self.ack.pending && (self.rcv_nxt - self.rcv_wup) > self.ack.rcv_mss;
        let cur = self.receive_window();
        let free = self.rcv_free() as u32;
        let doubled = !self.fin_received
            && 2 * cur <= self.rcvbuf as u32
            && free >= 2 * cur
            && free >= self.ack.rcv_mss;
        if owed || doubled {
            self.send_ack(ctx);
        }
    }

    /// `tcp_shutdown()` and the read side of `inet_shutdown()`.
    pub fn shutdown(&mut self, ctx: &mut Ctx, how: Shutdown) -> Result<(), Errno> {
        match self.state {
            ConnState::Closed => return Err(Errno::ENOTCONN),
            ConnState::SynSent => self.close_counted(ctx.mib),
            _ => {
                if matches!(how, Shutdown::Read | Shutdown::Both) {
                    self.rcv_shutdown = true;
                }
                if matches!(how, Shutdown::Write | Shutdown::Both) {
                    self.send_fin(ctx);
                }
            }
        }
        Ok(())
    }

    /// Queue our FIN (`tcp_close_state()` + `tcp_send_fin()`).
    pub fn send_fin(&mut self, ctx: &mut Ctx) {
        if self.snd_shutdown {
            return;
        }
        let next = match self.state {
            ConnState::Established | ConnState::SynRcvd => ConnState::FinWait1,
            ConnState::CloseWait => ConnState::LastAck,
            _ => return,
        };
        self.snd_shutdown = true;
        self.state = next;
        self.transmit(ctx);
    }

    /// `__tcp_close()`: the application let go; the connection finishes as
    /// an orphan. Data it left unread (queued here, or `unread` in the
    /// program's own buffer, as the daemon knows) means the peer must learn
    /// it was lost: RST instead of FIN (RFC 2525 §2.17, TCPAbortOnClose).
    /// SO_LINGER with a zero timeout resets too (TCPAbortOnData).
    pub fn close(&mut self, ctx: &mut Ctx, linger: Option<u32>, unread: bool) {
        self.orphan = true;
        // close() shuts both directions (sk_shutdown = SHUTDOWN_MASK): data
        // that still arrives is answered with RST (TCPAbortOnData).
        self.rcv_shutdown = true;
        let sync = self.state.is_synchronized() && self.state != ConnState::TimeWait;
        if (unread || !self.recv_buf.is_empty()) && sync {
            ctx.mib.tcp_ext.tcp_abort_on_close += 1;
            self.send_active_reset(ctx);
            self.close_counted(ctx.mib);
        } else if unread {
            self.close_counted(ctx.mib);
        } else if linger == Some(0) && sync {
            ctx.mib.tcp_ext.tcp_abort_on_data += 1;
            self.send_active_reset(ctx);
            self.close_counted(ctx.mib);
        } else {
            match self.state {
                ConnState::SynSent | ConnState::Closed => self.close_counted(ctx.mib),
                _ => self.send_fin(ctx),
            }
        }
    }

    /// `tcp_disconnect()`'s effect on the connection: a peer that thinks it
    /// is connected hears of it (`tcp_need_reset()`), and the error left for
    /// SO_ERROR is returned (ECONNRESET, as Linux leaves in `sk_err`).
    pub fn disconnect(&mut self, ctx: &mut Ctx) -> Option<Errno> {
        let mut error = None;
        if matches!(
            self.state,
            ConnState::Established
                | ConnState::CloseWait
                | ConnState::FinWait1
                | ConnState::FinWait2
                | ConnState::SynRcvd
        ) {
            self.send_active_reset(ctx);
            error = Some(Errno::ECONNRESET);
        } else if self.state == ConnState::SynSent {
            error = Some(Errno::ECONNRESET);
        }
        if self.state != ConnState::Closed {
            self.close_counted(ctx.mib);
        }
        error
    }

    /// Reset a connection that is going away with netd (`abort_all`) or
    /// with its listener (`inet_csk_listen_stop()`).
    pub fn reset_and_close(&mut self, ctx: &mut Ctx) {
        if self.state.is_synchronized() && self.state != ConnState::TimeWait {
            self.send_active_reset(ctx);
        }
        self.close_counted(ctx.mib);
    }

    /// TCP_MAXSEG of a connection as Linux reports it (`tp->mss_cache`):
    /// from the SYN until the peer's MSS is known, min(MTU - 40, `clamp`)
    /// less the timestamp option; after that the connection's own.
    pub fn mss_cache(&self, clamp: u32, mtu: u32) -> u32 {
        if self.state.is_synchronized() || self.snd_una != self.iss {
            return self.mss;
        }
        let ts = if self.neg.ts_ok { 12 } else { 0 };
        clamp.min(mtu.saturating_sub(40)).saturating_sub(ts)
    }

    /// `tcp_poll()` for a connection.
    fn poll(&self, wmem_max: i64) -> u16 {
        let mut m = 0;
        let rcv_shut = self.rcv_shutdown || self.fin_received;
        if (rcv_shut && self.snd_shutdown) || self.state == ConnState::Closed {
            m |= PollEvents::HUP;
        }
        if rcv_shut {
            m |= PollEvents::IN | PollEvents::RDHUP;
        }
        if self.state != ConnState::SynSent && self.state != ConnState::SynRcvd {
            if !self.recv_buf.is_empty() {
                m |= PollEvents::IN;
            }
            if self.snd_shutdown {
                m |= PollEvents::OUT;
            } else {
                let free = self.send_space(wmem_max);
                if free > 0 && free >= self.send_queue_len() / 2 {
                    m |= PollEvents::OUT;
                }
            }
        }
        if self.error.is_some() {
            m |= PollEvents::ERR;
        }
        m
    }

    /// Free send-buffer space for the application (0 unless it may send).
    pub fn app_send_space(&self, wmem_max: i64) -> usize {
        match self.state {
            ConnState::Established | ConnState::CloseWait if !self.snd_shutdown => {
                self.send_space(wmem_max)
            }
            _ => 0,
        }
    }

    /// What setting `opt` does to a live connection (`do_tcp_setsockopt()`,
    /// `sock_setsockopt()`): the buffer sizes in force, and the options that
    /// act at once. `rcvbuf`/`sndbuf` are the socket's values after the set.
    pub fn apply_opt(
        &mut self,
        ctx: &mut Ctx,
        opt: SockOpt,
        rcvbuf: Option<usize>,
        sndbuf: Option<usize>,
    ) {
        if let Some(r) = rcvbuf {
            self.rcvbuf = r;
        }
        if let Some(s) = sndbuf {
            self.sndbuf = s;
        }
        match opt {
            // TCP_QUICKACK = 1: leave pingpong and send a pending ACK now (not sticky).
            SockOpt::QuickAck(true) => {
                self.ack.pingpong = false;
                if self.ack.pending && self.state.is_synchronized() {
                    self.send_ack(ctx);
                }
            }
            SockOpt::QuickAck(false) => self.ack.pingpong = true,
            // SO_KEEPALIVE and TCP_KEEPIDLE (re)arm a running connection's timer.
            SockOpt::KeepAlive(_) | SockOpt::KeepIdle(_) => self.arm_keepalive(ctx.now, ctx.sysctl),
            // Setting TCP_NODELAY pushes what Nagle held back.
            SockOpt::NoDelay(true) => {
                self.transmit(ctx);
            }
            // tcp_reinit_congestion_control(): the new algorithm starts
            // fresh from the current window.
            SockOpt::Congestion(name) => {
                if let Some(algo) = super::cong::Algo::from_padded(&name) {
                    if algo.name() != self.cc.algo.name() {
                        self.cc.algo = algo;
                        self.cc.init(ctx.now, self.snd_nxt.0);
                    }
                }
            }
            _ => {}
        }
    }

    /// Give back buffers left empty since `idle` ago (`sk_mem_reclaim()`):
    /// a VecDeque keeps its capacity when drained. Returns the bytes freed.
    /// Whether either buffer holds memory (data, or capacity kept).
    pub fn holds_buffers(&self) -> bool {
        self.recv_buf.capacity() > 0 || self.send_buf.capacity() > 0
    }

    pub fn reclaim_idle_buffers(&mut self, now: Instant, idle: Duration) -> usize {
        let quiet = now.saturating_since(self.ack.lrcvtime) >= idle
            && now.saturating_since(self.last_data_sent) >= idle;
        if !quiet {
            return 0;
        }
        let mut freed = 0;
        if self.recv_buf.is_empty() && self.recv_buf.capacity() > 0 {
            freed += self.recv_buf.capacity();
            self.recv_buf = Default::default();
        }
        if self.send_buf.is_empty() && self.send_buf.capacity() > 0 {
            freed += self.send_buf.capacity();
            self.send_buf = Default::default();
        }
        freed
    }

    /// `tcp_get_info()` for `ss -i`: cwnd and ssthresh in segments, times in µs.
    pub fn info(&self, now: Instant, mtu: usize) -> TcpInfo {
        let us = |d: Duration| d.as_micros() as u64;
        let ago = |then: Instant| now.saturating_since(then).as_millis() as u64;
        TcpInfo {
            timestamps: self.neg.ts_ok,
            sack: self.neg.sack_ok,
            congestion: self.cc.algo.name().into(),
            wscale: self
                .neg
                .wscale_ok
                .then_some((self.neg.snd_wscale, self.neg.rcv_wscale)),
            rto_us: us(self.rto()),
            rtt_us: self.rtt.srtt.map_or(0, us),
            rttvar_us: us(self.rtt.rttvar),
            ato_us: us(self.ack.ato),
            snd_mss: self.mss,
            rcv_mss: self.ack.rcv_mss,
            advmss: u32::from(self.adv_mss),
            pmtu: mtu as u32,
            cwnd: self.cc.cwnd,
            ssthresh: self.cc.ssthresh_known().then_some(self.cc.ssthresh),
            bytes_acked: self.bytes_acked,
            bytes_received: self.bytes_received,
            segs_out: self.segs_out,
            segs_in: self.segs_in,
            data_segs_out: self.data_segs_out,
            data_segs_in: self.data_segs_in,
            last_data_sent_ms: ago(self.last_data_sent),
            last_data_recv_ms: ago(self.last_data_recv),
            last_ack_recv_ms: ago(self.last_ack_recv),
            retrans: self.rtx.retrans_out,
            total_retrans: self.total_retrans,
            min_rtt_us: self.rtt.min_rtt.map_or(0, us),
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_wnd,
            rcv_rtt_us: self.rcv_rtt.rtt_us(),
            rcv_space: self.rcvq.space,
            backoff: self.backoff,
            bytes_sent: self.bytes_sent,
            bytes_retrans: self.bytes_retrans,
            delivered: self.rec.delivered,
            unacked: self.rtx.packets_out,
            sacked: self.rtx.sacked_out,
            lost: self.rtx.lost_out,
            dsack_dups: self.rec.dsack_dups,
            reordering: self.rec.reordering,
            reord_seen: self.rec.reord_seen,
            notsent: if self.write_seq.after(self.snd_nxt) {
                self.write_seq - self.snd_nxt
            } else {
                0
            },
            rcv_ooopack: self.rcv_ooopack,
        }
    }
}
