//! libnet: BSD sockets on netd, with the POSIX signatures prefixed `net_`.
//!
//! Every libnet socket is a real file descriptor: one end of a socketpair
//! whose other end netd holds. `net_send`/`net_recv` are a single
//! `send`/`recv` on it (no round trip to netd), and `poll`, `select`,
//! `epoll`, `fork`, `dup` and close-on-exec behave as for kernel sockets. The
//! control calls (bind, listen, connect, accept, options) go to netd over
//! its Unix control socket (`NETD_SOCKET`, default /run/netd/netd.sock).
//!
//! Errors follow Linux: -1 with the C library's `errno` set to the value the
//! kernel would give. Errors a socketpair cannot carry (ECONNRESET before
//! EPIPE, ETIMEDOUT, ECONNREFUSED) are fetched from netd when the data path
//! reports EOF or EPIPE. SIGPIPE is raised by libnet itself, after the
//! ECONNRESET-first rule, unless MSG_NOSIGNAL is given.
//!
//! Thread-safety: calls may be made from any thread; control calls are
//! serialised on one connection per process, reopened in a forked child.

mod control;

use libc::{c_int, c_long, c_void, size_t, sockaddr, socklen_t, ssize_t};
use netd_proto::sockopt::{SockOpt, SockOptName, SockOptValue};
use netd_proto::{AcceptRecord, Request, Response, SockRef, WireAddr, ACCEPT_RECORD, DGRAM_HEADER};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::sync::Mutex;

/// What libnet knows about one of its descriptors. Keyed by the socketpair
/// end's inode, so dup()ed and inherited descriptors find the same entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    sock: SockRef,
    stream: bool,
    /// connect() was called or the socket came from accept().
    connected: bool,
    listening: bool,
    /// shutdown(SHUT_RD) on a socket that was not connected (or on UDP):
    /// Linux says ENOTCONN but records it in `sk_shutdown`, and a recv()
    /// that finds nothing queued then returns 0, even after a later connect.
    rcv_shut: bool,
    /// The same for SHUT_WR: send() then fails with EPIPE.
    snd_shut: bool,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// The table is not pruned below this many entries.
const PRUNE_MIN: usize = 1024;

/// libnet's sockets by (device, inode). close() cannot drop an entry (a
/// dup()ed descriptor may still use it), so entries of sockets the process
/// no longer holds are pruned against /proc/self/fd whenever the table has
/// doubled since the last prune: amortised O(1) per socket, and a server
/// that accepts forever keeps a table the size of its open sockets.
struct Table {
    map: HashMap<(u64, u64), Entry>,
    prune_at: usize,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            map: HashMap::new(),
            prune_at: PRUNE_MIN,
        }
    }
}

impl Table {
    fn insert(&mut self, k: (u64, u64), e: Entry) {
        self.map.insert(k, e);
        if self.map.len() >= self.prune_at {
            if let Some(held) = held_socket_inodes() {
                self.map.retain(|(_, ino), _| held.contains(ino));
            }
            self.prune_at = (2 * self.map.len()).max(PRUNE_MIN);
        }
    }
}

/// Inodes of the sockets this process has descriptors for ("socket:[N]"
/// links in /proc/self/fd); None if /proc cannot be read, so nothing is pruned.
fn held_socket_inodes() -> Option<std::collections::HashSet<u64>> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(
        dir.flatten()
            .filter_map(|ent| {
                let target = std::fs::read_link(ent.path()).ok()?;
                target
                    .to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect(),
    )
}

fn set_errno(e: c_int) {
    // SAFETY: __errno_location() returns this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

fn key(fd: c_int) -> Result<(u64, u64), c_int> {
    // SAFETY: fstat writes into a local stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(libc::EBADF);
    }
    Ok((st.st_dev, st.st_ino))
}

fn lookup(fd: c_int) -> Result<Entry, c_int> {
    lookup_key(fd).map(|(_, e)| e)
}

/// The entry and its (device, inode) key.
fn lookup_key(fd: c_int) -> Result<((u64, u64), Entry), c_int> {
    let k = key(fd)?;
    let t = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    t.as_ref()
        .and_then(|t| t.map.get(&k))
        .map(|e| (k, *e))
        .ok_or(libc::ENOTSOCK)
}

fn update(fd: c_int, f: impl FnOnce(&mut Entry)) {
    if let Ok(k) = key(fd) {
        let mut t = TABLE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = t.as_mut().and_then(|t| t.map.get_mut(&k)) {
            f(e);
        }
    }
}

fn register(fd: c_int, e: Entry) -> Result<(), c_int> {
    register_key(key(fd)?, e);
    Ok(())
}

fn register_key(k: (u64, u64), e: Entry) {
    let mut t = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    t.get_or_insert_with(Table::default).insert(k, e);
}

/// A control request whose answer is just success or an errno.
fn simple(req: Request) -> Result<Response, c_int> {
    match control::request(&req)? {
        (Response::Error { errno, .. }, _) => Err(errno),
        (r, _) => Ok(r),
    }
}

fn ret(r: Result<(), c_int>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

/// Read a `struct sockaddr_in` the way the kernel does (length and family checks).
unsafe fn read_addr(addr: *const sockaddr, len: socklen_t) -> Result<WireAddr, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
        return Err(libc::EINVAL);
    }
    let sin = std::ptr::read_unaligned(addr as *const libc::sockaddr_in);
    if c_int::from(sin.sin_family) != libc::AF_INET {
        return Err(libc::EAFNOSUPPORT);
    }
    Ok(WireAddr {
        ip: sin.sin_addr.s_addr.to_ne_bytes(),
        port: u16::from_be(sin.sin_port),
    })
}

