//! TCP's tables (Linux's `tcp_hashinfo` and `tcp_death_row`): every TCP
//! socket by handle, connections by 4-tuple, listeners by address, TIME-WAIT
//! buckets, the ports held, and the sockets' timers; with the bookkeeping
//! that follows anything touching a socket, and the socket calls' TCP side.

use super::sock::{Role, TcpSock};
use super::tcb::Tcb;
use super::timewait::{TimeWaitSock, TimeWaitTable, TIMEWAIT_LEN};
use super::{ChallengeLimiter, ConnState, Ctx, FourTuple, Secrets, State};
use crate::inet::bind::{BindTable, Holder};
use crate::inet::wildcard;
use crate::net::Net;
use crate::sock::{PollEvents, Shutdown, SockOpt, SockOpts, SocketHandle};
use crate::time::Instant;
use crate::timer::DeadlineSet;
use core::time::Duration;
use netd_proto::Errno;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;

#[derive(Debug)]
pub struct TcpTables {
    /// Every TCP socket, orphans and unaccepted children included.
    pub(super) socks: HashMap<SocketHandle, TcpSock>,
    /// Connections (SYN-SENT onwards) by 4-tuple.
    pub(super) established: HashMap<FourTuple, SocketHandle>,
    /// Listening sockets by local address (0.0.0.0 for the wildcard).
    pub(super) listeners: HashMap<SocketAddrV4, SocketHandle>,
    pub(super) timewait: TimeWaitTable,
    /// The ports TCP sockets hold.
    pub(super) ports: BindTable,
    /// Each socket's earliest timer.
    timers: DeadlineSet<SocketHandle>,
    /// Connections in ESTABLISHED or CLOSE-WAIT: Tcp CurrEstab, kept as
    /// `tcp_set_state()` keeps TCP_MIB_CURRESTAB, so no walk counts it.
    estab: HashSet<SocketHandle>,
    /// Connections whose buffers hold memory: the only ones
    /// `reclaim_idle_buffers` looks at, so idle ones cost nothing.
    buffered: HashSet<SocketHandle>,
    pub(super) secrets: Secrets,
    pub(super) challenge: ChallengeLimiter,
}

impl TcpTables {
    pub fn new(seed: u64) -> TcpTables {
        TcpTables {
            socks: HashMap::new(),
            established: HashMap::new(),
            listeners: HashMap::new(),
            timewait: TimeWaitTable::default(),
            ports: BindTable::default(),
            timers: DeadlineSet::default(),
            estab: HashSet::new(),
            buffered: HashSet::new(),
            secrets: Secrets::from_seed(seed),
            challenge: ChallengeLimiter::default(),
        }
    }

    /// A new, unbound socket.
    pub fn socket(&mut self, h: SocketHandle) {
        self.socks.insert(h, TcpSock::new());
    }

    /// Socket `h`, orphans included.
    pub fn get(&self, h: SocketHandle) -> Option<&TcpSock> {
        self.socks.get(&h)
    }

    /// Socket `h` if the application holds it (not an orphan).
    pub fn open(&self, h: SocketHandle) -> Option<&TcpSock> {
        self.socks.get(&h).filter(|s| !s.is_orphan())
    }

    fn open_mut(&mut self, h: SocketHandle) -> Result<&mut TcpSock, Errno> {
        match self.socks.get_mut(&h) {
            Some(s) if !s.is_orphan() => Ok(s),
            _ => Err(Errno::EBADF),
        }
    }

    /// The options of socket `h`, if the application holds it.
    pub fn opts_mut(&mut self, h: SocketHandle) -> Option<&mut SockOpts> {
        self.open_mut(h).ok().map(TcpSock::opts_mut)
    }

    /// SO_ERROR: socket `h`'s pending error, cleared by reading it.
    pub fn take_error(&mut self, h: SocketHandle) -> Option<Errno> {
        self.socks.get_mut(&h)?.take_error()
    }

