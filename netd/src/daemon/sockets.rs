//! libnet sockets inside the daemon. Each is a stack socket plus netd's end
//! of a socketpair whose other end is the program's file descriptor.
//!
//! Bytes move between the two only as fast as the other side takes them:
//! netd reads the program's writes only while the TCP send buffer has room,
//! and takes received data out of the stack only while the socketpair
//! accepts it, so a slow reader closes the TCP window toward the peer.
//! A listener's socketpair carries one record per queued connection with the
//! connection's own socketpair end attached (`proto::ACCEPT_RECORD`), so its
//! fd is readable exactly when accept() would succeed and accept() needs no
//! round trip to netd; the program's one-byte receipt takes the connection
//! off the stack's accept queue. The socket lives while
//! any descriptor of the program's end does: HUP on netd's end is close().

use super::limits::{self, RateLog, LOG_EVERY};
use netd_core::socket::{Shutdown, SockOptName, SockOptValue, SockType, SocketHandle};
use netd_core::stack::Stack;
use netd_core::tcp::State;
use netd_core::time::Instant;
use netd_proto::Errno;
use netd_proto::{AcceptRecord, SockRef, ACCEPT_RECORD, DGRAM_HEADER};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use nix::sys::socket::{self as sk, AddressFamily, MsgFlags, SockFlag};
use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Epoll tokens at and above this are endpoints (`EP_BASE + id`).
pub const EP_BASE: u64 = 1 << 40;

/// Bytes moved per read or write on the data path.
const CHUNK: usize = 64 * 1024;

pub struct Endpoint {
    pub token: u64,
    pub handle: SocketHandle,
    pub stream: bool,
    fd: OwnedFd,
    /// Connections handed to the program on a listener's fd whose receipt
    /// has not come back: the first `pushed` entries of the accept queue.
    pushed: usize,
    /// The listener's socketpair was full: hand over more on EPOLLOUT.
    push_blocked: bool,
    /// The program may have written bytes netd has not read: set by EPOLLIN,
    /// cleared by a read that drained the socketpair, so stack wake-ups do
    /// not cost a read that fails with EAGAIN.
    readable: bool,
    /// Every program fd is closed but the send buffer had no room for all it
    /// wrote: out of epoll, pumped by stack wake-ups until the socketpair is drained.
    orphan: bool,
    /// The socketpair refused received bytes (the program is behind): wait
    /// for EPOLLOUT on netd's end before moving more.
    out_blocked: bool,
    /// We shut down our write side: the program reads EOF.
    eof_sent: bool,
    /// The program shut down its write side (SHUT_WR or close).
    app_eof: bool,
    /// An error for the program's next TakeError (ECONNRESET, ETIMEDOUT, ...).
    pub error: Option<Errno>,
    /// A connect() is under way: leave its outcome in the stack for WaitConnect/SO_ERROR.
    pub connecting: bool,
    /// The program closed with bytes left unread (its CloseHint, or the
    /// socketpair's ECONNRESET): the last close resets.
    unread_at_close: bool,
    /// Bytes of libnet's plug still to discard (see `Request::Connect`).
    pub plug: usize,
    /// Inode of the program's end, to find its holders in /proc (`ss -p`).
    pub app_inode: u64,
    /// uid of the client that created the socket (`ss -e`).
    pub uid: u32,
    /// netd shut both directions (reset, failed connect): its own HUP follows,
    /// so the fd leaves epoll and the program's CloseHint releases the socket.
    dead: bool,
    /// The program shut its write side (`Request::Shutdown`). Once netd has
    /// shut its own side too, the socketpair reports HUP exactly as if the
    /// program had closed it: see `on_event`.
    app_shut_wr: bool,
    /// The program announced it is closing a descriptor (CloseHint).
    close_hinted: bool,
    interest: EpollFlags,
}

/// How reading what the program wrote ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// Read EOF: the program shut down its write side or closed.
    Eof,
    /// Read ECONNRESET: the program closed with bytes unread.
    Reset,
    /// Anything else: no room in the send buffer, EAGAIN, already at EOF.
    Stopped,
}