/// Write an address with accept()/getsockname() semantics: copy at most
/// `*len` bytes, then set `*len` to the real size.
unsafe fn write_addr(a: WireAddr, addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let mut sin: libc::sockaddr_in = std::mem::zeroed();
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = a.port.to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip);
    let real = std::mem::size_of::<libc::sockaddr_in>();
    let n = (*len as usize).min(real);
    std::ptr::copy_nonoverlapping(&sin as *const _ as *const u8, addr as *mut u8, n);
    *len = real as socklen_t;
}

/// Install a descriptor received from netd with the caller's flags.
fn adopt(fd: OwnedFd, flags: c_int) -> Result<c_int, c_int> {
    let raw = fd.into_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor we own.
    unsafe {
        if flags & libc::SOCK_NONBLOCK != 0 {
            let fl = libc::fcntl(raw, libc::F_GETFL);
            libc::fcntl(raw, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        if flags & libc::SOCK_CLOEXEC == 0 {
            // Received with MSG_CMSG_CLOEXEC so no exec() can race us; clear it as asked.
            libc::fcntl(raw, libc::F_SETFD, 0);
        }
    }
    Ok(raw)
}

fn is_nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL reads descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK != 0 }
}

/// The pending socket error netd holds (0 if none). If netd itself is
/// gone, the connection died with it: ECONNRESET, never a quiet EOF.
fn take_error(sock: SockRef) -> c_int {
    match control::request(&Request::TakeError { sock }) {
        Ok((Response::Errno(e), _)) => e,
        Ok(_) => 0,
        Err(_) => libc::ECONNRESET,
    }
}

/// The error a recv() at end of stream reports: none once the peer's FIN
/// arrived (`Request::TakeRecvError`); ECONNRESET if netd is gone.
fn take_recv_error(sock: SockRef) -> c_int {
    match control::request(&Request::TakeRecvError { sock }) {
        Ok((Response::Errno(e), _)) => e,
        Ok(_) => 0,
        Err(_) => libc::ECONNRESET,
    }
}

/// `socket(2)`: AF_INET with SOCK_STREAM or SOCK_DGRAM, optionally
/// `| SOCK_NONBLOCK | SOCK_CLOEXEC`.
#[no_mangle]
pub extern "C" fn net_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if domain != libc::AF_INET {
        return fail(libc::EAFNOSUPPORT);
    }
    let flags = ty & (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let stream = match base {
        libc::SOCK_STREAM => true,
        libc::SOCK_DGRAM => false,
        _ if base & !0xf != 0 => return fail(libc::EINVAL),
        _ => return fail(libc::ESOCKTNOSUPPORT),
    };
    let proto_ok = protocol == 0
        || (stream && protocol == libc::IPPROTO_TCP)
        || (!stream && protocol == libc::IPPROTO_UDP);
    if !proto_ok {
        return fail(libc::EPROTONOSUPPORT);
    }
    let (resp, fd) = match control::request(&Request::Socket { stream }) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (Response::Socket { sock }, Some(fd)) = (resp, fd) else {
        return fail(libc::EPROTO);
    };
    let raw = match adopt(fd, flags) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let entry = Entry {
        sock,
        stream,
        connected: false,
        listening: false,
        rcv_shut: false,
        snd_shut: false,
    };
    match register(raw, entry) {
        Ok(()) => raw,
        Err(e) => fail(e),
    }
}

/// `bind(2)`.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn net_bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        let addr = read_addr(addr, len)?;
        simple(Request::Bind { sock: e.sock, addr }).map(|_| ())
    })())
}

/// `listen(2)`.
#[no_mangle]
pub extern "C" fn net_listen(fd: c_int, backlog: c_int) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        if !e.stream {
            return Err(libc::EOPNOTSUPP);
        }
        simple(Request::Listen {
            sock: e.sock,
            backlog,
        })?;
        update(fd, |e| e.listening = true);
        Ok(())
    })())
}

