//! `struct sockaddr_in` in and out, as the kernel checks and fills it, and
//! getsockname(2)/getpeername(2).

use crate::control::simple;
use crate::fdtable::lookup;
use crate::ret;
use libc::{c_int, sockaddr, socklen_t};
use netd_proto::{Request, Response, WireAddr};

/// Read a `struct sockaddr_in` the way the kernel does (length and family checks).
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes.
pub unsafe fn read_addr(addr: *const sockaddr, len: socklen_t) -> Result<WireAddr, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null and at least a sockaddr_in long, by the checks
    // above and the caller's promise; read unaligned, as C may pass any.
    let sin = unsafe { std::ptr::read_unaligned(addr as *const libc::sockaddr_in) };
    if c_int::from(sin.sin_family) != libc::AF_INET {
        return Err(libc::EAFNOSUPPORT);
    }
    Ok(WireAddr {
        ip: sin.sin_addr.s_addr.to_ne_bytes(),
        port: u16::from_be(sin.sin_port),
    })
}

/// Write an address with accept()/getsockname() semantics: copy at most
/// `*len` bytes, then set `*len` to the real size. Nothing if either is null.
///
/// # Safety
/// `addr` and `len` must be null or valid as for accept(2): `len` readable
/// and writable, `addr` writable for `*len` bytes.
pub unsafe fn write_addr(a: WireAddr, addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: all-zero bytes are a valid sockaddr_in.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = a.port.to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip);
    let real = std::mem::size_of::<libc::sockaddr_in>();
    // SAFETY: the caller's promise: `len` is valid, `addr` has `*len`
    // writable bytes, of which we write no more than `real`.
    unsafe {
        let n = (*len as usize).min(real);
        std::ptr::copy_nonoverlapping(&sin as *const _ as *const u8, addr as *mut u8, n);
        *len = real as socklen_t;
    }
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