    pub fn socks(&self) -> impl Iterator<Item = (SocketHandle, &TcpSock)> {
        self.socks.iter().map(|(h, s)| (*h, s))
    }

    /// The connection on a 4-tuple, whoever holds it.
    pub fn by_tuple(&self, tuple: &FourTuple) -> Option<&Tcb> {
        let h = self.established.get(tuple)?;
        self.socks.get(h)?.tcb()
    }

    pub fn timewait(&self) -> &TimeWaitTable {
        &self.timewait
    }

    /// The holders of `port` as the bind rules see them, `except` one socket.
    pub(super) fn holders(&self, port: u16, except: SocketHandle) -> Vec<Holder> {
        let socks = self.ports.holders(port).filter(|o| *o != except);
        let mut v: Vec<Holder> = socks
            .filter_map(|o| self.socks.get(&o))
            .map(|s| Holder {
                ip: s.inet.bound_ip(),
                reuse: s.opts().reuseaddr,
                listening: s.is_listening(),
            })
            .collect();
        v.extend(self.timewait.holders(port));
        v
    }

    /// Run `f` on socket `h`'s connection with a TCP context.
    pub(super) fn with_tcb<R>(
        &mut self,
        net: &mut Net,
        h: SocketHandle,
        f: impl FnOnce(&mut Tcb, &mut Ctx) -> R,
    ) -> Option<R> {
        let tcb = self.socks.get_mut(&h)?.tcb_mut()?;
        let mut ctx = Ctx::new(net, &self.secrets, &mut self.challenge);
        Some(f(tcb, &mut ctx))
    }

    // ----- bookkeeping --------------------------------------------------

    /// After anything touched socket `h`: wake it, move a finished
    /// connection to TIME-WAIT (`tcp_time_wait()`), free a dead orphan, give
    /// back a port bind() did not name (`tcp_set_state(TCP_CLOSE)` puts it
    /// unless SOCK_BINDPORT_LOCK), and re-arm its timer.
    pub fn after(&mut self, net: &mut Net, h: SocketHandle) {
        net.wake(h);
        let Some(sock) = self.socks.get_mut(&h) else {
            return;
        };
        let reuse = sock.opts().reuseaddr;
        let Some(tcb) = sock.tcb_mut() else {
            self.reschedule(h);
            return;
        };
        let (tuple, orphan) = (tcb.tuple, tcb.orphan);
        let to_tw = match tcb.state {
            ConnState::TimeWait => Some((State::TimeWait, TIMEWAIT_LEN)),
            // An orphan in FIN-WAIT-2 becomes a timewait bucket with substate
            // FIN_WAIT2 living tcp_fin_timeout (Linux tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)).
            ConnState::FinWait2 if orphan => {
                let secs = net.sysctl.tcp_fin_timeout.max(0) as u64;
                // tcp_fin_time(): at least 3.5 RTO.
                let floor = tcb.rto() * 7 / 2;
                Some((State::FinWait2, Duration::from_secs(secs).max(floor)))
            }
            _ => None,
        };
        if let Some((substate, life)) = to_tw {
            let tw = TimeWaitSock::from_tcb(tcb, substate, life, net.now, reuse);
            tcb.done();
            let max = net.sysctl.tcp_max_tw_buckets;
            self.timewait.insert(tw, max, net.mib);
        }
        if tcb.is_closed() {
            if self.established.get(&tuple) == Some(&h) {
                self.established.remove(&tuple);
            }
            if orphan {
                self.destroy(h);
                return;
            }
            if !sock.inet.port_locked && sock.accept_parent.is_none() {
                if let Some(port) = sock.inet.local.take().map(|a| a.port()) {
                    self.ports.remove(port, h);
                }
            }
        }
        self.reschedule(h);
    }