/// `connect(2)`. A blocking socket waits for the handshake; a non-blocking
/// one returns EINPROGRESS, then EALREADY, then 0 once, then EISCONN. As
/// with a kernel socket, its descriptor turns writable when the handshake
/// is decided, and SO_ERROR then holds the outcome.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn net_connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        // AF_UNSPEC dissolves the association (`inet_dgram_connect()`,
        // `__inet_stream_connect()`): a TCP connection is reset, a listener
        // stops listening, a UDP socket forgets its peer.
        if addr.is_null() {
            return Err(libc::EFAULT);
        }
        if (len as usize) < std::mem::size_of::<libc::sa_family_t>() {
            return Err(libc::EINVAL);
        }
        let family = std::ptr::read_unaligned(addr as *const libc::sa_family_t);
        if c_int::from(family) == libc::AF_UNSPEC {
            return disconnect(fd, e);
        }
        let addr = read_addr(addr, len)?;
        let plug = if e.stream && !e.connected && is_nonblocking(fd) {
            plug(fd)
        } else {
            0
        };
        let r = simple(Request::Connect {
            sock: e.sock,
            addr,
            plug,
        });
        match r {
            Ok(_) => {
                update(fd, |e| e.connected = true);
                Ok(())
            }
            Err(libc::EINPROGRESS) => {
                update(fd, |e| e.connected = true);
                if is_nonblocking(fd) {
                    return Err(libc::EINPROGRESS);
                }
                // Wait on a connection of our own so other threads' calls go on.
                let mut conn = control::Conn::open()?;
                match conn.call(&Request::WaitConnect { sock: e.sock })? {
                    (Response::Ok, _) => Ok(()),
                    (Response::Error { errno, .. }, _) => {
                        // The attempt is over and the stack disconnected the
                        // socket: so does its descriptor.
                        disconnect(fd, e)?;
                        Err(errno)
                    }
                    _ => Err(libc::EPROTO),
                }
            }
            // A connect() after an attempt that ended reports its outcome and
            // leaves the socket unconnected (see Stack::connect).
            Err(err)
                if e.stream
                    && e.connected
                    && !matches!(err, libc::EALREADY | libc::EISCONN | libc::EINPROGRESS) =>
            {
                disconnect(fd, e)?;
                Err(err)
            }
            Err(err) => Err(err),
        }
    })())
}

/// Put the socket back to unconnected (`Request::Disconnect`): netd resets
/// its side and hands over a fresh socketpair end, which takes the place of
/// the old descriptor under the same number, with the same status flags,
/// close-on-exec flag and timeouts.
fn disconnect(fd: c_int, e: Entry) -> Result<(), c_int> {
    let (resp, newfd) = control::request(&Request::Disconnect { sock: e.sock })?;
    match resp {
        Response::Ok => {}
        Response::Error { errno, .. } => return Err(errno),
        _ => return Err(libc::EPROTO),
    }
    let Some(newfd) = newfd else {
        // UDP keeps its socketpair: udp_disconnect() leaves queued
        // datagrams to be read.
        update(fd, |e| e.connected = false);
        return Ok(());
    };
    // SAFETY: plain descriptor calls on fds we own; the timeval buffers are
    // local and sized for SO_RCVTIMEO/SO_SNDTIMEO.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        let cloexec = libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0;
        let mut timeouts = [(libc::SO_RCVTIMEO, std::mem::zeroed::<libc::timeval>()); 2];
        timeouts[1].0 = libc::SO_SNDTIMEO;
        for (name, tv) in timeouts.iter_mut() {
            let mut l = std::mem::size_of::<libc::timeval>() as socklen_t;
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                *name,
                tv as *mut _ as *mut c_void,
                &mut l,
            );
        }
        let raw = newfd.as_raw_fd();
        let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
        if libc::dup3(raw, fd, flags) < 0 {
            return Err(*libc::__errno_location());
        }
        if fl >= 0 {
            libc::fcntl(fd, libc::F_SETFL, fl);
        }
        for (name, tv) in &timeouts {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                *name,
                tv as *const _ as *const c_void,
                std::mem::size_of::<libc::timeval>() as socklen_t,
            );
        }
    }
    drop(newfd);
    // The entry moves to the new inode (the old socketpair is gone).
    let mut t = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = t.as_mut() {
        t.map.retain(|_, v| v.sock != e.sock);
    }
    drop(t);
    register(
        fd,
        Entry {
            connected: false,
            listening: false,
            rcv_shut: false,
            snd_shut: false,
            ..e
        },
    )
}