pub struct Endpoints {
    eps: HashMap<u32, Endpoint>,
    by_handle: HashMap<SocketHandle, u32>,
    /// Endpoints per uid, for `netd.sockets_per_uid`.
    per_uid: HashMap<u32, usize>,
    /// Dead endpoints waiting for their program's close (`reap_dead`): kept
    /// as a set so the once-a-second check costs nothing when there are none.
    dead: BTreeSet<u32>,
    /// Listeners whose queued connections are waiting for a descriptor
    /// (netd's limit or the uid's share): tried again each reap tick.
    starved: BTreeSet<u32>,
    /// socket() calls refused for want of a descriptor or past the uid's share.
    pub sockets_refused: u64,
    /// Times a listener found no descriptor for a queued connection.
    pub accept_stalls: u64,
    stall_log: RateLog,
    next: u32,
    rng: u64,
    /// One scratch buffer for every pump: no allocation per wake-up.
    scratch: Vec<u8>,
}

fn errno_of(e: nix::errno::Errno) -> Errno {
    Errno::from_code(e as i32).unwrap_or(Errno::EINVAL)
}

impl Endpoints {
    pub fn new(seed: u64) -> Endpoints {
        Endpoints {
            eps: HashMap::new(),
            by_handle: HashMap::new(),
            per_uid: HashMap::new(),
            starved: BTreeSet::new(),
            dead: BTreeSet::new(),
            sockets_refused: 0,
            accept_stalls: 0,
            stall_log: RateLog::new(LOG_EVERY),
            next: 1,
            rng: seed | 1,
            scratch: vec![0u8; DGRAM_HEADER + 65536],
        }
    }

    fn token(&mut self) -> u64 {
        // xorshift64*: tokens only need to be unguessable by other local programs.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn len(&self) -> usize {
        self.eps.len()
    }

    /// Sockets programs hold (`sockets: used`): connections handed to a
    /// listener's program whose accept() has not taken them yet are not,
    /// as Linux allocates a struct socket only in accept().
    pub fn held(&self) -> usize {
        let pending: usize = self.eps.values().map(|e| e.pushed).sum();
        self.eps.len().saturating_sub(pending)
    }

    pub fn is_empty(&self) -> bool {
        self.eps.is_empty()
    }

    /// A new socketpair for an endpoint whose socket was disconnected
    /// (`Request::Disconnect`): the old one closes, with whatever either
    /// side had left in it, and the endpoint starts afresh around the same
    /// stack socket, `error` waiting for SO_ERROR. Returns the program's end.
    pub fn renew(
        &mut self,
        r: SockRef,
        error: Option<Errno>,
        epoll: &Epoll,
    ) -> Result<OwnedFd, Errno> {
        let ep = self.get(r)?;
        let (ours, theirs, app_inode) = socketpair(epoll, ep.stream, r.id)?;
        // Dropping the old endpoint closes its end, which leaves epoll.
        *ep = Endpoint {
            error,
            ..Endpoint::new(r.token, ep.handle, ep.stream, ep.uid, ours, app_inode)
        };
        self.dead.remove(&r.id);
        Ok(theirs)
    }

    /// Wrap stack socket `handle` in a socketpair; returns the program's end.
    /// EMFILE if `uid` holds its `share` of sockets already (0: no limit),
    /// as a process at RLIMIT_NOFILE gets; ENFILE if netd itself is out of
    /// descriptors, as when the system's file table is full.
    pub fn create(
        &mut self,
        epoll: &Epoll,
        handle: SocketHandle,
        stream: bool,
        uid: u32,
        share: i64,
    ) -> Result<(SockRef, OwnedFd), Errno> {
        if limits::at_limit(self.per_uid.get(&uid).copied().unwrap_or(0), share) {
            return Err(Errno::EMFILE);
        }
        let id = self.next;
        let (ours, theirs, app_inode) = socketpair(epoll, stream, id).map_err(|e| match e {
            Errno::EMFILE | Errno::ENFILE => Errno::ENFILE,
            e => e,
        })?;
        self.next = self.next.wrapping_add(1).max(1);
        *self.per_uid.entry(uid).or_default() += 1;
        let token = self.token();
        self.eps.insert(
            id,
            Endpoint::new(token, handle, stream, uid, ours, app_inode),
        );
        self.by_handle.insert(handle, id);
        Ok((SockRef { id, token }, theirs))
    }

