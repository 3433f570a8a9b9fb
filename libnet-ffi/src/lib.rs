//! libnet: the C API to netd (`net_socket`, `net_connect`, ...). The socket
//! calls arrive with netd's control protocol; this crate already fixes the
//! library's name and ABI conventions.

use std::ffi::c_char;

/// The library version as a NUL-terminated string, for `pkg-config`-style checks.
#[no_mangle]
pub extern "C" fn net_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_nul_terminated_crate_version() {
        let s = unsafe { std::ffi::CStr::from_ptr(super::net_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
