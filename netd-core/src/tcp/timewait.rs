//! TIME-WAIT (and orphaned FIN-WAIT-2) as a compact minisocket (Linux
//! `struct tcp_timewait_sock`, `tcp_timewait_state_process()`): only what is
//! needed to re-ACK a retransmitted FIN, refuse old duplicates and accept a
//! newer SYN.

use super::{ts_now, Ctx, FourTuple, SeqNum, State};
use crate::time::Instant;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use core::time::Duration;

/// TCP_TIMEWAIT_LEN: 2MSL as Linux counts it.
pub const TIMEWAIT_LEN: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct TimeWaitSock {
    pub tuple: FourTuple,
    /// TimeWait, or FinWait2 for an orphan waiting for the peer's FIN.
    pub substate: State,
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    pub rcv_wnd: u32,
    pub rcv_wscale: u8,
    /// (ts_recent, when it was recorded, our offset) when timestamps were on.
    pub ts: Option<(u32, Instant, u32)>,
    pub deadline: Instant,
    /// SO_REUSEADDR of the socket this came from (bind conflicts).
    pub reuse: bool,
}

/// The verdict on a segment (`enum tcp_tw_status`).
#[derive(Debug, PartialEq, Eq)]
pub enum TwAction {
    /// Consumed (possibly after an ACK was sent).
    Done,
    /// Answer with a reset, as if no socket existed.
    Rst,
    /// A new connection may reuse the tuple; its ISN is given (`tcp_tw_isn`).
    Syn(SeqNum),
    /// An RST killed the TIME-WAIT ("assassination", tcp_rfc1337 = 0).
    Kill,
}

impl TimeWaitSock {
    fn send_ack(&self, ctx: &mut Ctx) {
        let options = TcpOptions {
            timestamp: self
                .ts
                .map(|(recent, _, off)| (ts_now(ctx.now).wrapping_add(off), recent)),
            ..TcpOptions::default()
        };
        let seg = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TcpFlags::ACK,
            window: (self.rcv_wnd >> self.rcv_wscale).min(65535) as u16,
            urgent: 0,
            options,
            payload: &[],
        };
        ctx.send_tcp(&self.tuple, &seg, &[]);
    }

    fn paws_reject(&self, ctx: &Ctx, seg: &TcpRepr) -> bool {
        match (self.ts, seg.options.timestamp) {
            (Some((recent, stamp, _)), Some((tsval, _))) => {
                (tsval.wrapping_sub(recent) as i32) < 0
                    && ctx.now.saturating_since(stamp) < Duration::from_secs(24 * 24 * 3600)
                    && !seg.flags.rst()
            }
            _ => false,
        }
    }

    pub fn process(&mut self, ctx: &mut Ctx, seg: &TcpRepr) -> TwAction {
        let paws_reject = self.paws_reject(ctx, seg);
        let flags = seg.flags;
        let end = seg.seq + seg.seg_len();
        if self.substate == State::FinWait2 {
            let in_window =
                !end.before(self.rcv_nxt) && !seg.seq.after(self.rcv_nxt + self.rcv_wnd);
            if paws_reject || !in_window {
                self.send_ack(ctx);
                return TwAction::Done;
            }
            if flags.rst() {
                return TwAction::Kill;
            }
            if flags.syn() && !seg.seq.before(self.rcv_nxt) {
                return TwAction::Rst;
            }
            if !flags.ack() || !end.after(self.rcv_nxt) || seg.seg_len() == 0 {
                return TwAction::Done;
            }
            // New data after our half-duplex close gets a reset.
            if !flags.fin() || end != self.rcv_nxt + 1 {
                return TwAction::Rst;
            }
            self.substate = State::TimeWait;
            self.rcv_nxt = end;
            if let (Some(ts), Some((tsval, _))) = (self.ts.as_mut(), seg.options.timestamp) {
                ts.0 = tsval;
                ts.1 = ctx.now;
            }
            self.deadline = ctx.now + TIMEWAIT_LEN;
            self.send_ack(ctx);
            return TwAction::Done;
        }
        // Real TIME-WAIT: an in-window segment may only be an RST or a bare ACK.
        if !paws_reject && seg.seq == self.rcv_nxt && (seg.seg_len() == 0 || flags.rst()) {
            if flags.rst() {
                if ctx.sysctl.tcp_rfc1337 == 0 {
                    return TwAction::Kill;
                }
            } else {
                self.deadline = ctx.now + TIMEWAIT_LEN;
            }
            return TwAction::Done;
        }
        // A SYN that is clearly newer may open a new incarnation (RFC 1122 4.2.2.13).
        let newer_ts = match (self.ts, seg.options.timestamp) {
            (Some((recent, _, _)), Some((tsval, _))) => (recent.wrapping_sub(tsval) as i32) < 0,
            _ => false,
        };
        if flags.syn()
            && !flags.rst()
            && !flags.ack()
            && !paws_reject
            && (seg.seq.after(self.rcv_nxt) || newer_ts)
        {
            return TwAction::Syn(self.snd_nxt + 65535 + 2);
        }
        if paws_reject {
            ctx.mib.tcp_ext.paws_estab += 1;
        }
        if !flags.rst() {
            // A retransmitted FIN (or anything else old): re-ACK and restart 2MSL.
            if paws_reject || flags.ack() {
                self.deadline = ctx.now + TIMEWAIT_LEN;
            }
            self.send_ack(ctx);
        }
        TwAction::Done
    }
}
