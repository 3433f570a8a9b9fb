//! TIME-WAIT (and orphaned FIN-WAIT-2) as a compact minisocket (Linux
//! `struct tcp_timewait_sock`, `tcp_minisocks.c`): only what is needed to
//! re-ACK a retransmitted FIN, refuse old duplicates and accept a newer SYN.
//! The table of buckets lives here too, with their timers, what they hold
//! of the port space, and whether a connect() may take one over.

use super::tcb::Tcb;
use super::{ts_now, Ctx, FourTuple, SeqNum, State};
use crate::inet::bind::Holder;
use crate::mib::Mib;
use crate::sysctl::Sysctl;
use crate::time::Instant;
use crate::timer::DeadlineSet;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use core::time::Duration;
use std::collections::{BTreeSet, HashMap};

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

/// What a connection inherits from the TIME-WAIT bucket it takes over: an
/// ISN past the old connection's sequence space, and ts_recent (with when
/// it was recorded) so PAWS guards the new incarnation.
#[derive(Clone, Copy, Debug)]
pub struct Inherited {
    pub isn: SeqNum,
    pub ts_recent: Option<(u32, Instant)>,
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
    /// The bucket a connection leaves behind (`tcp_time_wait()`): `substate`
    /// TIME-WAIT, or FIN-WAIT-2 for an orphan still waiting for the peer's
    /// FIN, living `life`.
    pub fn from_tcb(
        tcb: &Tcb,
        substate: State,
        life: Duration,
        now: Instant,
        reuse: bool,
    ) -> TimeWaitSock {
        let neg = &tcb.neg;
        TimeWaitSock {
            tuple: tcb.tuple,
            substate,
            snd_nxt: tcb.snd_nxt.max(tcb.snd_max),
            rcv_nxt: tcb.rcv_nxt,
            rcv_wnd: tcb.rcv_wnd,
            rcv_wscale: if neg.wscale_ok { neg.rcv_wscale } else { 0 },
            ts: neg
                .ts_ok
                .then_some((tcb.ts_recent, tcb.ts_recent_stamp, tcb.ts_offset)),
            deadline: now + life,
            reuse,
        }
    }

    /// `tcp_twsk_unique()`: may a connect() take over this tuple? Only if
    /// timestamps were on (PAWS then guards the new incarnation); an
    /// explicitly bound port always may, an ephemeral one per tcp_tw_reuse
    /// (1 always, 2 only on loopback) once tcp_tw_reuse_delay ms have passed
    /// since the last timestamp was recorded.
    pub fn reusable(&self, sysctl: &Sysctl, now: Instant, explicit_bind: bool) -> bool {
        let Some((_, stamp, _)) = self.ts else {
            return false;
        };
        if explicit_bind {
            return true;
        }
        let mut reuse = sysctl.tcp_tw_reuse;
        if self.substate == State::FinWait2 {
            reuse = 0;
        }
        let loopback = self.tuple.remote.ip().is_loopback() || self.tuple.local.ip().is_loopback();
        if reuse == 2 && !loopback {
            reuse = 0;
        }
        let delay = Duration::from_millis(sysctl.tcp_tw_reuse_delay.max(0) as u64);
        reuse != 0 && now.saturating_since(stamp) > delay
    }

    /// What a connection taking over this tuple starts from
    /// (`tcp_twsk_unique()`).
    pub fn successor(&self) -> Inherited {
        let mut isn = self.snd_nxt + 65535 + 2;
        if isn.0 == 0 {
            isn = SeqNum(1);
        }
        Inherited {
            isn,
            ts_recent: self.ts.map(|(recent, stamp, _)| (recent, stamp)),
        }
    }

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

/// TIME-WAIT and FIN-WAIT-2 buckets expire together in slots of this length:
/// the stack is woken for the end of a slot, not for each bucket. Without
/// it a sustained connection rate woke netd once per bucket 60 s later
/// (about 8 % fewer connections per second and 11 % more CPU per
/// connection from then on). Linux's timer wheel is coarser still: a 60 s
/// timer fires up to 4 s late at HZ=1000.
pub const TW_SLOT: Duration = Duration::from_millis(125);

/// The end of the slot that `t` falls in.
fn tw_slot(t: Instant) -> Instant {
    let slot = TW_SLOT.as_micros() as u64;
    Instant::from_micros(t.as_micros().div_ceil(slot) * slot)
}

/// Every TIME-WAIT bucket (Linux keeps them in the established hash and on
/// the bind buckets; `tcp_death_row` counts them).
#[derive(Debug, Default)]
pub struct TimeWaitTable {
    buckets: HashMap<FourTuple, TimeWaitSock>,
    timers: DeadlineSet<FourTuple>,
    /// Buckets by local port: they hold the port for bind() too.
    by_port: HashMap<u16, BTreeSet<FourTuple>>,
}

impl TimeWaitTable {
    pub fn get(&self, tuple: &FourTuple) -> Option<&TimeWaitSock> {
        self.buckets.get(tuple)
    }

    pub fn contains(&self, tuple: &FourTuple) -> bool {
        self.buckets.contains_key(tuple)
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TimeWaitSock> {
        self.buckets.values()
    }

    /// Add a bucket unless `tcp_max_tw_buckets` are already held
    /// (TCPTimeWaitOverflow); a negative limit compares as unsigned in
    /// Linux: unlimited.
    pub fn insert(&mut self, tw: TimeWaitSock, max: i64, mib: &mut Mib) {
        if max >= 0 && (self.buckets.len() as i64) >= max {
            mib.tcp_ext.tcp_time_wait_overflow += 1;
            return;
        }
        let tuple = tw.tuple;
        self.timers.set(tuple, Some(tw.deadline));
        self.by_port
            .entry(tuple.local.port())
            .or_default()
            .insert(tuple);
        self.buckets.insert(tuple, tw);
    }

    pub fn remove(&mut self, tuple: &FourTuple) -> Option<TimeWaitSock> {
        let tw = self.buckets.remove(tuple)?;
        self.timers.remove(*tuple);
        let port = tuple.local.port();
        if let Some(v) = self.by_port.get_mut(&port) {
            v.remove(tuple);
            if v.is_empty() {
                self.by_port.remove(&port);
            }
        }
        Some(tw)
    }

    /// A segment for a bucket (`tcp_timewait_state_process()`); its timer
    /// follows a deadline the segment moved.
    pub fn process(&mut self, ctx: &mut Ctx, tuple: &FourTuple, seg: &TcpRepr) -> Option<TwAction> {
        let tw = self.buckets.get_mut(tuple)?;
        let action = tw.process(ctx, seg);
        let deadline = tw.deadline;
        self.timers.set(*tuple, Some(deadline));
        Some(action)
    }

    /// When the next slot with an expiring bucket ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline().map(tw_slot)
    }

    /// Free the buckets whose time is up (TimeWaited counts each).
    pub fn expire(&mut self, now: Instant, mib: &mut Mib) {
        while let Some(tuple) = self.timers.pop_due(now) {
            if self.remove(&tuple).is_some() {
                mib.tcp_ext.tw += 1;
            }
        }
    }

    /// The buckets on `port`, as the bind rules see them.
    pub fn holders(&self, port: u16) -> impl Iterator<Item = Holder> + '_ {
        self.by_port
            .get(&port)
            .into_iter()
            .flatten()
            .filter_map(|t| self.buckets.get(t))
            .map(|tw| Holder {
                ip: *tw.tuple.local.ip(),
                reuse: tw.reuse,
                listening: false,
            })
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
        self.timers.clear();
        self.by_port.clear();
    }
}
