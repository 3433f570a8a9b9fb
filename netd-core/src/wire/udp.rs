//! UDP header (RFC 768).

use super::{be16, checksum, ipv4::PROTO_UDP, Result, WireError};
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parse and verify; a zero checksum means "none" (RFC 768).
    pub fn parse(src: Ipv4Addr, dst: Ipv4Addr, dgram: &'a [u8]) -> Result<UdpRepr<'a>> {
        Self::parse_with(src, dst, dgram, true)
    }

    /// As [`parse`](Self::parse); `verify` false when the link vouched for the checksum.
    pub fn parse_with(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        dgram: &'a [u8],
        verify: bool,
    ) -> Result<UdpRepr<'a>> {
        if dgram.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(be16(dgram, 4));
        if len < HEADER_LEN || len > dgram.len() {
            return Err(WireError::Truncated);
        }
        let dgram = &dgram[..len];
        if verify && be16(dgram, 6) != 0 && !checksum::verify_transport(src, dst, PROTO_UDP, dgram)
        {
            return Err(WireError::Checksum);
        }
        Ok(UdpRepr {
            src_port: be16(dgram, 0),
            dst_port: be16(dgram, 2),
            payload: &dgram[HEADER_LEN..],
        })
    }

    pub fn emit(&self, src: Ipv4Addr, dst: Ipv4Addr, out: &mut Vec<u8>) {
        let start = out.len();
        let len = (HEADER_LEN + self.payload.len()) as u16;
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(self.payload);
        let mut c = checksum::transport(src, dst, PROTO_UDP, &out[start..]);
        if c == 0 {
            c = 0xffff; // RFC 768: a computed zero is sent as all ones.
        }
        out[start + 6..start + 8].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let repr = UdpRepr {
            src_port: 5000,
            dst_port: 53,
            payload: b"hello",
        };
        let mut buf = Vec::new();
        repr.emit(a, b, &mut buf);
        assert_eq!(UdpRepr::parse(a, b, &buf).unwrap(), repr);
        assert_eq!(
            UdpRepr::parse(b, a, &buf).unwrap(),
            repr,
            "swap keeps the sum"
        );
        buf[9] ^= 1;
        assert_eq!(UdpRepr::parse(a, b, &buf), Err(WireError::Checksum));
    }
}
