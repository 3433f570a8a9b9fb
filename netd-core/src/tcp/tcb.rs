//! The connection control block (Linux `struct tcp_sock`), created by an active
//! open (SYN-SENT) or from a completed request sock (SYN-RECV -> ESTABLISHED).

use super::cong::{Algo, Cong};
use super::ooo::OooQueue;
use super::rack::Rack;
use super::recovery::Recovery;
use super::rtt::RttEstimator;
use super::rtx::RtxQueue;
use super::timer::XmitTimer;
use super::{ConnState, Ctx, FourTuple, SeqNum};
use crate::sock::SockOpts;
use crate::time::Instant;
use core::time::Duration;
use netd_proto::Errno;
use std::collections::VecDeque;

/// RFC 9293 §3.7.1 / RFC 1122: the send MSS when the peer sends no MSS option.
pub const DEFAULT_MSS: u16 = 536;
/// Linux's TCP_MIN_MSS: the smallest MSS it accepts from a peer or TCP_MAXSEG.
pub const MIN_MSS: u16 = 88;
/// Bytes a timestamp option adds to every segment (TCPOLEN_TSTAMP_ALIGNED).
pub const TS_OPTION_LEN: u32 = 12;
/// TCP_ATO_MIN / TCP_DELACK_MIN.
pub const ATO_MIN: Duration = Duration::from_millis(40);
/// TCP_DELACK_MAX.
pub const DELACK_MAX: Duration = Duration::from_millis(200);
/// TCP_MAX_QUICKACKS.
pub const MAX_QUICKACKS: u32 = 16;

/// Delayed-ACK state (Linux `icsk_ack`).
#[derive(Clone, Debug)]
pub struct DelAck {
    /// An ACK is owed (ICSK_ACK_SCHED).
    pub pending: bool,
    /// Send it now, not after the delay (ICSK_ACK_NOW).
    pub now: bool,
    /// Quick-ACK budget: segments to ACK at once at start or after idle.
    pub quick: u32,
    /// Interactive mode: ACKs wait to ride on our data.
    pub pingpong: bool,
    /// Current delayed-ACK timeout estimate.
    pub ato: Duration,
    /// When data last arrived.
    pub lrcvtime: Instant,
    pub deadline: Option<Instant>,
    /// Estimate of the peer's segment size (`icsk_ack.rcv_mss`).
    pub rcv_mss: u32,
}

/// Negotiated in the handshake.
#[derive(Clone, Copy, Debug, Default)]
pub struct Negotiated {
    /// The peer's MSS option (536 when absent), before TCP_MAXSEG.
    pub mss_clamp: u16,
    /// Shift applied to the peer's window field.
    pub snd_wscale: u8,
    /// Shift the peer applies to ours.
    pub rcv_wscale: u8,
    pub wscale_ok: bool,
    pub sack_ok: bool,
    pub ts_ok: bool,
}

#[derive(Debug)]
pub struct Tcb {
    pub state: ConnState,
    pub tuple: FourTuple,
    pub opts: SockOpts,
    /// Closed by the application; lives on until the handshake finishes.
    pub orphan: bool,
    /// Pending error reported once (`sk_err`).
    pub error: Option<Errno>,
    /// Last ICMP error (`sk_err_soft`), reported if the connection times out.
    pub soft_error: Option<Errno>,
    /// No more reads (SHUT_RD or close()).
    pub rcv_shutdown: bool,
    /// No more writes: a FIN follows the queued data.
    pub snd_shutdown: bool,
    /// connect() already returned 0 once (later calls get EISCONN).
    pub connect_reported: bool,

    // Send sequence space (RFC 9293 §3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// One past the highest sequence number ever sent (`snd_nxt` rewinds after an RTO).
    pub snd_max: SeqNum,
    pub snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    pub max_window: u32,
    /// Sequence number the application's next byte will get.
    pub write_seq: SeqNum,
    /// Bytes from the first unacknowledged data byte up to `write_seq`.
    pub send_buf: VecDeque<u8>,
    /// End of the last sub-MSS segment sent (Minshall's Nagle variant, `tcp_minshall_check()`).
    pub snd_sml: SeqNum,
    /// The retransmit queue and its SACK scoreboard (`tcp_rtx_queue`).
    pub rtx: RtxQueue,