/// A kernel socket is not writable while a non-blocking connect runs, and
/// event loops wait for POLLOUT and then read SO_ERROR. A socketpair has
/// room from the start, so libnet fills it first with bytes netd discards
/// once the connection is decided (`Request::Connect`'s `plug`); until then
/// poll, select and epoll do not report the descriptor writable. Returns
/// how many bytes were written.
fn plug(fd: c_int) -> u32 {
    static FILL: [u8; 65536] = [0; 65536];
    let mut n = 0u32;
    // A 64 KB write is more than a quarter of the default SO_SNDBUF, where
    // a Unix socket stops being writable; the bound covers a raised
    // net.core.wmem_default.
    for _ in 0..64 {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        if unsafe { libc::poll(&mut p, 1, 0) } != 1 || p.revents & libc::POLLOUT == 0 {
            break;
        }
        // SAFETY: FILL is readable for its length.
        let r = unsafe {
            libc::send(
                fd,
                FILL.as_ptr().cast(),
                FILL.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if r <= 0 {
            break;
        }
        n += r as u32;
    }
    n
}

/// `accept4(2)`: flags SOCK_NONBLOCK and SOCK_CLOEXEC.
///
/// # Safety
/// `addr`/`len` must be null or valid for writes as for accept(2).
#[no_mangle]
pub unsafe extern "C" fn net_accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return fail(libc::EINVAL);
    }
    let (listener_key, e) = match lookup_key(fd) {
        Ok(v) => v,
        Err(err) => return fail(err),
    };
    // inet_dgram_ops has no accept (sock_no_accept); a TCP socket must listen.
    if !e.stream {
        return fail(libc::EOPNOTSUPP);
    }
    if !e.listening {
        return fail(libc::EINVAL);
    }
    // One record per queued connection, its socketpair end attached: the
    // kernel does the blocking, O_NONBLOCK, SO_RCVTIMEO and signal handling.
    let mut record = [0u8; ACCEPT_RECORD];
    let mut iov = [std::io::IoSliceMut::new(&mut record)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    // FD_CLOEXEC set atomically when asked for, and not set (no fcntl to
    // clear it) otherwise.
    let cloexec = if flags & libc::SOCK_CLOEXEC != 0 {
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC
    } else {
        nix::sys::socket::MsgFlags::empty()
    };
    let msg = match nix::sys::socket::recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), cloexec) {
        Ok(m) => m,
        Err(e) => return fail(e as i32),
    };
    let mut newfd = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(raw) = c {
                for r in raw {
                    // SAFETY: the kernel just installed this descriptor for us.
                    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r) };
                    newfd.get_or_insert(owned);
                }
            }
        }
    }
    let n = msg.bytes;
    if n == 0 {
        // netd stopped listening (shutdown) or went away.
        return fail(libc::EINVAL);
    }
    if n != ACCEPT_RECORD {
        return fail(libc::EPROTO);
    }
    // The receipt: netd takes the connection off the accept queue. A full
    // socketpair cannot happen (one byte per record netd sent).
    let _ = libc::send(
        fd,
        b"a".as_ptr() as *const c_void,
        1,
        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
    );
    let Some(nfd) = newfd else {
        // No descriptor slot left (MSG_CTRUNC): the kernel closed the new end,
        // so netd sees the connection closed; accept(2) says EMFILE.
        let truncated = msg.flags.contains(nix::sys::socket::MsgFlags::MSG_CTRUNC);
        return fail(if truncated {
            libc::EMFILE
        } else {
            libc::EPROTO
        });
    };
    let rec = AcceptRecord::decode(&record);
    // FD_CLOEXEC is already as asked: adopt() must not clear it.
    let raw = match adopt(nfd, flags | libc::SOCK_CLOEXEC) {
        Ok(r) => r,
        Err(err) => return fail(err),
    };
    // Every socketpair end lives on the same (sockfs) device as the listener's.
    register_key(
        (listener_key.0, rec.inode),
        Entry {
            sock: rec.sock,
            stream: true,
            connected: true,
            listening: false,
            rcv_shut: false,
            snd_shut: false,
        },
    );
    write_addr(rec.peer.into(), addr, len);
    raw
}

/// `accept(2)`.
///
/// # Safety
/// As for [`net_accept4`].
#[no_mangle]
pub unsafe extern "C" fn net_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    net_accept4(fd, addr, len, 0)
}

/// EPIPE as Linux reports it (`sk_stream_error()`): a pending error first
/// (ECONNRESET, ECONNREFUSED, ETIMEDOUT...), and SIGPIPE to the calling
/// thread for EPIPE itself unless MSG_NOSIGNAL.
fn broken_pipe(e: &Entry, flags: c_int) -> ssize_t {
    let err = match take_error(e.sock) {
        0 => libc::EPIPE,
        pending => pending,
    };
    if err == libc::EPIPE && flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: signalling our own thread.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE) };
    }
    fail(err)
}

