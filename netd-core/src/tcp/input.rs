//! Segment arrival for an existing connection (RFC 9293 §3.10.7.3-4, Linux
//! `tcp_rcv_state_process()`, `tcp_validate_incoming()`, `tcp_ack()`,
//! `tcp_data_queue()`, `tcp_fin()`, `__tcp_ack_snd_check()`).

use super::ooo::BLOCK_OVERHEAD;
use super::output::reset_for;
use super::tcb::{Negotiated, Tcb, ATO_MIN, DEFAULT_MSS, DELACK_MAX, MAX_QUICKACKS, MIN_MSS};
use super::{ts_now, ConnState, Ctx, SeqNum};
use crate::mib::Mib;
use crate::wire::tcp::{TcpOptions, TcpRepr};
use core::time::Duration;
use netd_proto::Errno;

/// RFC 7323 §5.5: timestamps older than 24 days are no longer compared.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// What a peer's SYN offers, intersected with what we offer (`tcp_parse_options()`
/// honours MSS/WS/SACK-permitted only on SYNs, and only when the sysctl is on).
pub fn negotiate(ours: &Negotiated, theirs: &TcpOptions) -> Negotiated {
    let wscale_ok = ours.wscale_ok && theirs.wscale.is_some();
    Negotiated {
        mss_clamp: theirs.mss.map_or(DEFAULT_MSS, |m| m.max(MIN_MSS)),
        // RFC 7323 §2.3: a shift above 14 is used as 14.
        snd_wscale: if wscale_ok {
            theirs.wscale.unwrap_or(0).min(14)
        } else {
            0
        },
        rcv_wscale: if wscale_ok { ours.rcv_wscale } else { 0 },
        wscale_ok,
        sack_ok: ours.sack_ok && theirs.sack_permitted,
        ts_ok: ours.ts_ok && theirs.timestamp.is_some(),
    }
}

impl Tcb {
    pub fn on_segment(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        self.segs_in += 1;
        match self.state {
            ConnState::SynSent => self.rcv_synsent(ctx, seg),
            ConnState::Closed | ConnState::TimeWait => {}
            _ => self.rcv_synchronized(ctx, seg),
        }
    }

    /// Leave for CLOSED, counting as `tcp_set_state(TCP_CLOSE)` does.
    pub fn close_counted(&mut self, mib: &mut Mib) {
        match self.state {
            ConnState::Established | ConnState::CloseWait => mib.tcp.estab_resets += 1,
            ConnState::SynSent | ConnState::SynRcvd => mib.tcp.attempt_fails += 1,
            _ => {}
        }
        self.done();
    }

    /// The peer reset the connection (`tcp_reset()`): the error depends on the state.
    fn on_reset(&mut self, ctx: &mut Ctx) {
        let err = match self.state {
            ConnState::SynSent | ConnState::SynRcvd => Errno::ECONNREFUSED,
            ConnState::CloseWait => Errno::EPIPE,
            _ => Errno::ECONNRESET,
        };
        self.close_counted(ctx.mib);
        self.error = Some(err);
    }