    // Receive sequence space.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// `rcv_nxt` when the window was last advertised.
    pub rcv_wup: SeqNum,
    /// The window last advertised, in bytes.
    pub rcv_wnd: u32,
    pub recv_buf: VecDeque<u8>,
    /// Out-of-order data, non-overlapping (`out_of_order_queue`).
    pub ooo: OooQueue,
    /// Sequence number of a FIN that arrived out of order.
    pub ooo_fin: Option<SeqNum>,
    /// Start of the out-of-order block updated last: the first SACK block (RFC 2018 §4).
    pub ooo_last: Option<SeqNum>,
    pub fin_received: bool,

    pub neg: Negotiated,
    /// Our MSS option value.
    pub adv_mss: u16,
    /// Payload bytes per segment, options accounted for (`mss_cache`).
    pub mss: u32,
    pub ts_recent: u32,
    pub ts_recent_stamp: Instant,
    pub ts_offset: u32,

    pub rtt: RttEstimator,
    /// RTO doublings since the last forward progress (`icsk_backoff`).
    pub backoff: u32,
    /// Consecutive timeouts (`icsk_retransmits`).
    pub retransmits: u32,
    pub total_retrans: u32,
    /// Original send time of the oldest data being retransmitted (`retrans_stamp`).
    pub retrans_stamp: Option<Instant>,
    /// First SYN's send time (SYN-SENT give-up model).
    pub syn_stamp: Instant,
    /// The one transmission timer (`icsk_timeout`) and what it is for (`icsk_pending`).
    pub rtx_deadline: Option<Instant>,
    pub xmit_timer: XmitTimer,
    pub cc: Cong,
    /// Loss recovery: the congestion-avoidance state, undo, PRR, reordering.
    pub rec: Recovery,
    /// RACK-TLP's state (`tp->rack`).
    pub rack: Rack,
    /// A D-SACK block for the next ACK (`rx_opt.dsack`, `duplicate_sack`).
    pub dsack: Option<(SeqNum, SeqNum)>,
    pub ack: DelAck,
    pub persist_deadline: Option<Instant>,
    /// Zero-window probe doublings (Linux shares `icsk_backoff`; kept apart here).
    pub persist_backoff: u32,
    /// Unanswered keepalive or zero-window probes (`icsk_probes_out`).
    pub probes_out: u32,
    /// When zero-window probing started (`icsk_probes_tstamp`), for TCP_USER_TIMEOUT.
    pub probes_tstamp: Option<Instant>,
    pub keepalive_deadline: Option<Instant>,
    pub last_oow_ack: Option<Instant>,

    pub rcvbuf: usize,
    pub sndbuf: usize,
    /// What the program read per receiver RTT, for autotuning (`rcvq_space`).
    pub rcvq: super::autotune::RcvSpace,
    /// The receiver's RTT estimate (`rcv_rtt_est`).
    pub rcv_rtt: super::autotune::RcvRtt,

    // Statistics for tcp_info / ss -i.
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_in: u64,
    pub segs_out: u64,
    pub data_segs_in: u64,
    pub data_segs_out: u64,
    /// Payload bytes sent, retransmissions included (`bytes_sent`), and
    /// retransmitted (`bytes_retrans`).
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    /// RTOs fired, and episodes of them (`total_rto`, `total_rto_recoveries`).
    pub total_rto: u32,
    pub total_rto_recoveries: u32,
    /// Segments that arrived out of order (`rcv_ooopack`).
    pub rcv_ooopack: u32,
    /// When any segment last left (`tcp_wstamp_ns`).
    pub last_xmit: Instant,
    pub last_data_sent: Instant,
    pub last_data_recv: Instant,
    pub last_ack_recv: Instant,
}