/// `send(2)`.
///
/// # Safety
/// `buf` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn net_send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    let e = match lookup(fd) {
        Ok(e) => e,
        Err(err) => return fail(err),
    };
    if !e.stream {
        if !e.connected {
            // Linux binds the socket to a port before it finds there is
            // no destination (`inet_send_prepare()`, then `udp_sendmsg()`).
            let _ = simple(Request::Autobind { sock: e.sock });
            return fail(libc::EDESTADDRREQ);
        }
        // sock_alloc_send_pskb(): no datagram leaves a shut write side.
        if e.snd_shut {
            return fail(libc::EPIPE);
        }
        // All zero: "the connected peer" (proto::DGRAM_HEADER).
        return send_dgram(fd, buf, len, flags, WireAddr::UNSPECIFIED);
    }
    if !e.connected || e.snd_shut {
        return broken_pipe(&e, flags);
    }
    let n = libc::send(fd, buf, len, flags | libc::MSG_NOSIGNAL);
    if n < 0 && *libc::__errno_location() == libc::EPIPE {
        return broken_pipe(&e, flags);
    }
    n
}

unsafe fn send_dgram(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    to: WireAddr,
) -> ssize_t {
    if len > 65_507 {
        return fail(libc::EMSGSIZE);
    }
    let mut hdr = [0u8; DGRAM_HEADER];
    hdr[..4].copy_from_slice(&to.ip);
    hdr[4..].copy_from_slice(&to.port.to_be_bytes());
    let mut iov = [
        libc::iovec {
            iov_base: hdr.as_mut_ptr() as *mut c_void,
            iov_len: DGRAM_HEADER,
        },
        libc::iovec {
            iov_base: buf as *mut c_void,
            iov_len: len,
        },
    ];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = 2;
    let n = libc::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL);
    if n < 0 {
        return -1;
    }
    (n as usize).saturating_sub(DGRAM_HEADER) as ssize_t
}

/// `recv(2)`: 0 is end of stream; after a reset, ECONNRESET once, then 0.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn net_recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    net_recvfrom(
        fd,
        buf,
        len,
        flags,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
}

/// `sendto(2)`: the address is ignored on a connected TCP socket, as in Linux.
///
/// # Safety
/// `buf` must point to `len` readable bytes and `addr` to `alen` bytes.
#[no_mangle]
pub unsafe extern "C" fn net_sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    alen: socklen_t,
) -> ssize_t {
    let e = match lookup(fd) {
        Ok(e) => e,
        Err(err) => return fail(err),
    };
    if e.stream || addr.is_null() {
        return net_send(fd, buf, len, flags);
    }
    if e.snd_shut {
        return fail(libc::EPIPE);
    }
    match read_addr(addr, alen) {
        Ok(to) => send_dgram(fd, buf, len, flags, to),
        Err(err) => fail(err),
    }
}

/// `recvfrom(2)`: a TCP socket fills no address (`*alen = 0`).
///
/// # Safety
/// `buf` must point to `len` writable bytes; `addr`/`alen` null or valid.
#[no_mangle]
pub unsafe extern "C" fn net_recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    alen: *mut socklen_t,
) -> ssize_t {
    let e = match lookup(fd) {
        Ok(e) => e,
        Err(err) => return fail(err),
    };
    if e.stream {
        if !e.connected {
            // tcp_recvmsg(): a listener is ENOTCONN; otherwise a pending
            // error (a disconnect's ECONNRESET), then a shut read side's end
            // of file, come before "not connected".
            if e.listening {
                return fail(libc::ENOTCONN);
            }
            return match take_error(e.sock) {
                0 if e.rcv_shut => 0,
                0 => fail(libc::ENOTCONN),
                pending => fail(pending),
            };
        }
        // A read side shut before the socket connected: what is queued,
        // else end of file, never a wait.
        let mut n = libc::recv(
            fd,
            buf,
            len,
            if e.rcv_shut {
                flags | libc::MSG_DONTWAIT
            } else {
                flags
            },
        );
        if e.rcv_shut && n < 0 && *libc::__errno_location() == libc::EAGAIN {
            n = 0;
        }
        if n == 0 && len > 0 {
            let pending = take_recv_error(e.sock);
            if pending != 0 {
                return fail(pending);
            }
        }
        if n >= 0 && !alen.is_null() {
            *alen = 0;
        }
        return n;
    }
    let mut hdr = [0u8; DGRAM_HEADER + 4];
    let mut iov = [
        libc::iovec {
            iov_base: hdr.as_mut_ptr() as *mut c_void,
            iov_len: DGRAM_HEADER,
        },
        libc::iovec {
            iov_base: buf,
            iov_len: len,
        },
    ];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = 2;
    // With the read side shut, a wait for a datagram ends at once with 0
    // (`__skb_wait_for_more_packets()`); a non-blocking call still says EAGAIN.
    let wait = flags & libc::MSG_DONTWAIT == 0 && !is_nonblocking(fd);
    let rflags = if e.rcv_shut && wait {
        flags | libc::MSG_DONTWAIT
    } else {
        flags
    };
    // MSG_TRUNC makes the Unix socket return the whole datagram's length,
    // so the caller learns the UDP payload's, as from udp_recvmsg().
    let n = libc::recvmsg(fd, &mut msg, rflags);
    if n < 0 {
        if e.rcv_shut && wait && *libc::__errno_location() == libc::EAGAIN {
            return 0;
        }
        return -1;
    }
    let n = n as usize;
    if hdr[..DGRAM_HEADER].iter().all(|b| *b == 0) && n >= DGRAM_HEADER {
        // An error netd queued for this socket (an ICMP error on a connected socket).
        let mut code = [0u8; 4];
        let got = (n - DGRAM_HEADER).min(4).min(len);
        std::ptr::copy_nonoverlapping(buf as *const u8, code.as_mut_ptr(), got);
        return fail(i32::from_le_bytes(code));
    }
    let from = WireAddr {
        ip: [hdr[0], hdr[1], hdr[2], hdr[3]],
        port: u16::from_be_bytes([hdr[4], hdr[5]]),
    };
    write_addr(from, addr, alen);
    n.saturating_sub(DGRAM_HEADER) as ssize_t
}

