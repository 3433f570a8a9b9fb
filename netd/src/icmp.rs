//! ICMP (Linux `icmp.c`): echo replies and the errors we send, and the errno
//! an error received for one of our sockets turns into (`icmp_err_convert`).

use crate::errno::Errno;
use crate::wire::icmp::{self, IcmpRepr};

/// RFC 1812 §4.3.2.3 / Linux: an error carries as much of the offending
/// datagram as fits in a 576-byte reply.
pub const ERROR_BODY_MAX: usize = 576 - 20 - 8;

/// The body of an ICMP error quoting `original` (IP header and payload start).
pub fn error_body(original: &[u8]) -> &[u8] {
    &original[..original.len().min(ERROR_BODY_MAX)]
}

/// Linux's `icmp_err_convert[]` for destination-unreachable codes.
pub fn unreach_errno(code: u8) -> Errno {
    match code {
        icmp::CODE_NET_UNREACH => Errno::ENETUNREACH,
        icmp::CODE_HOST_UNREACH => Errno::EHOSTUNREACH,
        icmp::CODE_PROTO_UNREACH => Errno::ENOPROTOOPT,
        icmp::CODE_PORT_UNREACH => Errno::ECONNREFUSED,
        icmp::CODE_FRAG_NEEDED => Errno::EMSGSIZE,
        _ => Errno::EHOSTUNREACH,
    }
}

/// Serialise an ICMP message.
pub fn build(msg_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    IcmpRepr {
        msg_type,
        code,
        rest,
        body,
    }
    .emit(&mut out);
    out
}
