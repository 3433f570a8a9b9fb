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
//!
//! The modules: `calls` (socket, bind, listen, connect, accept, shutdown,
//! close), `data` (send, recv and their relatives, fcntl, poll), `opt`
//! (socket options), `addr` (sockaddr conversion, getsockname,
//! getpeername), `fdtable` (what libnet knows of each descriptor) and
//! `control` (the connection to netd).
#![deny(unsafe_op_in_unsafe_fn)]

mod addr;
mod calls;
mod control;
mod data;
mod fdtable;
mod opt;

use libc::c_int;

pub use addr::{net_getpeername, net_getsockname};
pub use calls::{
    net_accept, net_accept4, net_bind, net_close, net_connect, net_listen, net_shutdown, net_socket,
};
pub use data::{
    net_fcntl, net_poll, net_read, net_recv, net_recvfrom, net_send, net_sendto, net_write,
};
pub use opt::{net_getsockopt, net_setsockopt};

fn set_errno(e: c_int) {
    // SAFETY: __errno_location() returns this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

/// -1 (of whatever the call returns) with `errno` set.
fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

/// 0, or -1 with `errno` set.
fn ret(r: Result<(), c_int>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
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
