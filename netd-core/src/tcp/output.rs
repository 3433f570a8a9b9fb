//! What to send now (Linux `tcp_output.c`): window advertisement, options,
//! the transmit loop with Nagle and sender-side SWS avoidance, ACKs and resets.

use super::recovery::CaState;
use super::rtx::{pcount, TxSeg, RETRANS};
use super::tcb::Tcb;
use super::timer::XmitTimer;
use super::{ts_now, ConnState, Ctx, FourTuple, SeqNum};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

impl Ctx<'_> {
    /// Put one segment on the wire, counting it (Tcp OutSegs, OutRsts).
    pub fn send_tcp(&mut self, tuple: &FourTuple, seg: &TcpRepr, tail: &[u8]) {
        self.send_tcp_mss(tuple, seg, tail, u32::MAX);
    }

    /// As [`send_tcp`](Self::send_tcp) for a segment that may carry more than
    /// `mss` bytes (TSO): the link cuts it into `mss`-sized wire segments, and
    /// OutSegs counts those, as Linux counts `tcp_skb_pcount()`.
    pub fn send_tcp_mss(&mut self, tuple: &FourTuple, seg: &TcpRepr, tail: &[u8], mss: u32) {
        let payload = (seg.payload.len() + tail.len()) as u64;
        let segs = if payload > u64::from(mss) {
            payload.div_ceil(u64::from(mss))
        } else {
            1
        };
        self.mib.tcp.out_segs += segs;
        if seg.flags.rst() {
            self.mib.tcp.out_rsts += 1;
        }
        let ttl = self.sysctl.ip_default_ttl.clamp(1, 255) as u8;
        self.tx.tcp(
            &mut self.mib.ip,
            ttl,
            tuple.local,
            tuple.remote,
            seg,
            tail,
            mss,
        );
    }
}

