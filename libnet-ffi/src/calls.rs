//! The calls that set a socket up and take it down: socket, bind, listen,
//! connect (with AF_UNSPEC's disconnect), accept, shutdown and close. Each
//! is a request to netd; accept is one recvmsg on the listener's descriptor.

use crate::addr::{read_addr, write_addr};
use crate::control::{self, simple};
use crate::fdtable::{
    adopt, forget, is_nonblocking, lookup, lookup_key, register, register_key, update, Entry,
};
use crate::{fail, ret};
use libc::{c_int, c_void, sockaddr, socklen_t};
use netd_proto::{AcceptRecord, Request, Response, ACCEPT_RECORD};
use std::os::fd::{AsRawFd, OwnedFd};

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
    let (sock, fd) = match (resp, fd) {
        (Response::Socket { sock }, Some(fd)) => (sock, fd),
        // EMFILE past the uid's share, ENFILE when netd is out of descriptors.
        (Response::Error { errno, .. }, _) => return fail(errno),
        _ => return fail(libc::EPROTO),
    };
    let raw = match adopt(fd, flags) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match register(raw, Entry::new(sock, stream)) {
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
        // SAFETY: the caller's promise, passed on.
        let addr = unsafe { read_addr(addr, len) }?;
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
        // SAFETY: non-null and at least a family long, by the checks above
        // and the caller's promise.
        let family = unsafe { std::ptr::read_unaligned(addr as *const libc::sa_family_t) };
        if c_int::from(family) == libc::AF_UNSPEC {
            return disconnect(fd, e);
        }
        // SAFETY: the caller's promise, passed on.
        let addr = unsafe { read_addr(addr, len) }?;
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
                conn.wait_forever()?;
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
    forget(e.sock);
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
    // SAFETY: one byte from a static buffer.
    let _ = unsafe {
        libc::send(
            fd,
            b"a".as_ptr() as *const c_void,
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
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
    let entry = Entry {
        connected: true,
        ..Entry::new(rec.sock, true)
    };
    register_key((listener_key.0, rec.inode), entry);
    // SAFETY: the caller's promise, passed on.
    unsafe { write_addr(rec.peer.into(), addr, len) };
    raw
}

/// `accept(2)`.
///
/// # Safety
/// As for [`net_accept4`].
#[no_mangle]
pub unsafe extern "C" fn net_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's promise, passed on.
    unsafe { net_accept4(fd, addr, len, 0) }
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