    pub fn get(&mut self, r: SockRef) -> Result<&mut Endpoint, Errno> {
        match self.eps.get_mut(&r.id) {
            Some(ep) if ep.token == r.token => Ok(ep),
            _ => Err(Errno::EBADF),
        }
    }

    /// (inode of the program's end, stack handle) for every endpoint.
    pub fn inodes(&self) -> HashMap<u64, SocketHandle> {
        self.eps.values().map(|e| (e.app_inode, e.handle)).collect()
    }

    /// (uid, inode) of the endpoint wrapping stack socket `h`.
    pub fn owner(&self, h: SocketHandle) -> Option<(u32, u64)> {
        let id = self.by_handle.get(&h)?;
        self.eps.get(id).map(|e| (e.uid, e.app_inode))
    }

    pub fn id_of(&self, h: SocketHandle) -> Option<u32> {
        self.by_handle.get(&h).copied()
    }

    /// The program's fds are all gone: close the stack socket as close(2) would.
    fn release(&mut self, id: u32, stack: &mut Stack, now: Instant) {
        let Some(ep) = self.eps.remove(&id) else {
            return;
        };
        self.by_handle.remove(&ep.handle);
        self.uncount(ep.uid);
        self.starved.remove(&id);
        self.dead.remove(&id);
        // No EPOLL_CTL_DEL: netd's end is never duplicated, so closing it
        // (when `ep` drops) takes it out of the epoll set.
        // Bytes still queued in the stack count as unread too (`tcp_close()`);
        // the socketpair's ECONNRESET was read at HUP (`on_event`). A
        // listener's unread bytes are accept records: it stops listening
        // and resets its queue either way.
        if ep.stream && ep.unread_at_close {
            let _ = stack.abort(now, ep.handle);
        } else {
            let _ = stack.close(now, ep.handle);
        }
    }

    /// Close every endpoint (daemon shutdown).
    pub fn clear(&mut self) {
        self.eps.clear();
        self.by_handle.clear();
        self.per_uid.clear();
        self.starved.clear();
        self.dead.clear();
    }