    /// Remove a socket from every table.
    pub fn destroy(&mut self, h: SocketHandle) {
        let Some(sock) = self.socks.remove(&h) else {
            return;
        };
        self.timers.remove(h);
        self.estab.remove(&h);
        self.buffered.remove(&h);
        match &sock.role {
            Role::Conn(tcb) if self.established.get(&tcb.tuple) == Some(&h) => {
                self.established.remove(&tcb.tuple);
            }
            Role::Listen(l) if self.listeners.get(&l.local) == Some(&h) => {
                self.listeners.remove(&l.local);
            }
            _ => {}
        }
        if let Some(port) = sock.inet.local.map(|a| a.port()) {
            self.ports.remove(port, h);
        }
    }

    /// Arm the timer at socket `h`'s earliest deadline, and note whether it
    /// counts in CurrEstab and holds buffer memory. Everything that touches
    /// a socket ends here (its timers depend on it), which makes this the
    /// place `tcp_set_state()`'s bookkeeping goes.
    pub(super) fn reschedule(&mut self, h: SocketHandle) {
        let sock = self.socks.get(&h);
        self.timers.set(h, sock.and_then(TcpSock::next_deadline));
        let tcb = sock.and_then(TcpSock::tcb);
        let estab =
            tcb.is_some_and(|t| matches!(t.state, ConnState::Established | ConnState::CloseWait));
        if estab {
            self.estab.insert(h);
        } else {
            self.estab.remove(&h);
        }
        if tcb.is_some_and(Tcb::holds_buffers) {
            self.buffered.insert(h);
        }
    }