/// The reset that answers `seg` when no connection wants it (RFC 9293 §3.10.7.1,
/// Linux `tcp_v4_send_reset()`): seq from the segment's ACK if it had one,
/// otherwise seq 0 with an ACK covering the segment.
pub fn reset_for(ctx: &mut Ctx, tuple: &FourTuple, seg: &TcpRepr) {
    if seg.flags.rst() {
        return;
    }
    let (seq, ack, flags) = if seg.flags.ack() {
        (seg.ack, SeqNum(0), TcpFlags::RST)
    } else {
        (
            SeqNum(0),
            seg.seq + seg.seg_len(),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    let rst = TcpRepr {
        src_port: tuple.local.port(),
        dst_port: tuple.remote.port(),
        seq,
        ack,
        flags,
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    ctx.send_tcp(tuple, &rst, &[]);
}

/// What `tcp_tso_should_defer()` decided.
enum Defer {
    No,
    Yes,
    /// Deferred, and the window is what limits the flight.
    CwndLimited,
}

impl Tcb {
    fn wscale(&self) -> u8 {
        if self.neg.wscale_ok {
            self.neg.rcv_wscale
        } else {
            0
        }
    }

    /// Choose and record the window to advertise (`tcp_select_window()`): free
    /// buffer space, zero rather than a sliver smaller than one segment
    /// (receiver SWS avoidance, RFC 9293 §3.8.6.2.2), never moving the right
    /// edge back (RFC 7323 §2.4), in units of the scale.
    fn select_window(&mut self, ctx: &mut Ctx) -> u16 {
        let scale = self.wscale();
        let cur = self.receive_window();
        let free = self.rcv_free() as u32;
        let mut win = if free < self.ack.rcv_mss && (free as usize) < self.rcvbuf / 2 {
            0
        } else {
            free
        };
        win = (win >> scale) << scale;
        if win < cur {
            let unit = (1u32 << scale) - 1;
            win = cur.saturating_add(unit) & !unit;
        }
        win = win.min(65535u32 << scale);
        if win == 0 {
            if self.rcv_wnd != 0 {
                ctx.mib.tcp_ext.tcp_to_zero_window_adv += 1;
            }
            ctx.mib.tcp_ext.tcp_want_zero_window_adv += 1;
        } else if self.rcv_wnd == 0 && self.state.is_synchronized() {
            ctx.mib.tcp_ext.tcp_from_zero_window_adv += 1;
        }
        self.rcv_wnd = win;
        self.rcv_wup = self.rcv_nxt;
        (win >> scale) as u16
    }

    fn options(&self, ctx: &Ctx, syn: bool) -> TcpOptions {
        let mut o = TcpOptions::default();
        if syn {
            o.mss = Some(self.adv_mss);
            let active = self.state == ConnState::SynSent;
            if (active && ctx.sysctl.tcp_window_scaling != 0) || self.neg.wscale_ok {
                o.wscale = Some(self.neg.rcv_wscale);
            }
            o.sack_permitted = (active && ctx.sysctl.tcp_sack != 0) || self.neg.sack_ok;
            if (active && ctx.sysctl.tcp_timestamps != 0) || self.neg.ts_ok {
                o.timestamp = Some((ts_now(ctx.now).wrapping_add(self.ts_offset), self.ts_recent));
            }
            return o;
        }
        if self.neg.ts_ok {
            o.timestamp = Some((ts_now(ctx.now).wrapping_add(self.ts_offset), self.ts_recent));
        }
        if self.neg.sack_ok {
            // RFC 2883 §4: a D-SACK block goes first.
            if let Some(d) = self.dsack {
                o.push_sack(d);
            }
        }
        if self.neg.sack_ok && !self.ooo.is_empty() {
            // RFC 2018 §4: the block holding the latest arrival first, then the rest.
            let first = self.ooo_last.and_then(|s| self.ooo.range_containing(s));
            if let Some(b) = first {
                o.push_sack(b);
            }
            // At most four blocks fit in the option.
            for b in self.ooo.ranges().filter(|b| Some(*b) != first).take(4) {
                o.push_sack(b);
            }
        }
        o
    }

    /// Sequence number of the first byte in `send_buf`.
    fn buf_seq(&self) -> SeqNum {
        if self.snd_una.after(self.iss) {
            self.snd_una
        } else {
            self.iss + 1
        }
    }

    /// Put one segment on the wire: `len` bytes of the send queue from
    /// `seq` (one TSO chunk of `pcount` packets when longer than the MSS).
    /// Every segment but an active-open SYN carries an ACK, so this also
    /// settles a pending delayed ACK (`tcp_event_ack_sent()`). The
    /// retransmit queue is the caller's.
    fn xmit(&mut self, ctx: &mut Ctx, seq: SeqNum, flags: TcpFlags, len: usize) {
        let syn = flags.syn();
        let window = if syn {
            let w = self.rcv_free().min(65535) as u32;
            self.rcv_wnd = w;
            self.rcv_wup = self.rcv_nxt;
            w as u16
        } else {
            self.select_window(ctx)
        };
        let options = self.options(ctx, syn);
        let (head, tail) = if len > 0 {
            let off = (seq - self.buf_seq()) as usize;
            let (a, b) = self.send_buf.as_slices();
            if off + len <= a.len() {
                (&a[off..off + len], &[][..])
            } else if off >= a.len() {
                (&b[off - a.len()..off - a.len() + len], &[][..])
            } else {
                (&a[off..], &b[..len - (a.len() - off)])
            }
        } else {
            (&[][..], &[][..])
        };
        let seg = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq,
            ack: if flags.ack() { self.rcv_nxt } else { SeqNum(0) },
            flags,
            window,
            urgent: 0,
            options,
            payload: head,
        };
        ctx.send_tcp_mss(&self.tuple, &seg, tail, self.mss);
        if self.neg.sack_ok && !syn {
            // The D-SACK block goes in one ACK only (tcp_options_write()).
            self.dsack = None;
        }
        self.segs_out += 1;
        self.last_xmit = ctx.now;
        if len > 0 {
            self.data_segs_out += 1;
            self.bytes_sent += len as u64;
            self.last_data_sent = ctx.now;
            // tcp_event_data_sent(): replying soon after data arrived means interactive use.
            if ctx.now.saturating_since(self.ack.lrcvtime) < self.ack.ato {
                self.ack.pingpong = true;
            }
        }
        if flags.ack() {
            self.ack.pending = false;
            self.ack.now = false;
            self.ack.deadline = None;
            self.ack.quick = self.ack.quick.saturating_sub(1);
        }
    }

    /// Send new data (or the SYN, or the FIN) at snd_nxt and queue it for
    /// retransmission (`tcp_event_new_data_sent()`).
    fn emit(&mut self, ctx: &mut Ctx, seq: SeqNum, flags: TcpFlags, len: usize) {
        if len > 0 && self.packets_in_flight() == 0 {
            // tcp_event_data_sent(): CA_EVENT_TX_START after an idle spell.
            self.cc.on_tx_start(ctx.now, self.last_data_sent);
        }
        self.xmit(ctx, seq, flags, len);
        let syn = flags.syn();
        let fin = flags.fin();
        let seg_len = len as u32 + u32::from(syn) + u32::from(fin);
        if seg_len == 0 {
            return;
        }
        let end = seq + seg_len;
        let pc = pcount(len as u32, self.mss);
        let prior_packets = self.rtx.packets_out;
        self.rtx.push(TxSeg {
            seq,
            end,
            pcount: pc,
            sacked: 0,
            sent_at: ctx.now,
            syn,
            fin,
            tx_delivered: self.rec.delivered,
            tx_order: self.rec.tx_count,
        });
        self.rec.tx_count += 1;
        if len > 0 {
            ctx.mib.tcp_ext.tcp_orig_data_sent += u64::from(pc);
        }
        if self.in_cwnd_reduction() {
            self.rec.prr_out += pc;
        }
        if end.after(self.snd_max) {
            self.snd_max = end;
        }
        if end.after(self.snd_nxt) {
            self.snd_nxt = end;
        }
        if (len as u32) < self.mss && len > 0 {
            self.snd_sml = end;
        }
        if prior_packets == 0
            || self.xmit_timer == XmitTimer::LossProbe
            || self.rtx_deadline.is_none()
        {
            self.rearm_rto(ctx.now);
        }
    }

    /// Retransmit queue entry `i`, at most `segs` packets of it
    /// (`tcp_retransmit_skb()`): split off what does not fit, send it,
    /// mark it retransmitted. Returns the packets sent, None if the
    /// receiver's window does not reach it.
    pub(super) fn retransmit_entry(&mut self, ctx: &mut Ctx, i: usize, segs: u32) -> Option<u32> {
        let prior_head_sent = self.rtx.head().map(|h| h.sent_at);
        let pc = self.resend_entry(ctx, i, segs)?;
        if self.retrans_stamp.is_none() {
            self.retrans_stamp = prior_head_sent;
        }
        if self.rec.undo_stamp.is_none() {
            self.rec.undo_stamp = Some(ctx.now);
        }
        if self.rec.undo_retrans < 0 {
            self.rec.undo_retrans = 0;
        }
        self.rec.undo_retrans += pc as i32;
        self.rtx.remark(i, RETRANS, 0);
        Some(pc)
    }

    /// `__tcp_retransmit_skb()`: send entry `i` again without the marks of
    /// a retransmission in flight, as a tail loss probe does.
    pub(super) fn resend_entry(&mut self, ctx: &mut Ctx, i: usize, segs: u32) -> Option<u32> {
        let mss = self.mss;
        let s = self.rtx.get(i)?;
        let wnd_end = self.snd_una + self.snd_wnd;
        if !s.seq.before(wnd_end) && s.seq != self.snd_una {
            return None;
        }
        let data_start = s.seq + u32::from(s.syn);
        if s.data_len() > segs.max(1) * mss {
            self.rtx.split(i, data_start + segs.max(1) * mss, mss);
        }
        let s = self.rtx.get(i)?;
        let (seq, syn, fin, len, pc, end) = (s.seq, s.syn, s.fin, s.data_len(), s.pcount, s.end);
        let flags = if syn {
            if self.state == ConnState::SynSent {
                TcpFlags::SYN
            } else {
                TcpFlags::SYN | TcpFlags::ACK
            }
        } else {
            let mut f = TcpFlags::ACK;
            if fin {
                f |= TcpFlags::FIN;
            }
            // PSH on the end of what was written, and on every TSO chunk
            // (`tcp_mark_push()`; the segmentation leaves it on the last packet).
            if len > 0 && (pc > 1 || end - u32::from(fin) == self.write_seq) {
                f |= TcpFlags::PSH;
            }
            f
        };
        self.xmit(ctx, seq, flags, len as usize);
        ctx.mib.tcp.retrans_segs += u64::from(pc);
        self.total_retrans += pc;
        self.bytes_retrans += u64::from(len);
        if let Some(e) = self.rtx.seg_mut(i) {
            e.sent_at = ctx.now;
            e.tx_delivered = self.rec.delivered;
            e.tx_order = self.rec.tx_count;
            self.rec.tx_count += 1;
        }
        Some(pc)
    }

    /// Send our SYN (SYN-SENT) or SYN-ACK (simultaneous open) at `iss`; a
    /// second call retransmits it.
    pub fn send_syn(&mut self, ctx: &mut Ctx) {
        if !self.rtx.is_empty() {
            self.retransmit_entry(ctx, 0, 1);
            return;
        }
        let flags = if self.state == ConnState::SynSent {
            TcpFlags::SYN
        } else {
            TcpFlags::SYN | TcpFlags::ACK
        };
        self.emit(ctx, self.iss, flags, 0);
    }

    /// A bare ACK (`tcp_send_ack()`).
    pub fn send_ack(&mut self, ctx: &mut Ctx) {
        self.xmit(ctx, self.snd_nxt, TcpFlags::ACK, 0);
    }

    /// An RST ending this connection from our side (`tcp_send_active_reset()`).
    pub fn send_active_reset(&mut self, ctx: &mut Ctx) {
        let seg = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: self.snd_nxt.max(self.snd_max),
            ack: self.rcv_nxt,
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        ctx.send_tcp(&self.tuple, &seg, &[]);
    }

    /// Zero-window probe: a segment one below snd_una, which the receiver must
    /// answer with its current window (`tcp_xmit_probe_skb()`).
    pub fn send_window_probe(&mut self, ctx: &mut Ctx) {
        self.xmit(ctx, self.snd_una - 1, TcpFlags::ACK, 0);
    }

    /// `tcp_write_wakeup()`: when the window is open but too small for the
    /// transmit loop (sender SWS avoidance), push what fits; otherwise send a
    /// bare probe at snd_una - 1. Returns true if data went out.
    pub fn send_probe_data(&mut self, ctx: &mut Ctx) -> bool {
        let wnd_end = self.snd_una + self.snd_wnd;
        let unsent = if self.write_seq.after(self.snd_nxt) {
            (self.write_seq - self.snd_nxt) as usize
        } else {
            0
        };
        let avail = if wnd_end.after(self.snd_nxt) {
            (wnd_end - self.snd_nxt) as usize
        } else {
            0
        };
        let len = unsent.min(avail).min(self.mss as usize);
        if len == 0 {
            self.send_window_probe(ctx);
            return false;
        }
        let mut flags = TcpFlags::ACK;
        if len == unsent {
            flags |= TcpFlags::PSH;
            if self.snd_shutdown {
                flags |= TcpFlags::FIN;
            }
        }
        self.emit(ctx, self.snd_nxt, flags, len);
        true
    }

    /// `tcp_update_pacing_rate()`, bytes per second: 200 % of cwnd·mss/srtt
    /// in slow start below half ssthresh, 120 % after
    /// (`tcp_pacing_ss_ratio`, `tcp_pacing_ca_ratio`). netd does not pace;
    /// the rate sizes TSO chunks, as Linux's does.
    pub fn pacing_rate(&self, sysctl: &crate::sysctl::Sysctl) -> u64 {
        let ratio = if self.cc.cwnd < self.cc.ssthresh / 2 {
            sysctl.tcp_pacing_ss_ratio
        } else {
            sysctl.tcp_pacing_ca_ratio
        };
        let pkts = u64::from(self.cc.cwnd.max(self.rtx.packets_out));
        let bytes = u64::from(self.mss) * ratio.max(0) as u64 / 100 * pkts;
        match self.rtt.srtt {
            Some(srtt) => bytes * 1_000_000 / (srtt.as_micros() as u64).max(1),
            None => u64::MAX >> 8,
        }
    }

    /// `tcp_tso_autosize()`: packets per TSO chunk, about 1 ms of the pacing
    /// rate (`sk_pacing_shift` 10), plus a bonus for short RTTs
    /// (`tcp_tso_rtt_log`), at least `tcp_min_tso_segs`, at most what the
    /// link segments.
    pub(super) fn tso_segs(&self, ctx: &Ctx) -> u32 {
        let mss = self.mss.max(1);
        let gso_max = u64::from(ctx.tx.size_goal(mss));
        if gso_max <= u64::from(mss) {
            return 1;
        }
        let mut bytes = self.pacing_rate(ctx.sysctl) >> 10;
        let min_rtt_us = self.rtt.min_rtt.map_or(0, |m| m.as_micros() as u64);
        let r = min_rtt_us >> 9;
        if r < 32 {
            bytes += gso_max >> r;
        }
        bytes = bytes.min(gso_max);
        let segs = (bytes / u64::from(mss)) as u32;
        segs.max(ctx.sysctl.tcp_min_tso_segs.clamp(1, 255) as u32)
            .min((gso_max / u64::from(mss)) as u32)
            .max(1)
    }

    /// `tcp_tso_should_defer()`: hold a chunk of `skb_len` bytes back when
    /// more window is about to open (an ACK due within min(SRTT/2, 1 ms))
    /// and what can go now is small: less than `tcp_tso_win_divisor` of the
    /// window, or with a divisor of 0 no more than three MSS
    /// (`tcp_max_tso_deferred_mss()`). Never in Recovery or Loss, nor after
    /// a millisecond without sending.
    fn tso_should_defer(&self, ctx: &Ctx, skb_len: u32, fin: bool, max_segs: u32) -> Defer {
        if self.rec.ca_state >= CaState::Recovery {
            return Defer::No;
        }
        if ctx.now.saturating_since(self.last_xmit) > core::time::Duration::from_millis(1) {
            return Defer::No;
        }
        let in_flight = self.packets_in_flight();
        if self.cc.cwnd <= in_flight {
            return Defer::No;
        }
        let wnd_end = self.snd_una + self.snd_wnd;
        let send_win = if wnd_end.after(self.snd_nxt) {
            wnd_end - self.snd_nxt
        } else {
            0
        };
        let mss = self.mss;
        let cong_win = (self.cc.cwnd - in_flight).saturating_mul(mss);
        let limit = send_win.min(cong_win);
        if limit >= max_segs.saturating_mul(mss) {
            return Defer::No;
        }
        let divisor = ctx.sysctl.tcp_tso_win_divisor.clamp(0, 255) as u32;
        match (self.snd_wnd.min(self.cc.cwnd.saturating_mul(mss))).checked_div(divisor) {
            Some(chunk) if limit >= chunk => return Defer::No,
            None if limit > 3 * mss => return Defer::No,
            _ => {}
        }
        let (Some(head), Some(srtt)) = (self.rtx.head(), self.rtt.srtt) else {
            return Defer::No;
        };
        let expected_ack = head.sent_at + srtt;
        let threshold = (srtt / 2).min(core::time::Duration::from_millis(1));
        if expected_ack.saturating_since(ctx.now) > threshold {
            return Defer::No;
        }
        if cong_win < send_win {
            if cong_win <= skb_len {
                return Defer::CwndLimited;
            }
        } else if send_win <= skb_len {
            return Defer::Yes;
        }
        if fin {
            return Defer::No;
        }
        Defer::Yes
    }

    /// `tcp_cwnd_test()`: packets the window lets one chunk carry now.
    fn cwnd_quota(&self) -> u32 {
        let in_flight = self.packets_in_flight();
        let cwnd = self.cc.cwnd;
        if in_flight >= cwnd {
            return 0;
        }
        (cwnd >> 1).max(1).min(cwnd - in_flight)
    }

    /// Send as much queued data (and the FIN) as the windows allow
    /// (`tcp_write_xmit()`). Returns true if anything was sent.
    pub fn transmit(&mut self, ctx: &mut Ctx) -> bool {
        self.write_xmit(ctx, false)
    }

    /// `__tcp_push_pending_frames(TCP_NAGLE_OFF)` (F-RTO's new data).
    pub(super) fn transmit_nagle_off(&mut self, ctx: &mut Ctx) -> bool {
        self.write_xmit(ctx, true)
    }

    fn write_xmit(&mut self, ctx: &mut Ctx, nagle_off: bool) -> bool {
        if !matches!(
            self.state,
            ConnState::Established
                | ConnState::CloseWait
                | ConnState::FinWait1
                | ConnState::Closing
                | ConnState::LastAck
        ) {
            return false;
        }
        let mut sent = false;
        let mut is_cwnd_limited = false;
        let max_segs = self.tso_segs(ctx);
        loop {
            let unsent = if self.write_seq.after(self.snd_nxt) {
                (self.write_seq - self.snd_nxt) as usize
            } else {
                0
            };
            let fin_due = self.snd_shutdown && self.snd_nxt.before_eq(self.write_seq);
            if unsent == 0 && !fin_due {
                break;
            }
            let quota = self.cwnd_quota();
            if quota == 0 {
                is_cwnd_limited = true;
                break;
            }
            let wnd_end = self.snd_una + self.snd_wnd;
            let wnd_avail = if wnd_end.after(self.snd_nxt) {
                (wnd_end - self.snd_nxt) as usize
            } else {
                0
            };
            let goal = (ctx.tx.size_goal(self.mss) as usize)
                .min((quota.min(max_segs) * self.mss) as usize)
                .max(self.mss as usize);
            // TSO deferral: wait for an ACK due within a millisecond rather
            // than send a small chunk now (`tcp_tso_should_defer()`).
            let skb_len = unsent.min((max_segs * self.mss) as usize);
            let fin = self.snd_shutdown && skb_len == unsent;
            if !nagle_off && skb_len > self.mss as usize {
                match self.tso_should_defer(ctx, skb_len as u32, fin, max_segs) {
                    Defer::No => {}
                    Defer::CwndLimited => {
                        is_cwnd_limited = true;
                        break;
                    }
                    Defer::Yes => break,
                }
            }
            let mut len = unsent.min(goal).min(wnd_avail);
            if len > self.mss as usize && len < unsent {
                // A TSO segment cut by the window carries whole MSS only, so
                // no runt goes out in the middle of the stream (`tcp_mss_split_point()`).
                len -= len % self.mss as usize;
            }
            if unsent > 0 && len == 0 {
                if wnd_avail == 0 && self.snd_nxt == self.snd_una {
                    self.arm_persist(ctx);
                }
                break;
            }
            let is_tail = len == unsent;
            if len < self.mss as usize && !is_tail {
                // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a window-limited
                // runt goes out only if it is at least half the largest window seen.
                if (len as u32) < self.max_window / 2 {
                    if self.snd_nxt == self.snd_una {
                        self.arm_persist(ctx);
                    }
                    break;
                }
            }
            let with_fin = is_tail && self.snd_shutdown;
            if is_tail
                && len > 0
                && len < self.mss as usize
                && !with_fin
                && !self.opts.nodelay
                && !nagle_off
            {
                // Nagle, Minshall's variant (`tcp_nagle_check()`): hold a runt
                // while an earlier runt is unacknowledged.
                let runt_in_flight =
                    self.snd_sml.after(self.snd_una) && self.snd_sml.before_eq(self.snd_nxt);
                if runt_in_flight && self.flight() > 0 {
                    break;
                }
            }
            let mut flags = TcpFlags::ACK;
            if len > 0 && (is_tail || len > self.mss as usize) {
                flags |= TcpFlags::PSH;
            }
            if with_fin {
                flags |= TcpFlags::FIN;
            }
            self.emit(ctx, self.snd_nxt, flags, len);
            sent = true;
            if with_fin {
                break;
            }
        }
        if sent {
            self.persist_deadline = None;
            // One loss probe per tail (tcp_write_xmit()).
            self.schedule_loss_probe(ctx, false);
        }
        is_cwnd_limited |= self.packets_in_flight() >= self.cc.cwnd;
        self.cwnd_validate(is_cwnd_limited);
        sent
    }

    pub(crate) fn arm_persist(&mut self, ctx: &Ctx) {
        if self.persist_deadline.is_none() && self.rtx_deadline.is_none() {
            self.persist_deadline = Some(ctx.now + self.probe0_when());
        }
    }

    /// `tcp_probe0_when()`: max(RTO, TCP_RTO_MIN) doubled per probe, capped at TCP_RTO_MAX.
    pub(crate) fn probe0_when(&self) -> core::time::Duration {
        let base = self.rtt.rto(0).max(super::rtt::RTO_MIN);
        let mut when = base;
        for _ in 0..self.persist_backoff {
            when = (when * 2).min(super::rtt::RTO_MAX);
        }
        when
    }
}