    fn uncount(&mut self, uid: u32) {
        if let Some(n) = self.per_uid.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&uid);
            }
        }
    }

    /// Hand over what starved listeners have queued, if descriptors are
    /// free now (see `pump_listener`).
    pub fn retry_starved(&mut self, stack: &mut Stack, now: Instant, epoll: &Epoll) {
        let ids: Vec<u32> = std::mem::take(&mut self.starved).into_iter().collect();
        for id in ids {
            self.pump(id, stack, now, epoll);
        }
    }

    /// The program is closing an fd. A dead connection is released at once;
    /// a live one when the last fd goes (HUP), with the unread state noted.
    pub fn close_hint(
        &mut self,
        r: SockRef,
        unread: bool,
        stack: &mut Stack,
        now: Instant,
    ) -> Result<(), Errno> {
        let ep = self.get(r)?;
        ep.unread_at_close = unread;
        ep.close_hinted = true;
        if ep.dead {
            self.release(r.id, stack, now);
        }
        Ok(())
    }

    /// Whether any endpoint is dead and waiting for its program's close.
    pub fn has_dead(&self) -> bool {
        !self.dead.is_empty()
    }

    /// Release dead endpoints whose program end is gone (`live` lacks its
    /// inode): a program that died, or exited without net_close(), after its
    /// connection was reset sends no CloseHint, and netd's own end of a
    /// shut-down socketpair reports HUP from the moment of the reset, so
    /// epoll cannot tell. Linux frees such a socket with the last file.
    pub fn reap_dead(
        &mut self,
        live: &std::collections::HashSet<u64>,
        stack: &mut Stack,
        now: Instant,
    ) -> usize {
        let eps = &self.eps;
        let gone: Vec<u32> = self
            .dead
            .iter()
            .copied()
            .filter(|id| eps.get(id).is_some_and(|e| !live.contains(&e.app_inode)))
            .collect();
        for id in &gone {
            self.release(*id, stack, now);
        }
        gone.len()
    }

    /// Drop an endpoint whose program end never reached the program, leaving
    /// its stack socket alone (it stays in the accept queue).
    fn forget(&mut self, id: u32, epoll: &Epoll) {
        if let Some(ep) = self.eps.remove(&id) {
            self.by_handle.remove(&ep.handle);
            self.uncount(ep.uid);
            self.dead.remove(&id);
            let _ = epoll.delete(ep.fd.as_fd());
        }
    }

    /// A listener: take receipts off the accept queue, then hand the program
    /// every queued connection it does not have yet, each with its socketpair.
    fn pump_listener(&mut self, id: u32, stack: &mut Stack, now: Instant, epoll: &Epoll) {
        let Some(ep) = self.eps.get_mut(&id) else {
            return;
        };
        let l = ep.handle;
        let mut receipts = [0u8; 256];
        while ep.readable {
            let Ok(n @ 1..) = ep.read_fd(&mut receipts) else {
                ep.readable = false;
                break;
            };
            // More receipts than records is a confused program: ignored.
            for _ in 0..n.min(ep.pushed) {
                ep.pushed -= 1;
                let _ = stack.accept(l);
            }
            if n < receipts.len() {
                ep.readable = false;
            }
        }
        ep.push_blocked = false;
        let uid = ep.uid;
        while let Some(child) = self
            .eps
            .get(&id)
            .and_then(|ep| stack.queued_child(l, ep.pushed))
        {
            let peer = stack
                .peer_addr(child)
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            let share = stack.sysctl.sockets_per_uid;
            let (sock, theirs) = match self.create(epoll, child, true, uid, share) {
                Ok(c) => c,
                Err(e) => {
                    // As accept() failing with EMFILE leaves the connection
                    // queued: it waits, and is tried again each reap tick
                    // (or when the next connection arrives).
                    self.starve(id, uid, e, stack);
                    break;
                }
            };
            let record = AcceptRecord {
                sock,
                peer,
                inode: self.eps.get(&sock.id).map_or(0, |c| c.app_inode),
            }
            .encode();
            let Some(ep) = self.eps.get_mut(&id) else {
                return;
            };
            let iov = [std::io::IoSlice::new(&record)];
            let fds = [theirs.as_raw_fd()];
            let sent = sk::sendmsg::<()>(
                ep.fd.as_raw_fd(),
                &iov,
                &[sk::ControlMessage::ScmRights(&fds)],
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                None,
            );
            if sent == Ok(ACCEPT_RECORD) {
                ep.pushed += 1;
                // Data or a FIN may already be queued for it.
                self.pump(sock.id, stack, now, epoll);
            } else {
                ep.push_blocked = true;
                self.forget(sock.id, epoll);
                break;
            }
        }
    }

    /// Note that listener `id` (of `uid`) found no descriptor (`e`) for a
    /// queued connection: counted once per stall, logged once an interval.
    fn starve(&mut self, id: u32, uid: u32, e: Errno, stack: &Stack) {
        if !self.starved.insert(id) {
            return;
        }
        self.accept_stalls += 1;
        let port = self
            .eps
            .get(&id)
            .and_then(|ep| stack.local_addr(ep.handle).ok())
            .map_or(0, |a| a.port());
        let why = if e == Errno::EMFILE {
            "its uid holds netd.sockets_per_uid sockets"
        } else {
            "netd is out of file descriptors"
        };
        self.stall_log.log(std::time::Instant::now(), || {
            format!("connections wait in the accept queue of port {port} (uid {uid}): {why}")
        });
    }

    /// An epoll event on netd's end of endpoint `id`.
    pub fn on_event(
        &mut self,
        id: u32,
        events: EpollFlags,
        stack: &mut Stack,
        now: Instant,
        epoll: &Epoll,
    ) {
        let Some(ep) = self.eps.get_mut(&id) else {
            return;
        };
        ep.readable = true;
        let hup = events.contains(EpollFlags::EPOLLHUP);
        // A listener's last receipts are read before it closes (children the
        // program accepted must not be reset with the accept queue). The
        // state lookup comes last: only a HUP pays for it.
        if !hup
            || ep.dead
            || ep.orphan
            || !ep.stream
            || ep.connecting
            || stack.tcp_state(ep.handle) == Some(State::Listen)
        {
            self.pump(id, stack, now, epoll);
            if hup && !self.eps.get(&id).is_some_and(|ep| ep.dead || ep.orphan) {
                self.release(id, stack, now);
            }
            return;
        }
        // SO_LINGER with a zero timeout: close() resets at once and drops
        // the send queue (`tcp_close()`); nothing the program wrote, nor a
        // FIN, may go first. (Unless this HUP may be a shutdown: below.)
        let maybe_open = ep.app_shut_wr && ep.eof_sent && !ep.close_hinted;
        if !maybe_open
            && stack.getsockopt(ep.handle, SockOptName::Linger) == Ok(SockOptValue::Linger(1, 0))
        {
            self.release(id, stack, now);
            return;
        }
        // Every program fd is closed. What it wrote before closing is read
        // to the end (EOF, or ECONNRESET when it left bytes unread, which
        // resets); nothing is delivered to it any more, and its interest
        // set is not touched: it is released or leaves epoll right here.
        let end = ep.take_from_program(stack, now, &mut self.scratch[..CHUNK], true);
        let unread = match end {
            ReadEnd::Reset => true,
            ReadEnd::Eof => false,
            ReadEnd::Stopped => ep.reset_by_close(),
        };
        ep.unread_at_close |= unread;
        // Bytes it wrote that the send buffer has no room for yet still go
        // out, as close(2) leaves the send queue to drain: the endpoint
        // leaves epoll (HUP would be reported forever) and is pumped by
        // stack wake-ups until the socketpair reads EOF.
        if end == ReadEnd::Stopped && !ep.unread_at_close && !ep.app_eof && ep.pending_in() > 0 {
            ep.orphan = true;
            ep.interest = EpollFlags::empty();
            let _ = epoll.delete(ep.fd.as_fd());
            return;
        }
        // Both sides had shut their write directions (the program with
        // shutdown(), netd after the peer's FIN or SHUT_RD): that HUP may be
        // a program still holding its descriptor, as a Linux socket lives
        // on after shutdown(SHUT_RDWR). Unless it announced a close or left
        // bytes unread (only a close does), the endpoint waits like a dead
        // one, out of epoll, for its CloseHint or for the reaper to find
        // the descriptor gone.
        if maybe_open && !ep.unread_at_close {
            ep.dead = true;
            ep.interest = EpollFlags::empty();
            let _ = epoll.delete(ep.fd.as_fd());
            self.dead.insert(id);
            return;
        }
        self.release(id, stack, now);
    }

    /// Move whatever can move for the endpoint of stack socket `h`.
    pub fn wake(&mut self, h: SocketHandle, stack: &mut Stack, now: Instant, epoll: &Epoll) {
        if let Some(id) = self.id_of(h) {
            self.pump(id, stack, now, epoll);
        }
    }

    /// Send the datagrams UDP socket `r`'s program has written so far
    /// (nothing for TCP, whose bytes wait for send space).
    pub fn flush_dgrams(&mut self, r: SockRef, stack: &mut Stack, now: Instant, epoll: &Epoll) {
        if self.get(r).is_ok_and(|ep| !ep.stream) {
            if let Some(ep) = self.eps.get_mut(&r.id) {
                ep.readable = true;
            }
            self.pump(r.id, stack, now, epoll);
        }
    }

    pub fn pump(&mut self, id: u32, stack: &mut Stack, now: Instant, epoll: &Epoll) {
        let Some(ep) = self.eps.get_mut(&id) else {
            return;
        };
        if stack.tcp_state(ep.handle) == Some(State::Listen) {
            self.pump_listener(id, stack, now, epoll);
            if let Some(ep) = self.eps.get_mut(&id) {
                ep.update_interest(stack, epoll, id);
            }
            return;
        }
        let buf = &mut self.scratch;
        if ep.stream {
            ep.pump_stream(stack, now, buf);
        } else {
            ep.pump_dgram(stack, now, buf);
        }
        if ep.dead {
            self.dead.insert(id);
        }
        let sending = matches!(
            stack.tcp_state(ep.handle),
            Some(State::Established) | Some(State::CloseWait)
        );
        if ep.orphan && (ep.app_eof || !sending) {
            // Everything the closed program wrote is in the stack now (or the
            // connection can no longer take it).
            self.release(id, stack, now);
            return;
        }
        ep.update_interest(stack, epoll, id);
    }
}