    /// The earliest time a TCP timer is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let socks = self.timers.next_deadline();
        [socks, self.timewait.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Every socket timer, then every TIME-WAIT bucket, due at `net.now`.
    pub fn run_timers(&mut self, net: &mut Net) {
        while let Some(h) = self.timers.pop_due(net.now) {
            let Some(sock) = self.socks.get_mut(&h) else {
                continue;
            };
            let mut ctx = Ctx::new(net, &self.secrets, &mut self.challenge);
            match &mut sock.role {
                Role::Conn(tcb) => tcb.on_timer(&mut ctx),
                Role::Listen(l) => l.on_timer(&mut ctx),
                Role::Idle => {}
            }
            self.after(net, h);
        }
        self.timewait.expire(net.now, net.mib);
    }

    // ----- the socket calls' TCP side -------------------------------------

    /// `tcp_sendmsg()`; `more` is MSG_MORE: queued, not transmitted, so what
    /// comes next can share the segment (and a close that follows sends data
    /// and FIN as one, as `tcp_send_fin()` tacks the FIN onto an unsent tail).
    pub fn send(
        &mut self,
        net: &mut Net,
        h: SocketHandle,
        data: &[u8],
        more: bool,
    ) -> Result<usize, Errno> {
        // Never connected: Linux says EPIPE (sk_stream_wait_connect()).
        let r = self
            .with_tcb(net, h, |tcb, ctx| tcb.sendmsg(ctx, data, more))
            .unwrap_or(Err(Errno::EPIPE));
        if r.is_ok() {
            self.after(net, h);
        }
        r
    }

    /// Transmit what MSG_MORE queued (`tcp_push()` once the cork is gone).
    pub fn push(&mut self, net: &mut Net, h: SocketHandle) {
        if self
            .with_tcb(net, h, |tcb, ctx| tcb.transmit(ctx))
            .is_some()
        {
            self.after(net, h);
        }
    }

    /// `tcp_recvmsg()` (see [`Tcb::recvmsg`]).
    pub fn recv(
        &mut self,
        net: &mut Net,
        h: SocketHandle,
        peek: bool,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, Errno> {
        let r = self
            .with_tcb(net, h, |tcb, ctx| tcb.recvmsg(ctx, peek, take))
            .unwrap_or(Err(Errno::ENOTCONN));
        if r.is_ok() {
            self.reschedule(h);
        }
        r
    }

    /// shutdown(2) on a TCP socket (`inet_shutdown()`).
    pub fn shutdown(&mut self, net: &mut Net, h: SocketHandle, how: Shutdown) -> Result<(), Errno> {
        if self.socks.get(&h).is_some_and(TcpSock::is_listening) {
            // SHUT_WR does nothing to a listener; a shut read side stops it
            // listening and resets what was queued (accept() then says EINVAL).
            if how != Shutdown::Write {
                self.stop_listening(net, h);
            }
            return Ok(());
        }
        let r = self
            .with_tcb(net, h, |tcb, ctx| tcb.shutdown(ctx, how))
            .ok_or(Errno::ENOTCONN)?;
        if r.is_ok() {
            self.after(net, h);
        }
        r
    }

    /// close(2): the handle is gone at once; a connection finishes as an
    /// orphan. `unread`: the program left bytes unread in its own buffer
    /// (netd's socketpair), so the connection resets as if they were queued
    /// here.
    pub fn close(&mut self, net: &mut Net, h: SocketHandle, unread: bool) -> Result<(), Errno> {
        let sock = self.open_mut(h)?;
        let linger = sock.opts().linger;
        match sock.role {
            Role::Listen(_) => {
                self.stop_listening(net, h);
                self.destroy(h);
            }
            Role::Idle => self.destroy(h),
            Role::Conn(_) => {
                self.with_tcb(net, h, |tcb, ctx| tcb.close(ctx, linger, unread));
                self.after(net, h);
            }
        }
        Ok(())
    }

    /// setsockopt(2)'s effect on a live connection once the socket's
    /// options hold the new value.
    pub fn apply_opt(&mut self, net: &mut Net, h: SocketHandle, opt: SockOpt) {
        let Some(sock) = self.socks.get(&h) else {
            return;
        };
        let (rcvbuf, sndbuf) = (sock.opts().rcvbuf, sock.opts().sndbuf);
        self.with_tcb(net, h, |tcb, ctx| tcb.apply_opt(ctx, opt, rcvbuf, sndbuf));
        self.after(net, h);
    }

    /// Readiness of socket `h` (`tcp_poll()`).
    pub fn poll(&self, h: SocketHandle, wmem_max: i64) -> Option<PollEvents> {
        self.open(h).map(|s| s.poll(wmem_max))
    }

    /// Shutting down: every synchronized connection is reset so peers learn
    /// at once, and every socket and bucket is dropped (netd's SIGTERM path).
    pub fn abort_all(&mut self, net: &mut Net) {
        let handles: Vec<SocketHandle> = self.socks.keys().copied().collect();
        for h in handles {
            self.with_tcb(net, h, |tcb, ctx| tcb.reset_and_close(ctx));
            self.destroy(h);
        }
        self.timewait.clear();
    }

    /// Give back the memory of buffers left empty for `idle` or longer;
    /// returns the bytes released (see [`Tcb::reclaim_idle_buffers`]).
    /// Only connections that hold buffers are looked at, and those left
    /// with none are forgotten until they hold some again.
    pub fn reclaim_idle_buffers(&mut self, now: Instant, idle: Duration) -> usize {
        let mut freed = 0;
        let socks = &mut self.socks;
        self.buffered.retain(|h| {
            let Some(tcb) = socks.get_mut(h).and_then(TcpSock::tcb_mut) else {
                return false;
            };
            freed += tcb.reclaim_idle_buffers(now, idle);
            tcb.holds_buffers()
        });
        freed
    }

    pub fn buffered_connections(&self) -> usize {
        self.buffered.len()
    }

    /// Tcp CurrEstab: connections in ESTABLISHED or CLOSE-WAIT.
    pub fn curr_estab(&self) -> usize {
        self.estab.len()
    }

    /// What getsockname() shows: the connection's address, the bound one,
    /// or the port a disconnect left visible.
    pub fn local_addr(&self, h: SocketHandle) -> Option<SocketAddrV4> {
        let s = self.open(h)?;
        let conn = s.tcb().map(|t| t.tuple.local);
        Some(
            conn.or(s.inet.local)
                .or(s.inet.stale_name)
                .unwrap_or(wildcard(0)),
        )
    }
}
