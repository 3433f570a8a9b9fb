//! IPv4 header (RFC 791).

use super::{be16, checksum, Result, WireError};
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 20;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;

/// A parsed IPv4 header. `frag_offset` is in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
    /// Header length in bytes (options included).
    pub header_len: usize,
    /// Total length from the header.
    pub total_len: usize,
}

impl Ipv4Repr {
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Validate as Linux's `ip_rcv_core()` does and return the header and the payload.
    /// Trailing bytes beyond `total_len` (link padding) are cut off.
    pub fn parse(packet: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        if packet.len() < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let version = packet[0] >> 4;
        let header_len = usize::from(packet[0] & 0x0f) * 4;
        if version != 4 || header_len < HEADER_LEN || packet.len() < header_len {
            return Err(WireError::Malformed);
        }
        if checksum::fold(checksum::sum(0, &packet[..header_len])) != 0xffff {
            return Err(WireError::Checksum);
        }
        let total_len = usize::from(be16(packet, 2));
        if packet.len() < total_len {
            return Err(WireError::Truncated);
        }
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        let flags_frag = be16(packet, 6);
        let repr = Ipv4Repr {
            tos: packet[1],
            total_len,
            ident: be16(packet, 4),
            dont_frag: flags_frag & FLAG_DF != 0,
            more_frags: flags_frag & FLAG_MF != 0,
            frag_offset: (flags_frag & 0x1fff) * 8,
            ttl: packet[8],
            protocol: packet[9],
            src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
            dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
            header_len,
        };
        Ok((repr, &packet[header_len..total_len]))
    }

    /// Parse the header quoted inside an ICMP error: no checksum or total
    /// length check, since the quote is usually cut short.
    pub fn parse_quoted(quoted: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        if quoted.len() < HEADER_LEN || quoted[0] >> 4 != 4 {
            return Err(WireError::Malformed);
        }
        let header_len = usize::from(quoted[0] & 0x0f) * 4;
        if header_len < HEADER_LEN || quoted.len() < header_len {
            return Err(WireError::Malformed);
        }
        let flags_frag = be16(quoted, 6);
        let repr = Ipv4Repr {
            tos: quoted[1],
            total_len: usize::from(be16(quoted, 2)),
            ident: be16(quoted, 4),
            dont_frag: flags_frag & FLAG_DF != 0,
            more_frags: flags_frag & FLAG_MF != 0,
            frag_offset: (flags_frag & 0x1fff) * 8,
            ttl: quoted[8],
            protocol: quoted[9],
            src: Ipv4Addr::new(quoted[12], quoted[13], quoted[14], quoted[15]),
            dst: Ipv4Addr::new(quoted[16], quoted[17], quoted[18], quoted[19]),
            header_len,
        };
        Ok((repr, &quoted[header_len..]))
    }

    /// Append a 20-byte header (no options) for a payload of `payload_len` bytes.
    pub fn emit(&self, payload_len: usize, out: &mut Vec<u8>) {
        let start = out.len();
        let total = (HEADER_LEN + payload_len) as u16;
        let mut flags_frag = self.frag_offset / 8;
        if self.dont_frag {
            flags_frag |= FLAG_DF;
        }
        if self.more_frags {
            flags_frag |= FLAG_MF;
        }
        out.extend_from_slice(&[0x45, self.tos]);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&self.ident.to_be_bytes());
        out.extend_from_slice(&flags_frag.to_be_bytes());
        out.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        let c = checksum::checksum(&out[start..start + HEADER_LEN]);
        out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: PROTO_UDP,
            ttl: 64,
            tos: 0,
            ident: 0x1234,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            total_len: 24,
        }
    }

    #[test]
    fn emit_then_parse_round_trips() {
        let mut buf = Vec::new();
        sample().emit(4, &mut buf);
        buf.extend_from_slice(&[1, 2, 3, 4]);
        let (repr, payload) = Ipv4Repr::parse(&buf).unwrap();
        assert_eq!(repr, sample());
        assert_eq!(payload, &[1, 2, 3, 4]);
    }

    #[test]
    fn header_checksum_error_is_reported() {
        let mut buf = Vec::new();
        sample().emit(0, &mut buf);
        buf[8] ^= 1;
        assert_eq!(Ipv4Repr::parse(&buf), Err(WireError::Checksum));
    }

    #[test]
    fn total_length_beyond_packet_is_truncated() {
        let mut buf = Vec::new();
        sample().emit(100, &mut buf);
        assert_eq!(Ipv4Repr::parse(&buf), Err(WireError::Truncated));
    }

    #[test]
    fn version_six_is_malformed() {
        let mut buf = Vec::new();
        sample().emit(0, &mut buf);
        buf[0] = 0x65;
        assert_eq!(Ipv4Repr::parse(&buf), Err(WireError::Malformed));
    }
}
