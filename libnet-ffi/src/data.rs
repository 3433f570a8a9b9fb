//! The data calls: send and recv and their relatives, each one call on the
//! socketpair (no round trip to netd), with Linux's errors added where a
//! socketpair cannot carry them; and fcntl and poll, which are the kernel's.

use crate::addr::{read_addr, write_addr};
use crate::control::{simple, take_error, take_recv_error};
use crate::fail;
use crate::fdtable::{is_nonblocking, lookup, Entry};
use libc::{c_int, c_long, c_void, size_t, sockaddr, socklen_t, ssize_t};
use netd_proto::{Request, WireAddr, DGRAM_HEADER};

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
        // SAFETY: the caller's promise, passed on.
        return unsafe { send_dgram(fd, buf, len, flags, WireAddr::UNSPECIFIED) };
    }
    if !e.connected || e.snd_shut {
        return broken_pipe(&e, flags);
    }
    // SAFETY: the caller's promise: `len` readable bytes at `buf`.
    let n = unsafe { libc::send(fd, buf, len, flags | libc::MSG_NOSIGNAL) };
    if n < 0 && errno() == libc::EPIPE {
        return broken_pipe(&e, flags);
    }
    n
}

fn errno() -> c_int {
    // SAFETY: reading this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// One datagram to `to` (all zero: the connected peer), behind its
/// address header (`proto::DGRAM_HEADER`).
///
/// # Safety
/// `buf` must point to `len` readable bytes.
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
    // SAFETY: all-zero bytes are a valid msghdr (no name, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = 2;
    // SAFETY: both iovecs are valid for their lengths: the header is ours,
    // the payload the caller's promise.
    let n = unsafe { libc::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL) };
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
    // SAFETY: the caller's promise, passed on; no address is asked for.
    unsafe {
        net_recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
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
        // SAFETY: the caller's promise, passed on.
        return unsafe { net_send(fd, buf, len, flags) };
    }
    if e.snd_shut {
        return fail(libc::EPIPE);
    }
    // SAFETY: the caller's promise, passed on.
    match unsafe { read_addr(addr, alen) } {
        // SAFETY: the caller's promise, passed on.
        Ok(to) => unsafe { send_dgram(fd, buf, len, flags, to) },
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
        // SAFETY: the caller's promise, passed on.
        return unsafe { recv_stream(fd, &e, buf, len, flags, alen) };
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
    // SAFETY: all-zero bytes are a valid msghdr (no name, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
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
    // SAFETY: both iovecs are valid for their lengths: the header is ours,
    // the payload the caller's promise.
    let n = unsafe { libc::recvmsg(fd, &mut msg, rflags) };
    if n < 0 {
        if e.rcv_shut && wait && errno() == libc::EAGAIN {
            return 0;
        }
        return -1;
    }
    let n = n as usize;
    if hdr[..DGRAM_HEADER].iter().all(|b| *b == 0) && n >= DGRAM_HEADER {
        // An error netd queued for this socket (an ICMP error on a connected socket).
        let mut code = [0u8; 4];
        let got = (n - DGRAM_HEADER).min(4).min(len);
        // SAFETY: `got` bytes were just received into `buf` (and fit `len`).
        unsafe { std::ptr::copy_nonoverlapping(buf as *const u8, code.as_mut_ptr(), got) };
        return fail(i32::from_le_bytes(code));
    }
    let from = WireAddr {
        ip: [hdr[0], hdr[1], hdr[2], hdr[3]],
        port: u16::from_be_bytes([hdr[4], hdr[5]]),
    };
    // SAFETY: the caller's promise, passed on.
    unsafe { write_addr(from, addr, alen) };
    n.saturating_sub(DGRAM_HEADER) as ssize_t
}

/// recv(2) on a TCP socket: what the socketpair holds, with the errors
/// Linux gives where it cannot carry them.
///
/// # Safety
/// As for [`net_recvfrom`].
unsafe fn recv_stream(
    fd: c_int,
    e: &Entry,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    alen: *mut socklen_t,
) -> ssize_t {
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
    let rflags = if e.rcv_shut {
        flags | libc::MSG_DONTWAIT
    } else {
        flags
    };
    // SAFETY: the caller's promise: `len` writable bytes at `buf`.
    let mut n = unsafe { libc::recv(fd, buf, len, rflags) };
    if e.rcv_shut && n < 0 && errno() == libc::EAGAIN {
        n = 0;
    }
    if n == 0 && len > 0 {
        let pending = take_recv_error(e.sock);
        if pending != 0 {
            return fail(pending);
        }
    }
    if n >= 0 && !alen.is_null() {
        // SAFETY: non-null, and valid by the caller's promise.
        unsafe { *alen = 0 };
    }
    n
}

/// `read(2)` on a libnet socket.
///
/// # Safety
/// As for [`net_recv`].
#[no_mangle]
pub unsafe extern "C" fn net_read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's promise, passed on.
    unsafe { net_recv(fd, buf, len, 0) }
}

/// `write(2)` on a libnet socket.
///
/// # Safety
/// As for [`net_send`].
#[no_mangle]
pub unsafe extern "C" fn net_write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's promise, passed on.
    unsafe { net_send(fd, buf, len, 0) }
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
    // SAFETY: the caller's promise: `nfds` pollfds at `fds`.
    unsafe { libc::poll(fds, nfds, timeout) }
}