impl Tcb {
    /// A control block with no connection yet; the caller fills the
    /// sequence space for an active or passive open.
    pub fn new(ctx: &Ctx, tuple: FourTuple, opts: SockOpts, mtu: usize) -> Tcb {
        let now = ctx.now;
        let route_mss = (mtu.saturating_sub(40)).min(usize::from(u16::MAX)) as u16;
        let adv_mss = match opts.maxseg {
            0 => route_mss,
            user => user.min(route_mss),
        };
        let rcvbuf = opts
            .rcvbuf
            .unwrap_or(ctx.sysctl.tcp_rmem[1].max(1) as usize);
        let sndbuf = opts
            .sndbuf
            .unwrap_or(ctx.sysctl.tcp_wmem[1].max(1) as usize);
        let iss = ctx.secrets.isn(&tuple, now);
        Tcb {
            state: ConnState::Closed,
            tuple,
            opts,
            orphan: false,
            error: None,
            soft_error: None,
            rcv_shutdown: false,
            snd_shutdown: false,
            connect_reported: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_window: 0,
            write_seq: iss + 1,
            send_buf: VecDeque::new(),
            snd_sml: iss,
            rtx: RtxQueue::default(),
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_wup: SeqNum(0),
            rcv_wnd: 0,
            recv_buf: VecDeque::new(),
            ooo: OooQueue::default(),
            ooo_fin: None,
            ooo_last: None,
            fin_received: false,
            neg: Negotiated {
                mss_clamp: DEFAULT_MSS,
                ..Negotiated::default()
            },
            adv_mss,
            mss: u32::from(DEFAULT_MSS),
            ts_recent: 0,
            ts_recent_stamp: now,
            ts_offset: 0,
            rtt: RttEstimator::default(),
            backoff: 0,
            retransmits: 0,
            total_retrans: 0,
            retrans_stamp: None,
            syn_stamp: now,
            rtx_deadline: None,
            xmit_timer: XmitTimer::Retrans,
            // TCP_CONGESTION, else net.ipv4.tcp_congestion_control.
            cc: Cong::new(
                opts.congestion
                    .and_then(|n| Algo::from_padded(&n))
                    .or_else(|| Algo::by_name(&ctx.sysctl.tcp_congestion_control))
                    .unwrap_or(Algo::Reno),
            ),
            rec: Recovery::new(iss, ctx.sysctl),
            rack: Rack::default(),
            dsack: None,
            ack: DelAck {
                pending: false,
                now: false,
                quick: 0,
                pingpong: false,
                ato: ATO_MIN,
                lrcvtime: now,
                deadline: None,
                rcv_mss: u32::from(DEFAULT_MSS),
            },
            persist_deadline: None,
            persist_backoff: 0,
            probes_out: 0,
            probes_tstamp: None,
            keepalive_deadline: None,
            last_oow_ack: None,
            rcvbuf,
            sndbuf,
            rcvq: super::autotune::RcvSpace::new(now, adv_mss),
            rcv_rtt: super::autotune::RcvRtt::new(),
            bytes_acked: 0,
            bytes_received: 0,
            segs_in: 0,
            segs_out: 0,
            data_segs_in: 0,
            data_segs_out: 0,
            bytes_sent: 0,
            bytes_retrans: 0,
            total_rto: 0,
            total_rto_recoveries: 0,
            rcv_ooopack: 0,
            last_xmit: now,
            last_data_sent: now,
            last_data_recv: now,
            last_ack_recv: now,
        }
    }

    /// Replace the ISS (TIME-WAIT reuse sets it from the old connection).
    pub fn set_iss(&mut self, iss: SeqNum) {
        self.iss = iss;
        self.snd_una = iss;
        self.snd_nxt = iss;
        self.snd_max = iss;
        self.write_seq = iss + 1;
        self.snd_sml = iss;
        self.rec.high_seq = iss;
        self.rec.cwnd_usage_seq = iss;
        self.snd_wl2 = iss;
    }

    /// Window scale we offer: the smallest shift that lets the largest
    /// receive buffer be advertised (`tcp_select_initial_window()`).
    pub fn choose_rcv_wscale(ctx: &Ctx, rcvbuf: usize) -> u8 {
        let mut space = (ctx.sysctl.tcp_rmem[2].max(ctx.sysctl.rmem_max) as usize).max(rcvbuf);
        let mut shift = 0;
        while space > 65535 && shift < 14 {
            space >>= 1;
            shift += 1;
        }
        shift
    }