/// A socketpair for endpoint `id`, netd's end in epoll: (netd's end, the
/// program's end, the inode of the program's end).
fn socketpair(epoll: &Epoll, stream: bool, id: u32) -> Result<(OwnedFd, OwnedFd, u64), Errno> {
    let ty = if stream {
        sk::SockType::Stream
    } else {
        sk::SockType::Datagram
    };
    // netd's end stays blocking as far as the descriptor goes: every
    // operation on it passes MSG_DONTWAIT, which saves two fcntl()s.
    let (ours, theirs) =
        sk::socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC).map_err(errno_of)?;
    let app_inode = nix::sys::stat::fstat(&theirs)
        .map(|st| st.st_ino)
        .unwrap_or(0);
    epoll
        .add(
            ours.as_fd(),
            EpollEvent::new(INITIAL_INTEREST, EP_BASE + u64::from(id)),
        )
        .map_err(errno_of)?;
    Ok((ours, theirs, app_inode))
}

/// What a new endpoint waits for: the program's writes and its close.
const INITIAL_INTEREST: EpollFlags = EpollFlags::EPOLLIN.union(EpollFlags::EPOLLRDHUP);

impl Endpoint {
    fn new(
        token: u64,
        handle: SocketHandle,
        stream: bool,
        uid: u32,
        fd: OwnedFd,
        app_inode: u64,
    ) -> Endpoint {
        Endpoint {
            token,
            handle,
            stream,
            fd,
            pushed: 0,
            push_blocked: false,
            out_blocked: false,
            orphan: false,
            // Nothing can be in the socketpair before the program has its end;
            // EPOLLIN says when it writes.
            readable: false,
            eof_sent: false,
            app_eof: false,
            error: None,
            connecting: false,
            unread_at_close: false,
            plug: 0,
            app_inode,
            uid,
            dead: false,
            app_shut_wr: false,
            close_hinted: false,
            interest: INITIAL_INTEREST,
        }
    }

