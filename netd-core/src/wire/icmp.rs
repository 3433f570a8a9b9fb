//! ICMPv4 messages (RFC 792) that the stack sends and understands.

use super::{be16, checksum, Result, WireError};

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACH: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
/// Linux's `NR_ICMP_TYPES`: the highest type it knows (address mask reply).
pub const NR_ICMP_TYPES: u8 = 18;

pub const CODE_NET_UNREACH: u8 = 0;
pub const CODE_HOST_UNREACH: u8 = 1;
pub const CODE_PROTO_UNREACH: u8 = 2;
pub const CODE_PORT_UNREACH: u8 = 3;
pub const CODE_FRAG_NEEDED: u8 = 4;

/// A parsed ICMP message: type, code, the 4 "rest of header" bytes and the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpRepr<'a> {
    pub msg_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
    pub body: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<IcmpRepr<'a>> {
        if msg.len() < 8 {
            return Err(WireError::Malformed);
        }
        if checksum::fold(checksum::sum(0, msg)) != 0xffff {
            return Err(WireError::Checksum);
        }
        Ok(IcmpRepr {
            msg_type: msg[0],
            code: msg[1],
            rest: [msg[4], msg[5], msg[6], msg[7]],
            body: &msg[8..],
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[self.msg_type, self.code, 0, 0]);
        out.extend_from_slice(&self.rest);
        out.extend_from_slice(self.body);
        let c = checksum::checksum(&out[start..]);
        out[start + 2..start + 4].copy_from_slice(&c.to_be_bytes());
    }

    pub fn len(&self) -> usize {
        8 + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Echo identifier and sequence (RFC 792 echo message layout).
    pub fn echo_ident_seq(&self) -> (u16, u16) {
        (be16(&self.rest, 0), be16(&self.rest, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trips_with_valid_checksum() {
        let repr = IcmpRepr {
            msg_type: ECHO_REQUEST,
            code: 0,
            rest: [0, 7, 0, 1],
            body: b"ping",
        };
        let mut buf = Vec::new();
        repr.emit(&mut buf);
        let back = IcmpRepr::parse(&buf).unwrap();
        assert_eq!(back, repr);
        assert_eq!(back.echo_ident_seq(), (7, 1));
        buf[9] ^= 0xff;
        assert_eq!(IcmpRepr::parse(&buf), Err(WireError::Checksum));
    }
}