/// `read(2)` on a libnet socket.
///
/// # Safety
/// As for [`net_recv`].
#[no_mangle]
pub unsafe extern "C" fn net_read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    net_recv(fd, buf, len, 0)
}

/// `write(2)` on a libnet socket.
///
/// # Safety
/// As for [`net_send`].
#[no_mangle]
pub unsafe extern "C" fn net_write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    net_send(fd, buf, len, 0)
}

/// `shutdown(2)`: SHUT_WR queues a FIN after the data already written.
#[no_mangle]
pub extern "C" fn net_shutdown(fd: c_int, how: c_int) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        if !(0..=2).contains(&how) {
            return Err(libc::EINVAL);
        }
        // inet_shutdown(): a listener ignores SHUT_WR and stops listening
        // on SHUT_RD/SHUT_RDWR (a disconnect, queued connections reset).
        if e.listening {
            return if how == libc::SHUT_WR {
                Ok(())
            } else {
                disconnect(fd, e)
            };
        }
        // inet_shutdown() records the shut directions even where it then
        // says ENOTCONN (an unconnected socket). For TCP that is the
        // answer; a UDP socket asks netd whether it is connected.
        let record = |fd| {
            update(fd, |e| {
                e.rcv_shut |= how != libc::SHUT_WR;
                e.snd_shut |= how != libc::SHUT_RD;
            })
        };
        if !e.stream || !e.connected {
            record(fd);
        }
        if e.stream && !e.connected {
            return Err(libc::ENOTCONN);
        }
        // netd shuts the socketpair's write direction itself and reads what
        // was written before it, so the FIN is queued behind that data by
        // the time this returns, as Linux's shutdown() queues it.
        simple(Request::Shutdown {
            sock: e.sock,
            how: how as u8,
        })
        .map(|_| ())
    })())
}

/// `close(2)`: the connection ends when the last descriptor closes; unread
/// data then means an RST (RFC 2525 §2.17), as in Linux. netd sees both on
/// its own end of the socketpair (HUP, and ECONNRESET when bytes were left
/// queued), so a live socket closes without a round trip. Only a socket netd
/// already shut down (reset, failed connect: POLLHUP here) needs telling, as
/// netd no longer watches its end.
#[no_mangle]
pub extern "C" fn net_close(fd: c_int) -> c_int {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one pollfd we own, zero timeout.
    let hup = unsafe { libc::poll(&mut p, 1, 0) } == 1 && p.revents & libc::POLLHUP != 0;
    if hup {
        if let Ok(e) = lookup(fd) {
            let mut unread: c_int = 0;
            // SAFETY: FIONREAD writes an int.
            unsafe { libc::ioctl(fd, libc::FIONREAD, &mut unread) };
            let _ = control::request(&Request::CloseHint {
                sock: e.sock,
                unread: unread > 0,
            });
        }
    }
    // SAFETY: closing a descriptor the caller owns.
    unsafe { libc::close(fd) }
}

fn int_opt(val: *const c_void, len: socklen_t) -> Result<i32, c_int> {
    if val.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<c_int>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: checked non-null and at least an int long.
    Ok(unsafe { std::ptr::read_unaligned(val as *const c_int) })
}