    /// Apply what the handshake negotiated and size the MSS and cwnd.
    pub fn set_negotiated(&mut self, neg: Negotiated) {
        self.neg = neg;
        let mut mss = u32::from(neg.mss_clamp.min(self.adv_mss));
        if self.opts.maxseg != 0 {
            mss = mss.min(u32::from(self.opts.maxseg));
        }
        if neg.ts_ok {
            mss = mss.saturating_sub(TS_OPTION_LEN);
        }
        self.mss = mss.max(u32::from(MIN_MSS) - TS_OPTION_LEN);
        self.cc.cwnd = super::cong::INITIAL_WINDOW_SEGMENTS;
        // tcp_initialize_rcv_mss(): min(advmss, mss_cache, 536) until segments are measured.
        self.ack.rcv_mss = self.mss.min(u32::from(DEFAULT_MSS));
    }

    /// Bytes queued to send that the peer has not acknowledged (ss Send-Q, SIOCOUTQ).
    pub fn send_queue_len(&self) -> usize {
        self.send_buf.len()
    }

    /// Free send-buffer space. Like Linux's `tcp_sndbuf_expand()`, the buffer
    /// grows with the congestion window unless SO_SNDBUF fixed it.
    pub fn send_space(&self, wmem_max: i64) -> usize {
        let limit = if self.opts.sndbuf.is_some() {
            self.sndbuf
        } else {
            self.sndbuf
                .max((2 * self.cc.cwnd as usize * self.mss as usize).min(wmem_max.max(0) as usize))
        };
        limit.saturating_sub(self.send_buf.len())
    }

    pub fn ooo_bytes(&self) -> usize {
        self.ooo.bytes()
    }

    /// Receive-buffer space not yet used by queued or out-of-order data.
    pub fn rcv_free(&self) -> usize {
        self.rcvbuf
            .saturating_sub(self.recv_buf.len() + self.ooo_bytes())
    }

    /// What is left of the window we last advertised (`tcp_receive_window()`).
    pub fn receive_window(&self) -> u32 {
        let right = self.rcv_wup + self.rcv_wnd;
        if right.after(self.rcv_nxt) {
            right - self.rcv_nxt
        } else {
            0
        }
    }

    /// Bytes sent and not cumulatively acknowledged, SYN and FIN included.
    pub fn flight(&self) -> u32 {
        self.snd_nxt - self.snd_una
    }

    /// `tcp_packets_in_flight()`: packets_out - (sacked_out + lost_out) + retrans_out.
    pub fn packets_in_flight(&self) -> u32 {
        self.rtx.in_flight()
    }

    /// SACK is in use on this connection (`tcp_is_sack()`); else Reno emulates it.
    pub fn is_sack(&self) -> bool {
        self.neg.sack_ok
    }

    /// Our FIN has been sent (it occupies `write_seq`).
    pub fn fin_sent(&self) -> bool {
        self.snd_shutdown && self.snd_max.after(self.write_seq)
    }

    /// Our FIN has been acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.snd_shutdown && self.snd_una.after(self.write_seq)
    }

    pub fn rto(&self) -> Duration {
        self.rtt.rto(self.backoff)
    }

    /// The earliest timer this block has armed.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.rtx_deadline,
            self.ack.deadline,
            self.persist_deadline,
            self.keepalive_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The connection is gone and only the application's handle may remain.
    pub fn is_closed(&self) -> bool {
        self.state == ConnState::Closed
    }

    /// Move to CLOSED, dropping timers and unsent data (`tcp_done()`).
    pub fn done(&mut self) {
        self.state = ConnState::Closed;
        self.rtx_deadline = None;
        self.ack.deadline = None;
        self.ack.pending = false;
        self.persist_deadline = None;
        self.keepalive_deadline = None;
        self.send_buf.clear();
        self.rtx.clear();
        self.ooo.clear();
        self.rcv_shutdown = true;
        self.snd_shutdown = true;
    }

    /// Record an error for the application (reported once) and close.
    pub fn abort(&mut self, err: Errno) {
        self.error = Some(err);
        self.done();
    }
}
