//! setsockopt(2) and getsockopt(2): which of Linux's handlers a call
//! reaches (socket, protocol, IP), the checks each makes first, and the
//! option's value to and from netd. SO_RCVTIMEO and SO_SNDTIMEO stay on
//! the descriptor, where the kernel times the waits.

use crate::control::simple;
use crate::fdtable::lookup;
use crate::ret;
use libc::{c_int, c_void, socklen_t};
use netd_proto::sockopt::{SockOpt, SockOptName, SockOptValue};
use netd_proto::{Request, Response};

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
                // SAFETY: the caller's promise: `len` readable bytes at `val`.
                return if unsafe { libc::setsockopt(fd, level, name, val, len) } == 0 {
                    Ok(())
                } else {
                    Err(errno())
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
                // SAFETY: non-null and a linger long, checked above.
                let l = unsafe { std::ptr::read_unaligned(val as *const libc::linger) };
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
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                // do_tcp_setsockopt(): a name of at most TCP_CA_NAME_MAX - 1
                // bytes, cut at optlen or the first NUL.
                if (len as c_int) < 1 {
                    return Err(libc::EINVAL);
                }
                if val.is_null() {
                    return Err(libc::EFAULT);
                }
                let n = (len as usize).min(15);
                let mut name = [0u8; 16];
                // SAFETY: non-null, and the caller promises `len` readable bytes.
                let src = unsafe { std::slice::from_raw_parts(val as *const u8, n) };
                let end = src.iter().position(|&b| b == 0).unwrap_or(n);
                name[..end].copy_from_slice(&src[..end]);
                SockOpt::Congestion(name)
            }
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

/// SO_MEMINFO (asm-generic/socket.h), which the libc crate lacks.
const SO_MEMINFO: c_int = 55;

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
        // SAFETY: non-null (checked above), valid by the caller's promise.
        if (unsafe { *len } as c_int) < 0 {
            return Err(libc::EINVAL);
        }
        let opt = match (level, name) {
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) | (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => {
                // SAFETY: the caller's promise, passed on.
                return if unsafe { libc::getsockopt(fd, level, name, val, len) } == 0 {
                    Ok(())
                } else {
                    Err(errno())
                };
            }
            (libc::SOL_SOCKET, libc::SO_TYPE) => {
                let v: c_int = if e.stream {
                    libc::SOCK_STREAM
                } else {
                    libc::SOCK_DGRAM
                };
                // SAFETY: the caller's promise, passed on.
                return unsafe { put(val, len, &v.to_ne_bytes()) };
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
            (libc::IPPROTO_TCP, libc::TCP_INFO) => SockOptName::TcpInfo,
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => SockOptName::Congestion,
            (libc::IPPROTO_TCP, libc::TCP_CC_INFO) => {
                // Neither reno nor cubic has `get_info()`: Linux answers 0
                // bytes (do_tcp_getsockopt(), TCP_CC_INFO).
                // SAFETY: the caller's promise, passed on.
                return unsafe { put(val, len, &[]) };
            }
            (libc::SOL_SOCKET, SO_MEMINFO) => SockOptName::MemInfo,
            _ => return Err(libc::ENOPROTOOPT),
        };
        match simple(Request::GetOpt {
            sock: e.sock,
            name: opt,
        })? {
            // SAFETY: the caller's promise, passed on.
            Response::Opt(SockOptValue::Int(v)) => unsafe { put(val, len, &v.to_ne_bytes()) },
            // SAFETY: the caller's promise, passed on.
            Response::Opt(SockOptValue::Bytes(b)) => unsafe { put(val, len, &b) },
            Response::Opt(SockOptValue::Linger(on, secs)) => {
                let l = libc::linger {
                    l_onoff: on,
                    l_linger: secs,
                };
                // SAFETY: a linger is plain data, readable as its bytes.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        &l as *const _ as *const u8,
                        std::mem::size_of::<libc::linger>(),
                    )
                };
                // SAFETY: the caller's promise, passed on.
                unsafe { put(val, len, bytes) }
            }
            _ => Err(libc::EPROTO),
        }
    })())
}

/// Copy an option's value out as getsockopt(2) does: at most `*len` bytes,
/// then `*len` set to what was copied.
///
/// # Safety
/// `len` must be valid for reads and writes, `val` for `*len` bytes of writes.
unsafe fn put(val: *mut c_void, len: *mut socklen_t, bytes: &[u8]) -> Result<(), c_int> {
    // SAFETY: the caller's promise.
    unsafe {
        let n = (*len as usize).min(bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), val as *mut u8, n);
        *len = n as socklen_t;
    }
    Ok(())
}

fn errno() -> c_int {
    // SAFETY: reading this thread's errno.
    unsafe { *libc::__errno_location() }
}