/// `setsockopt(2)` for the options netd implements; SO_RCVTIMEO and
/// SO_SNDTIMEO apply to the descriptor itself, so the kernel times the waits.
///
/// # Safety
/// `val` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn net_setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        match opt_level(level, e.stream) {
            // SO_RCVTIMEO/SO_SNDTIMEO time the descriptor's own waits.
            OptLevel::Socket if name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO => {
                return if libc::setsockopt(fd, level, name, val, len) == 0 {
                    Ok(())
                } else {
                    Err(*libc::__errno_location())
                };
            }
            // sk_setsockopt(), do_tcp_setsockopt() and udp_lib_setsockopt()
            // refuse a short option before looking at its name.
            OptLevel::Socket | OptLevel::Proto => {
                if (len as usize) < std::mem::size_of::<c_int>() {
                    return Err(libc::EINVAL);
                }
            }
            // ip_setsockopt(): no IP-level option is implemented, and any
            // other level is not IP's (ENOPROTOOPT either way).
            OptLevel::Ip | OptLevel::Other => return Err(libc::ENOPROTOOPT),
        }
        let opt = match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => SockOpt::ReuseAddr(int_opt(val, len)? != 0),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => SockOpt::KeepAlive(int_opt(val, len)? != 0),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => SockOpt::RcvBuf(int_opt(val, len)?),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => SockOpt::SndBuf(int_opt(val, len)?),
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                if (len as usize) < std::mem::size_of::<libc::linger>() || val.is_null() {
                    return Err(libc::EINVAL);
                }
                let l = std::ptr::read_unaligned(val as *const libc::linger);
                SockOpt::Linger((l.l_onoff != 0).then_some(l.l_linger.max(0) as u32))
            }
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => SockOpt::NoDelay(int_opt(val, len)? != 0),
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => SockOpt::MaxSeg(int_opt(val, len)?),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => SockOpt::KeepIdle(int_opt(val, len)?),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => SockOpt::KeepIntvl(int_opt(val, len)?),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => SockOpt::KeepCnt(int_opt(val, len)?),
            (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => SockOpt::SynCnt(int_opt(val, len)?),
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => SockOpt::QuickAck(int_opt(val, len)? != 0),
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => SockOpt::UserTimeout(int_opt(val, len)?),
            _ => return Err(libc::ENOPROTOOPT),
        };
        simple(Request::SetOpt { sock: e.sock, opt }).map(|_| ())
    })())
}

/// Which of Linux's handlers a socket option call reaches.
enum OptLevel {
    /// SOL_SOCKET: `sk_setsockopt()` / `sk_getsockopt()`.
    Socket,
    /// The socket's own protocol (IPPROTO_TCP on TCP, IPPROTO_UDP on UDP).
    Proto,
    /// SOL_IP: `ip_setsockopt()` / `ip_getsockopt()`.
    Ip,
    /// Anything else, which the protocol passes on to IP, which refuses it.
    Other,
}

fn opt_level(level: c_int, stream: bool) -> OptLevel {
    match level {
        libc::SOL_SOCKET => OptLevel::Socket,
        libc::IPPROTO_TCP if stream => OptLevel::Proto,
        libc::IPPROTO_UDP if !stream => OptLevel::Proto,
        libc::SOL_IP => OptLevel::Ip,
        _ => OptLevel::Other,
    }
}

/// `getsockopt(2)`: writes min(*len, size) bytes and sets *len, as Linux.
///
/// # Safety
/// `val`/`len` must be valid as for getsockopt(2).
#[no_mangle]
pub unsafe extern "C" fn net_getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        if val.is_null() || len.is_null() {
            return Err(libc::EFAULT);
        }
        match opt_level(level, e.stream) {
            OptLevel::Socket | OptLevel::Proto => {}
            // do_ip_getsockopt(): no IP-level option is implemented...
            OptLevel::Ip => return Err(libc::ENOPROTOOPT),
            // ...and it refuses other levels with EOPNOTSUPP (unlike
            // ip_setsockopt's ENOPROTOOPT).
            OptLevel::Other => return Err(libc::EOPNOTSUPP),
        }
        if (*len as c_int) < 0 {
            return Err(libc::EINVAL);
        }
        let opt = match (level, name) {
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) | (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => {
                return if libc::getsockopt(fd, level, name, val, len) == 0 {
                    Ok(())
                } else {
                    Err(*libc::__errno_location())
                };
            }
            (libc::SOL_SOCKET, libc::SO_TYPE) => {
                let v: c_int = if e.stream {
                    libc::SOCK_STREAM
                } else {
                    libc::SOCK_DGRAM
                };
                return put(val, len, &v.to_ne_bytes());
            }
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => SockOptName::ReuseAddr,
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => SockOptName::KeepAlive,
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => SockOptName::RcvBuf,
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => SockOptName::SndBuf,
            (libc::SOL_SOCKET, libc::SO_ERROR) => SockOptName::Error,
            (libc::SOL_SOCKET, libc::SO_LINGER) => SockOptName::Linger,
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => SockOptName::AcceptConn,
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => SockOptName::NoDelay,
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => SockOptName::MaxSeg,
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => SockOptName::KeepIdle,
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => SockOptName::KeepIntvl,
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => SockOptName::KeepCnt,
            (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => SockOptName::SynCnt,
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => SockOptName::QuickAck,
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => SockOptName::UserTimeout,
            _ => return Err(libc::ENOPROTOOPT),
        };
        match simple(Request::GetOpt {
            sock: e.sock,
            name: opt,
        })? {
            Response::Opt(SockOptValue::Int(v)) => put(val, len, &v.to_ne_bytes()),
            Response::Opt(SockOptValue::Linger(on, secs)) => {
                let l = libc::linger {
                    l_onoff: on,
                    l_linger: secs,
                };
                let bytes = std::slice::from_raw_parts(
                    &l as *const _ as *const u8,
                    std::mem::size_of::<libc::linger>(),
                );
                put(val, len, bytes)
            }
            _ => Err(libc::EPROTO),
        }
    })())
}