    /// RFC 7323 §4.3, as `tcp_ack()` calls `tcp_replace_ts_recent()`: only
    /// from a segment whose ACK was acceptable (FLAG_UPDATE_TS_RECENT), so
    /// a forged segment without an ACK, with a SYN or with an ACK for data
    /// never sent cannot move TS.Recent and make PAWS reject the real peer.
    pub(super) fn replace_ts_recent(&mut self, ctx: &Ctx, seg: &TcpRepr) {
        if !self.neg.ts_ok {
            return;
        }
        if let Some((tsval, _)) = seg.options.timestamp {
            if seg.seq.before_eq(self.rcv_wup) && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
                self.ts_recent_stamp = ctx.now;
            }
        }
    }

    fn take_ts(&mut self, ctx: &Ctx, seg: &TcpRepr) {
        if let Some((tsval, _)) = seg.options.timestamp {
            self.ts_recent = tsval;
            self.ts_recent_stamp = ctx.now;
        }
    }

    /// SYN-SENT (RFC 9293 §3.10.7.3, `tcp_rcv_synsent_state_process()`).
    fn rcv_synsent(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        if seg.flags.ack() {
            if seg.ack.before_eq(self.iss) || seg.ack.after(self.snd_max) {
                reset_for(ctx, &self.tuple, seg);
                return;
            }
            if seg.flags.rst() {
                self.on_reset(ctx);
                return;
            }
        } else if seg.flags.rst() {
            return;
        }
        if !seg.flags.syn() {
            return;
        }
        let neg = negotiate(&self.neg, &seg.options);
        self.set_negotiated(neg);
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_wup = self.rcv_nxt;
        self.take_ts(ctx, seg);
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(seg.window);
        self.max_window = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        if seg.flags.ack() {
            self.ack_synack(ctx, seg);
            self.state = ConnState::Established;
            self.arm_keepalive(ctx.now, ctx.sysctl);
            self.ack.lrcvtime = ctx.now;
            self.send_ack(ctx);
            if !seg.payload.is_empty() || seg.flags.fin() {
                self.process_data(ctx, seg);
                self.ack_snd_check(ctx);
            }
            self.transmit(ctx);
        } else {
            // Simultaneous open: answer with SYN-ACK from the same ISS; the
            // SYN's transmission record is replaced, not counted as a retransmit.
            self.state = ConnState::SynRcvd;
            self.rtx.clear();
            self.snd_max = self.iss;
            self.snd_nxt = self.iss;
            self.send_syn(ctx);
        }
    }

    /// Our SYN was acknowledged: take the RTT sample and clear the SYN timer.
    fn ack_synack(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        let mut rtt = None;
        if let Some(s) = self.rtx.pop_head() {
            if !s.is(super::rtx::EVER_RETRANS) {
                rtt = Some(ctx.now - s.sent_at);
            }
        }
        self.rec.undo_stamp = None;
        if rtt.is_none() && self.neg.ts_ok {
            if let Some((_, ecr)) = seg.options.timestamp.filter(|t| t.1 != 0) {
                let ms = ts_now(ctx.now).wrapping_sub(ecr.wrapping_sub(self.ts_offset));
                rtt = Some(Duration::from_millis(u64::from(ms)));
            }
        }
        match rtt {
            Some(r) => self.rtt.sample(r),
            // TCP_TIMEOUT_FALLBACK: no sample after a retransmitted handshake.
            None if self.retransmits > 0 => self.rtt.fallback(),
            None => {}
        }
        self.snd_una = seg.ack;
        self.backoff = 0;
        self.retransmits = 0;
        self.cc.init(ctx.now, self.snd_nxt.0);
        self.rtx_deadline = None;
        self.xmit_timer = super::timer::XmitTimer::Retrans;
    }

    /// The acceptability test of `tcp_sequence()`: the segment must end no
    /// earlier than the last advertised edge and start within the window.
    fn sequence_ok(&self, seg: &TcpRepr) -> bool {
        let end = seg.seq + seg.seg_len();
        !end.before(self.rcv_wup) && !seg.seq.after(self.rcv_nxt + self.receive_window())
    }

    /// Limit ACKs sent for invalid segments (`tcp_oow_rate_limited()`): data
    /// segments are never limited, bare ACKs and SYNs once per tcp_invalid_ratelimit.
    fn oow_rate_limited(&mut self, ctx: &Ctx, seg: &TcpRepr) -> bool {
        if !seg.payload.is_empty() && !seg.flags.syn() {
            return false;
        }
        let gap = Duration::from_millis(ctx.sysctl.tcp_invalid_ratelimit.max(0) as u64);
        if let Some(last) = self.last_oow_ack {
            if ctx.now.saturating_since(last) < gap {
                return true;
            }
        }
        self.last_oow_ack = Some(ctx.now);
        false
    }

    /// `tcp_send_dupack()`: a retransmission we already have means our ACK
    /// was lost, so ACK at once and leave delayed-ACK mode.
    fn send_dupack(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        if seg.seg_len() > 0 && seg.seq.before(self.rcv_nxt) {
            ctx.mib.tcp_ext.delayed_ack_lost += 1;
            self.enter_quickack();
            // RFC 2883 §4.1.1: report the duplicate with a D-SACK block.
            let end = (seg.seq + seg.seg_len()).min(self.rcv_nxt);
            self.dsack_set(ctx, seg.seq, end);
        }
        if self.oow_rate_limited(ctx, seg) {
            ctx.mib.tcp_ext.tcp_ack_skipped_seq += 1;
            return;
        }
        self.send_ack(ctx);
    }

    /// RFC 5961 challenge ACK (`tcp_send_challenge_ack()`).
    /// First the per-socket limit (for every kind of segment, unlike other
    /// out-of-window ACKs), then the per-namespace `tcp_challenge_ack_limit`.
    pub fn challenge_ack(&mut self, ctx: &mut Ctx, _seg: &TcpRepr) {
        let gap = Duration::from_millis(ctx.sysctl.tcp_invalid_ratelimit.max(0) as u64);
        if let Some(last) = self.last_oow_ack {
            if ctx.now.saturating_since(last) < gap {
                ctx.mib.tcp_ext.tcp_ack_skipped_challenge += 1;
                return;
            }
        }
        self.last_oow_ack = Some(ctx.now);
        if !ctx.challenge.allow(
            ctx.now,
            ctx.sysctl.tcp_challenge_ack_limit,
            &ctx.secrets.isn,
        ) {
            return;
        }
        ctx.mib.tcp_ext.tcp_challenge_ack += 1;
        self.send_ack(ctx);
    }

    fn rcv_synchronized(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        // PAWS, RFC 7323 §5.3; an RST is exempt (Linux processes it whatever its timestamp).
        if self.neg.ts_ok && !seg.flags.rst() {
            if let Some((tsval, _)) = seg.options.timestamp {
                let stale = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                if stale && ctx.now.saturating_since(self.ts_recent_stamp) < PAWS_IDLE {
                    ctx.mib.tcp_ext.paws_estab += 1;
                    self.send_dupack(ctx, seg);
                    return;
                }
            }
        }
        if !self.sequence_ok(seg) {
            if seg.flags.rst() {
                return;
            }
            if seg.flags.syn() {
                ctx.mib.tcp_ext.tcp_syn_challenge += 1;
                self.challenge_ack(ctx, seg);
                return;
            }
            self.send_dupack(ctx, seg);
            return;
        }
        // RFC 5961 §3.2: only an RST at exactly rcv_nxt resets; others in the
        // window get a challenge ACK.
        if seg.flags.rst() {
            if seg.seq == self.rcv_nxt {
                self.on_reset(ctx);
            } else {
                self.challenge_ack(ctx, seg);
            }
            return;
        }
        if seg.flags.syn() {
            // Linux lets the peer's SYN-ACK through in SYN-RECV after a
            // simultaneous open; any other SYN gets a challenge (RFC 5961 §4.2).
            let simopen = self.state == ConnState::SynRcvd
                && seg.flags.ack()
                && seg.seq + 1 == self.rcv_nxt
                && seg.ack == self.snd_nxt;
            if !simopen {
                ctx.mib.tcp_ext.tcp_syn_challenge += 1;
                self.challenge_ack(ctx, seg);
                return;
            }
        }
        if !seg.flags.ack() {
            return;
        }
        if self.state == ConnState::SynRcvd {
            if seg.ack.after(self.snd_una) && seg.ack.before_eq(self.snd_nxt) {
                self.ack_synack(ctx, seg);
                self.state = ConnState::Established;
                self.arm_keepalive(ctx.now, ctx.sysctl);
                self.snd_wnd = if seg.flags.syn() {
                    u32::from(seg.window)
                } else {
                    u32::from(seg.window) << self.neg.snd_wscale
                };
                self.max_window = self.max_window.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
            } else {
                reset_for(ctx, &self.tuple, seg);
                return;
            }
        }
        if !self.process_ack(ctx, seg) {
            return;
        }
        match self.state {
            ConnState::FinWait1 if self.fin_acked() => self.state = ConnState::FinWait2,
            ConnState::Closing if self.fin_acked() => {
                self.state = ConnState::TimeWait;
                return;
            }
            ConnState::LastAck if self.fin_acked() => {
                self.done();
                return;
            }
            _ => {}
        }
        self.process_data(ctx, seg);
        if self.is_closed() || self.state == ConnState::TimeWait {
            return;
        }
        self.transmit(ctx);
        self.ack_snd_check(ctx);
    }

    /// `tcp_incr_quickack()`.
    fn incr_quickack(&mut self) {
        let q = (self.rcv_wnd / (2 * self.ack.rcv_mss.max(1))).clamp(2, MAX_QUICKACKS);
        self.ack.quick = self.ack.quick.max(q);
    }

    /// `tcp_enter_quickack_mode()`.
    pub fn enter_quickack(&mut self) {
        self.incr_quickack();
        self.ack.pingpong = false;
        self.ack.ato = ATO_MIN;
        self.ack.pending = true;
        self.ack.now = true;
    }

    /// In-order data arrived (`tcp_event_data_recv()`, `tcp_measure_rcv_mss()`).
    fn event_data_recv(&mut self, ctx: &Ctx, len: u32) {
        self.ack.pending = true;
        if len >= self.ack.rcv_mss {
            self.ack.rcv_mss = len.min(u32::from(self.adv_mss));
        }
        let now = ctx.now;
        if self.data_segs_in == 0 {
            // The first data segment starts the delayed-ACK engine in quick-ACK mode.
            self.incr_quickack();
            self.ack.ato = ATO_MIN;
        } else {
            let m = now.saturating_since(self.ack.lrcvtime);
            let rto = self.rto();
            if m <= ATO_MIN / 2 {
                self.ack.ato = self.ack.ato / 2 + ATO_MIN / 2;
            } else if m < self.ack.ato {
                self.ack.ato = (self.ack.ato / 2 + m).min(rto);
            } else if m > rto {
                // Idle longer than an RTO: quick ACKs again.
                self.incr_quickack();
            }
        }
        self.ack.lrcvtime = now;
        self.data_segs_in += 1;
        self.last_data_recv = now;
    }

    /// Payload and FIN (`tcp_data_queue()`, `tcp_fin()`).
    fn process_data(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        let mut data = seg.payload;
        let mut fin = seg.flags.fin();
        if data.is_empty() && !fin {
            return;
        }
        let mut seq = seg.seq;
        if !matches!(
            self.state,
            ConnState::Established | ConnState::FinWait1 | ConnState::FinWait2
        ) {
            // The peer's FIN is already in: anything more is a retransmission.
            ctx.mib.tcp_ext.delayed_ack_lost += 1;
            self.enter_quickack();
            return;
        }
        // Data after close(): nobody will read it, so reset (RFC 2525 §2.17,
        // Linux tcp_rcv_state_process() for FIN-WAIT-1/2 with RCV_SHUTDOWN).
        let closing = matches!(self.state, ConnState::FinWait1 | ConnState::FinWait2);
        if closing
            && self.rcv_shutdown
            && !data.is_empty()
            && (seq + data.len() as u32).after(self.rcv_nxt)
        {
            ctx.mib.tcp_ext.tcp_abort_on_data += 1;
            reset_for(ctx, &self.tuple, seg);
            self.close_counted(ctx.mib);
            self.error = Some(Errno::ECONNRESET);
            return;
        }
        if seq.before(self.rcv_nxt) {
            let skip = (self.rcv_nxt - seq) as usize;
            if skip >= data.len() {
                let fin_is_new = fin && seq + data.len() as u32 == self.rcv_nxt;
                if !fin_is_new {
                    // Entirely old: our ACK was lost. Say so with a D-SACK
                    // (RFC 2883 §4.1.1, tcp_data_queue() -> tcp_dsack_set()).
                    ctx.mib.tcp_ext.delayed_ack_lost += 1;
                    self.dsack_set(ctx, seq, seq + data.len() as u32);
                    self.enter_quickack();
                    return;
                }
                data = &[];
            } else {
                // Partly old: D-SACK the old part (RFC 2883 §4.1.3).
                self.dsack_set(ctx, seq, self.rcv_nxt);
                data = &data[skip..];
            }
            seq = self.rcv_nxt;
        }
        // Accept what fits in the advertised window or the free buffer.
        let room = self.receive_window().max(self.rcv_free() as u32) as usize;
        let offset = (seq - self.rcv_nxt) as usize;
        if offset >= room && !(data.is_empty() && offset == 0) {
            if !data.is_empty() {
                ctx.mib.tcp_ext.tcp_zero_window_drop += 1;
            }
            self.enter_quickack();
            return;
        }
        if offset + data.len() > room {
            data = &data[..room - offset];
            fin = false;
        }
        if seq == self.rcv_nxt {
            if !data.is_empty() {
                self.recv_buf.extend(data);
                self.rcv_nxt += data.len() as u32;
                self.bytes_received += data.len() as u64;
                self.event_data_recv(ctx, data.len() as u32);
                let tsecr = seg.options.timestamp.map(|(_, ecr)| ecr);
                self.rcv_rtt_measure(ctx, data.len() as u32, tsecr);
            }
            let had_ooo = !self.ooo.is_empty();
            let moved = self.ooo.drain(self.rcv_nxt, &mut self.recv_buf);
            self.bytes_received += moved as u64;
            self.rcv_nxt += moved as u32;
            if had_ooo && self.ooo.is_empty() {
                // A hole was filled: tell the sender at once.
                self.ack.now = true;
            }
            if fin || self.ooo_fin == Some(self.rcv_nxt) {
                self.on_fin(ctx);
            }
        } else {
            if !data.is_empty() {
                if !self.ooo_room(ctx, seq, data.len()) {
                    ctx.mib.tcp_ext.tcp_ofo_drop += 1;
                    self.ack.pending = true;
                    self.ack.now = true;
                    return;
                }
                ctx.mib.tcp_ext.tcp_ofo_queue += 1;
                self.rcv_ooopack += 1;
                // Out-of-order data we already hold: D-SACK the overlap
                // (RFC 2883 §4.1.2, tcp_data_queue_ofo()).
                let end = seq + data.len() as u32;
                let dup = self
                    .ooo
                    .ranges()
                    .find(|&(l, r)| l.before(end) && r.after(seq))
                    .map(|(l, r)| (l.max(seq), r.min(end)));
                if let Some((l, r)) = dup {
                    self.dsack_set(ctx, l, r);
                }
                self.ooo.insert(self.rcv_nxt, seq, data);
                self.ooo_last = Some(seq);
            }
            if fin {
                self.ooo_fin = Some(seq + data.len() as u32);
            }
            self.ack.pending = true;
            self.ack.now = true;
        }
    }

    /// Room for an out-of-order arrival of `len` bytes at `seq`
    /// (`tcp_try_rmem_schedule()` and `tcp_prune_queue()`): what is queued,
    /// counted by truesize, may reach twice the receive buffer. Linux's
    /// window is half its buffer (tcp_adv_win_scale 1), so its limit lets
    /// truesize be twice what the window can bring; netd advertises its
    /// whole buffer, so twice the buffer keeps the same proportion, and no
    /// well-sized segment the window allows is refused. Past it, blocks above
    /// `seq` are pruned from the top (OfoPruned); an arrival that would
    /// still not fit is dropped (the caller counts TCPOFODrop).
    fn ooo_room(&mut self, ctx: &mut Ctx, seq: SeqNum, len: usize) -> bool {
        let limit = 2 * self.rcvbuf;
        let need = len + BLOCK_OVERHEAD;
        let used = self.recv_buf.len() + self.ooo.truesize();
        if used + need <= limit {
            return true;
        }
        ctx.mib.tcp_ext.prune_called += 1;
        if self.ooo.prune_above(seq, used + need - limit) {
            ctx.mib.tcp_ext.ofo_pruned += 1;
            // A conforming SACK receiver resets its SACK state (as Linux's
            // tcp_sack_reset() after pruning): the latest block is gone.
            self.ooo_last = None;
        }
        let fits = self.recv_buf.len() + self.ooo.truesize() + need <= limit;
        if !fits {
            ctx.mib.tcp_ext.rcv_pruned += 1;
        }
        fits
    }

    /// `tcp_fin()`: the peer will send no more.
    fn on_fin(&mut self, ctx: &mut Ctx) {
        self.rcv_nxt += 1;
        self.fin_received = true;
        self.ooo.clear();
        self.ooo_fin = None;
        self.ack.pending = true;
        match self.state {
            ConnState::Established => {
                self.state = ConnState::CloseWait;
                // Linux enters pingpong here, so the ACK of the FIN waits to
                // ride on the application's own FIN if it closes at once.
                self.ack.pingpong = true;
            }
            ConnState::FinWait1 => {
                self.send_ack(ctx);
                self.state = ConnState::Closing;
            }
            ConnState::FinWait2 => {
                self.send_ack(ctx);
                self.state = ConnState::TimeWait;
            }
            _ => {}
        }
    }

    /// Send the owed ACK now or arm the delayed-ACK timer (`__tcp_ack_snd_check()`).
    pub fn ack_snd_check(&mut self, ctx: &mut Ctx) {
        if !self.ack.pending {
            return;
        }
        let wnd_ok = self.rcv_free() as u32 >= self.rcv_wnd;
        let quick = self.ack.quick > 0 && !self.ack.pingpong;
        if self.ack.now
            || ((self.rcv_nxt - self.rcv_wup) > self.ack.rcv_mss && wnd_ok)
            || quick
            || !self.ooo.is_empty()
        {
            self.send_ack(ctx);
            return;
        }
        self.send_delayed_ack(ctx);
    }

    /// `tcp_send_delayed_ack()`.
    fn send_delayed_ack(&mut self, ctx: &mut Ctx) {
        let mut ato = self.ack.ato;
        if ato > ATO_MIN {
            let mut max_ato = Duration::from_millis(500);
            if self.ack.pingpong {
                max_ato = DELACK_MAX;
            }
            if let Some(srtt) = self.rtt.srtt {
                max_ato = max_ato.min(srtt.max(ATO_MIN));
            }
            ato = ato.min(max_ato);
        }
        let mut deadline = ctx.now + ato;
        if let Some(d) = self.ack.deadline {
            if d <= ctx.now + ato / 4 {
                self.send_ack(ctx);
                return;
            }
            deadline = deadline.min(d);
        }
        self.ack.deadline = Some(deadline);
    }
}