    /// The program's shutdown(SHUT_WR), done from netd's end: shutting
    /// netd's read direction makes the program's writes fail (EPIPE) while
    /// what it wrote before stays readable here, then EOF.
    pub fn shut_app_write(&mut self) {
        self.app_shut_wr = true;
        let _ = sk::shutdown(self.fd.as_raw_fd(), sk::Shutdown::Read);
        self.readable = true;
    }

    fn write_fd(&self, bytes: &[u8]) -> Result<usize, nix::errno::Errno> {
        loop {
            match sk::send(
                self.fd.as_raw_fd(),
                bytes,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r,
            }
        }
    }

    fn read_fd(&self, buf: &mut [u8]) -> Result<usize, nix::errno::Errno> {
        loop {
            match sk::recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r,
            }
        }
    }

    /// Linux marks the surviving end of a stream socketpair ECONNRESET when
    /// the closing end still had bytes queued (`unix_release_sock()`): the
    /// program closed with data unread. Reading SO_ERROR clears it.
    fn reset_by_close(&self) -> bool {
        sk::getsockopt(&self.fd, sk::sockopt::SocketError).is_ok_and(|e| e == nix::libc::ECONNRESET)
    }

    /// Bytes the program wrote that netd has not read yet (SIOCINQ).
    fn pending_in(&self) -> usize {
        let mut n: nix::libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let r = unsafe { nix::libc::ioctl(self.fd.as_raw_fd(), nix::libc::FIONREAD, &mut n) };
        if r < 0 {
            0
        } else {
            n.max(0) as usize
        }
    }

    /// Discard libnet's plug: it precedes whatever the program wrote, and
    /// the connection is decided, so the descriptor turns writable as a
    /// kernel socket does when its handshake ends.
    fn unplug(&mut self, buf: &mut [u8]) {
        while self.plug > 0 {
            let want = self.plug.min(buf.len());
            match self.read_fd(&mut buf[..want]) {
                Ok(n) if n > 0 => self.plug -= n,
                // EOF or ECONNRESET: the program is gone and so is the plug.
                Ok(_) | Err(nix::errno::Errno::ECONNRESET) => {
                    self.plug = 0;
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Shut both directions: the program reads EOF and its writes fail with EPIPE.
    fn kill(&mut self) {
        if !self.dead {
            let _ = sk::shutdown(self.fd.as_raw_fd(), sk::Shutdown::Both);
            self.eof_sent = true;
            self.app_eof = true;
            self.dead = true;
        }
    }

    fn pump_stream(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) {
        if self.connecting {
            match stack.tcp_state(self.handle) {
                Some(State::SynSent) | Some(State::SynRcvd) => return,
                // Failed: the outcome stays in the stack for WaitConnect/SO_ERROR;
                // the program sees EOF and EPIPE on the socketpair, and
                // writable once the plug is gone (POLLOUT, as Linux reports
                // a failed connect).
                Some(State::Closed) => {
                    // Shut first: a program woken by the plug's going
                    // must already find EOF, not EAGAIN.
                    self.kill();
                    self.unplug(&mut buf[..CHUNK]);
                    return;
                }
                _ => self.connecting = false,
            }
        }
        let buf = &mut buf[..CHUNK];
        if self.orphan {
            // Nobody reads any more: data that arrives stays in the stack,
            // and closing with it unread resets, as Linux answers data after close().
            self.eof_sent = true;
        }
        // Stack -> program, straight from the receive queue into the
        // socketpair: what it refuses stays queued in the stack, so the
        // advertised window shrinks exactly as the program falls behind.
        self.out_blocked = false;
        while !self.eof_sent {
            let fd = self.fd.as_raw_fd();
            let mut blocked = false;
            let r = stack.recv_with(now, self.handle, false, |a, b| {
                let want = a.len() + b.len();
                let iov = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
                let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
                let n = loop {
                    match sk::sendmsg::<()>(fd, &iov, &[], flags, None) {
                        Err(nix::errno::Errno::EINTR) => continue,
                        Ok(n) => break n,
                        Err(_) => break 0,
                    }
                };
                blocked = n < want;
                n
            });
            match r {
                Ok(0) if !blocked => {
                    let _ = sk::shutdown(fd, sk::Shutdown::Write);
                    self.eof_sent = true;
                }
                Ok(_) if blocked => {
                    self.out_blocked = true;
                    break;
                }
                Ok(_) => {}
                Err(Errno::EAGAIN) | Err(Errno::ENOTCONN) | Err(Errno::EBADF) => break,
                Err(e) => {
                    // Reset, timeout: EOF and EPIPE for the program, the errno via TakeError.
                    self.error = Some(e);
                    self.kill();
                }
            }
        }
        // A reset after the peer's FIN (in CLOSE_WAIT): no read above sees
        // it, the receive side having ended, but the program's writes must
        // fail from now on; the error stays in the stack for SO_ERROR.
        if !self.dead && !self.orphan && stack.has_error(self.handle) {
            self.kill();
        }
        let closed = self.orphan;
        self.take_from_program(stack, now, buf, closed);
    }

    /// Program -> stack, no faster than the send buffer drains. With
    /// `closed` (every program fd is gone) reading goes on to the end: the
    /// next read after a short one is EOF or ECONNRESET, never EAGAIN. What
    /// a closed program wrote is queued corked (MSG_MORE) until the end is
    /// known, so a reply and the close read together leave as one segment
    /// carrying FIN, as `tcp_send_fin()` merges a FIN into an unsent tail.
    fn take_from_program(
        &mut self,
        stack: &mut Stack,
        now: Instant,
        buf: &mut [u8],
        closed: bool,
    ) -> ReadEnd {
        let mut corked = false;
        let end = self.read_program(stack, now, buf, closed, &mut corked);
        // At EOF the shutdown has sent the data with the FIN; a reset
        // (closed with bytes unread) or a full send buffer sends it now.
        if corked && end != ReadEnd::Eof {
            stack.push(now, self.handle);
        }
        end
    }

    fn read_program(
        &mut self,
        stack: &mut Stack,
        now: Instant,
        buf: &mut [u8],
        closed: bool,
        corked: &mut bool,
    ) -> ReadEnd {
        self.unplug(buf);
        while !self.app_eof && self.readable {
            let space = stack.send_space(self.handle);
            if space == 0 {
                break;
            }
            let want = space.min(buf.len());
            match self.read_fd(&mut buf[..want]) {
                Ok(0) => {
                    self.app_eof = true;
                    let _ = stack.shutdown(now, self.handle, Shutdown::Write);
                    return ReadEnd::Eof;
                }
                Ok(n) => {
                    let sent = if closed {
                        *corked = true;
                        stack.send_more(now, self.handle, &buf[..n])
                    } else {
                        stack.send(now, self.handle, &buf[..n])
                    };
                    if sent.is_err() {
                        break;
                    }
                    // A short read drained the socketpair: epoll (level-
                    // triggered) says when there is more, saving a read that
                    // would fail with EAGAIN.
                    if n < want && !closed {
                        self.readable = false;
                        break;
                    }
                }
                // The program closed with bytes unread (see `release`); the
                // read after the last byte reports it, once.
                Err(nix::errno::Errno::ECONNRESET) => {
                    self.unread_at_close = true;
                    self.readable = false;
                    return ReadEnd::Reset;
                }
                Err(nix::errno::Errno::EAGAIN) => {
                    self.readable = false;
                    break;
                }
                Err(_) => break,
            }
        }
        ReadEnd::Stopped
    }

    fn pump_dgram(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) {
        // Stack -> program: one socketpair datagram per UDP datagram.
        loop {
            match stack.recvfrom(self.handle, &mut buf[DGRAM_HEADER..], false) {
                Ok((n, from)) => {
                    buf[..4].copy_from_slice(&from.ip().octets());
                    buf[4..6].copy_from_slice(&from.port().to_be_bytes());
                    // A full socketpair drops the datagram, as a full UDP buffer does.
                    let _ = self.write_fd(&buf[..DGRAM_HEADER + n]);
                }
                Err(Errno::EAGAIN) | Err(Errno::EBADF) => break,
                Err(e) => {
                    let mut msg = [0u8; DGRAM_HEADER + 4];
                    msg[DGRAM_HEADER..].copy_from_slice(&e.code().to_le_bytes());
                    let _ = self.write_fd(&msg);
                }
            }
        }
        // Program -> stack.
        while self.readable {
            match self.read_fd(buf) {
                Ok(n) if n >= DGRAM_HEADER => {
                    let ip = Ipv4Addr::new(buf[0], buf[1], buf[2], buf[3]);
                    let port = u16::from_be_bytes([buf[4], buf[5]]);
                    let data = &buf[DGRAM_HEADER..n];
                    let _ = if ip.is_unspecified() && port == 0 {
                        stack.send(now, self.handle, data)
                    } else {
                        stack.sendto(now, self.handle, data, SocketAddrV4::new(ip, port))
                    };
                }
                Ok(_) => continue,
                Err(_) => {
                    self.readable = false;
                    break;
                }
            }
        }
    }

    fn update_interest(&mut self, stack: &Stack, epoll: &Epoll, id: u32) {
        if self.orphan {
            return;
        }
        if self.dead {
            if !self.interest.is_empty() {
                self.interest = EpollFlags::empty();
                let _ = epoll.delete(self.fd.as_fd());
            }
            return;
        }
        let mut want = EpollFlags::EPOLLRDHUP;
        let listening = stack.tcp_state(self.handle) == Some(State::Listen);
        if !self.stream || listening || (!self.app_eof && stack.send_space(self.handle) > 0) {
            want |= EpollFlags::EPOLLIN;
        }
        if self.out_blocked || self.push_blocked {
            want |= EpollFlags::EPOLLOUT;
        }
        if want != self.interest {
            self.interest = want;
            let _ = epoll.modify(
                self.fd.as_fd(),
                &mut EpollEvent::new(want, EP_BASE + u64::from(id)),
            );
        }
    }
}

/// Socket type of a request.
pub fn sock_type(stream: bool) -> SockType {
    if stream {
        SockType::Stream
    } else {
        SockType::Datagram
    }
}