unsafe fn put(val: *mut c_void, len: *mut socklen_t, bytes: &[u8]) -> Result<(), c_int> {
    let n = (*len as usize).min(bytes.len());
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), val as *mut u8, n);
    *len = n as socklen_t;
    Ok(())
}

fn addr_call(fd: c_int, peer: bool, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    ret((|| {
        let e = lookup(fd)?;
        if addr.is_null() || len.is_null() {
            return Err(libc::EFAULT);
        }
        let req = if peer {
            Request::PeerAddr { sock: e.sock }
        } else {
            Request::LocalAddr { sock: e.sock }
        };
        match simple(req)? {
            Response::Addr(a) => {
                // SAFETY: checked non-null; semantics of getsockname(2).
                unsafe { write_addr(a, addr, len) };
                Ok(())
            }
            _ => Err(libc::EPROTO),
        }
    })())
}

/// `getsockname(2)`.
#[no_mangle]
pub extern "C" fn net_getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    addr_call(fd, false, addr, len)
}

/// `getpeername(2)`: ENOTCONN when not connected.
#[no_mangle]
pub extern "C" fn net_getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    addr_call(fd, true, addr, len)
}

/// `fcntl(2)` with F_GETFL/F_SETFL (O_NONBLOCK) and F_GETFD/F_SETFD.
#[no_mangle]
pub extern "C" fn net_fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    match cmd {
        // SAFETY: these commands take an int argument or none.
        libc::F_GETFL | libc::F_GETFD => unsafe { libc::fcntl(fd, cmd) },
        libc::F_SETFL | libc::F_SETFD => unsafe { libc::fcntl(fd, cmd, arg as c_int) },
        _ => fail(libc::EINVAL),
    }
}

/// `poll(2)`: libnet sockets are kernel descriptors, so this is poll itself;
/// other descriptors may be mixed in.
///
/// # Safety
/// `fds` must point to `nfds` pollfd structures.
#[no_mangle]
pub unsafe extern "C" fn net_poll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
) -> c_int {
    libc::poll(fds, nfds, timeout)
}

/// The calling thread's errno (for callers that cannot read it directly).
#[no_mangle]
pub extern "C" fn net_errno() -> c_int {
    // SAFETY: reading this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// The library version as a NUL-terminated string.
#[no_mangle]
pub extern "C" fn net_version() -> *const libc::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    /// Sockets the process closed leave the table once it has doubled;
    /// sockets it still holds stay.
    #[test]
    fn the_table_forgets_sockets_the_process_no_longer_holds() {
        use std::os::fd::AsRawFd;
        let entry = super::Entry {
            sock: super::SockRef { id: 1, token: 1 },
            stream: true,
            connected: true,
            listening: false,
            rcv_shut: false,
            snd_shut: false,
        };
        let mut table = super::Table::default();
        let mut kept = Vec::new();
        for i in 0..2 * super::PRUNE_MIN {
            let (a, _b) = nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::Stream,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            )
            .unwrap();
            let k = super::key(a.as_raw_fd()).unwrap();
            table.insert(k, entry);
            if i % 100 == 0 {
                kept.push((k, a));
            }
        }
        assert!(table.map.len() < super::PRUNE_MIN, "{}", table.map.len());
        for (k, _) in &kept {
            assert!(table.map.contains_key(k));
        }
    }

    #[test]
    fn version_is_nul_terminated_crate_version() {
        let s = unsafe { std::ffi::CStr::from_ptr(super::net_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn bad_arguments_fail_before_reaching_netd() {
        assert_eq!(super::net_socket(libc::AF_INET6, libc::SOCK_STREAM, 0), -1);
        assert_eq!(super::net_errno(), libc::EAFNOSUPPORT);
        assert_eq!(
            super::net_socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_UDP),
            -1
        );
        assert_eq!(super::net_errno(), libc::EPROTONOSUPPORT);
        assert_eq!(
            super::net_socket(libc::AF_INET, libc::SOCK_STREAM | 0x1000_0000, 0),
            -1
        );
        assert_eq!(super::net_errno(), libc::EINVAL);
        assert_eq!(super::net_listen(0, 1), -1);
        assert_eq!(
            super::net_errno(),
            libc::ENOTSOCK,
            "stdin is no libnet socket"
        );
    }

    #[test]
    fn no_daemon_means_a_clear_errno_not_a_hang() {
        std::env::set_var("NETD_SOCKET", "/nonexistent/netd.sock");
        assert_eq!(super::net_socket(libc::AF_INET, libc::SOCK_STREAM, 0), -1);
        assert_eq!(super::net_errno(), libc::ENOENT);
    }
}
