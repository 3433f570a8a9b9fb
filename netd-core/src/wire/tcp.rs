//! TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018, RFC 7413).

use super::seq::SeqNum;
use super::{be16, be32, checksum, ipv4::PROTO_TCP, Result, WireError};
use core::fmt;
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 20;
pub const MAX_OPTIONS_LEN: usize = 40;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_PERM: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TIMESTAMP: u8 = 8;
const OPT_FASTOPEN: u8 = 34;

/// TCP control bits.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

/// Printed as `SYN|ACK`, `FIN|ACK`, `PSH|ACK`, `RST`: the names a trace reader expects.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Options carried by one segment. SACK blocks are `[left, right)` edges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub sack_blocks: [(SeqNum, SeqNum); 4],
    pub sack_count: u8,
    /// (TSval, TSecr), RFC 7323 §3.
    pub timestamp: Option<(u32, u32)>,
    /// TCP Fast Open cookie (kind 34, RFC 7413): length 0 is a cookie request.
    pub fastopen: Option<([u8; 16], u8)>,
}

impl TcpOptions {
    pub fn sack(&self) -> &[(SeqNum, SeqNum)] {
        &self.sack_blocks[..usize::from(self.sack_count.min(4))]
    }

    pub fn push_sack(&mut self, block: (SeqNum, SeqNum)) {
        if usize::from(self.sack_count) < self.sack_blocks.len() {
            self.sack_blocks[usize::from(self.sack_count)] = block;
            self.sack_count += 1;
        }
    }

    /// Parse like Linux's `tcp_parse_options()`: a malformed length ends parsing
    /// and keeps what was read so far; an option of the wrong size is ignored.
    pub fn parse(mut opts: &[u8]) -> TcpOptions {
        let mut out = TcpOptions::default();
        while let Some(&kind) = opts.first() {
            match kind {
                OPT_EOL => break,
                OPT_NOP => {
                    opts = &opts[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&size) = opts.get(1) else { break };
            let size = usize::from(size);
            if size < 2 || size > opts.len() {
                break;
            }
            let body = &opts[2..size];
            match (kind, size) {
                (OPT_MSS, 4) => out.mss = Some(be16(body, 0)),
                (OPT_WSCALE, 3) => out.wscale = Some(body[0]),
                (OPT_SACK_PERM, 2) => out.sack_permitted = true,
                (OPT_TIMESTAMP, 10) => out.timestamp = Some((be32(body, 0), be32(body, 4))),
                (OPT_SACK, _) if (size - 2) % 8 == 0 && size > 2 => {
                    for block in body.chunks_exact(8) {
                        out.push_sack((SeqNum(be32(block, 0)), SeqNum(be32(block, 4))));
                    }
                }
                (OPT_FASTOPEN, 2..=18) => {
                    let mut cookie = [0u8; 16];
                    cookie[..body.len()].copy_from_slice(body);
                    out.fastopen = Some((cookie, body.len() as u8));
                }
                _ => {}
            }
            opts = &opts[size..];
        }
        out
    }

    /// Encoded length, padded to a multiple of 4.
    pub fn encoded_len(&self) -> usize {
        let mut buf = [0u8; MAX_OPTIONS_LEN + 8];
        self.encode(&mut buf)
    }

    /// Encode in Linux's order and packing (`tcp_options_write()`): MSS,
    /// SACK-permitted folded into the timestamp's NOPs, window scale, SACK blocks.
    /// Returns the length written (multiple of 4, at most 40; SACK blocks are
    /// dropped first when space runs out).
    pub fn encode(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        let mut put = |bytes: &[u8], n: &mut usize| {
            buf[*n..*n + bytes.len()].copy_from_slice(bytes);
            *n += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[OPT_MSS, 4, m[0], m[1]], &mut n);
        }
        if let Some((val, ecr)) = self.timestamp {
            if self.sack_permitted {
                put(&[OPT_SACK_PERM, 2, OPT_TIMESTAMP, 10], &mut n);
            } else {
                put(&[OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10], &mut n);
            }
            put(&val.to_be_bytes(), &mut n);
            put(&ecr.to_be_bytes(), &mut n);
        } else if self.sack_permitted {
            put(&[OPT_NOP, OPT_NOP, OPT_SACK_PERM, 2], &mut n);
        }
        if let Some(ws) = self.wscale {
            put(&[OPT_NOP, OPT_WSCALE, 3, ws], &mut n);
        }
        if let Some((cookie, len)) = self.fastopen {
            let len = usize::from(len.min(16));
            let total = 2 + len;
            if n + total.div_ceil(4) * 4 <= MAX_OPTIONS_LEN {
                put(&[OPT_FASTOPEN, total as u8], &mut n);
                put(&cookie[..len], &mut n);
                while n % 4 != 0 {
                    put(&[OPT_NOP], &mut n);
                }
            }
        }
        let room = (MAX_OPTIONS_LEN - n).saturating_sub(4) / 8;
        let blocks = self.sack().len().min(room);
        if blocks > 0 {
            put(
                &[OPT_NOP, OPT_NOP, OPT_SACK, (2 + 8 * blocks) as u8],
                &mut n,
            );
            for &(l, r) in &self.sack()[..blocks] {
                put(&l.0.to_be_bytes(), &mut n);
                put(&r.0.to_be_bytes(), &mut n);
            }
        }
        n
    }
}

/// A TCP segment: header fields, options and a borrowed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    pub fn parse(src: Ipv4Addr, dst: Ipv4Addr, seg: &'a [u8]) -> Result<TcpRepr<'a>> {
        Self::parse_with(src, dst, seg, true)
    }

    /// As [`parse`](Self::parse); `verify` false when the link vouched for
    /// the checksum (a virtio-net header's NEEDS_CSUM or DATA_VALID, which
    /// Linux treats as CHECKSUM_PARTIAL / CHECKSUM_UNNECESSARY).
    pub fn parse_with(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        seg: &'a [u8],
        verify: bool,
    ) -> Result<TcpRepr<'a>> {
        if seg.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let data_off = usize::from(seg[12] >> 4) * 4;
        if data_off < HEADER_LEN || data_off > seg.len() {
            return Err(WireError::Malformed);
        }
        if verify && !checksum::verify_transport(src, dst, PROTO_TCP, seg) {
            return Err(WireError::Checksum);
        }
        Ok(TcpRepr {
            src_port: be16(seg, 0),
            dst_port: be16(seg, 2),
            seq: SeqNum(be32(seg, 4)),
            ack: SeqNum(be32(seg, 8)),
            flags: TcpFlags(seg[13]),
            window: be16(seg, 14),
            urgent: be16(seg, 18),
            options: TcpOptions::parse(&seg[HEADER_LEN..data_off]),
            payload: &seg[data_off..],
        })
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.encoded_len()
    }

    /// Append the segment with its checksum computed over the pseudo-header.
    pub fn emit(&self, src: Ipv4Addr, dst: Ipv4Addr, out: &mut Vec<u8>) {
        self.emit_with_tail(src, dst, out, &[]);
    }

    /// As [`emit`](Self::emit), with `tail` appended after `payload`: a send
    /// queue that wraps around yields its bytes in two slices.
    pub fn emit_with_tail(&self, src: Ipv4Addr, dst: Ipv4Addr, out: &mut Vec<u8>, tail: &[u8]) {
        self.emit_full(src, dst, out, tail, false);
    }

    /// As [`emit_with_tail`](Self::emit_with_tail), but with `partial` the
    /// checksum field holds only the folded pseudo-header sum, for a link that
    /// completes it (CHECKSUM_PARTIAL: csum_start at the TCP header,
    /// csum_offset 16), as Linux's `__tcp_v4_send_check()` leaves it.
    pub fn emit_full(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        out: &mut Vec<u8>,
        tail: &[u8],
        partial: bool,
    ) {
        let start = out.len();
        let mut opts = [0u8; MAX_OPTIONS_LEN + 8];
        let opt_len = self.options.encode(&mut opts);
        let data_off = ((HEADER_LEN + opt_len) / 4) as u8;
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&self.seq.0.to_be_bytes());
        out.extend_from_slice(&self.ack.0.to_be_bytes());
        out.extend_from_slice(&[data_off << 4, self.flags.0]);
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.urgent.to_be_bytes());
        out.extend_from_slice(&opts[..opt_len]);
        out.extend_from_slice(self.payload);
        out.extend_from_slice(tail);
        let len = out.len() - start;
        let c = if partial {
            checksum::fold(checksum::pseudo_header(src, dst, PROTO_TCP, len))
        } else {
            checksum::transport(src, dst, PROTO_TCP, &out[start..])
        };
        out[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1000),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                timestamp: Some((123, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    #[test]
    fn linux_syn_options_are_twenty_bytes_in_linux_order() {
        let mut buf = Vec::new();
        syn().emit(A, B, &mut buf);
        assert_eq!(buf.len(), 40);
        // mss 1460, sackOK, TS, nop, wscale 7: what tcpdump shows for a Linux SYN.
        assert_eq!(&buf[20..24], &[2, 4, 0x05, 0xb4]);
        assert_eq!(&buf[24..28], &[4, 2, 8, 10]);
        assert_eq!(&buf[36..40], &[1, 3, 3, 7]);
        assert_eq!(TcpRepr::parse(A, B, &buf).unwrap(), syn());
    }

    #[test]
    fn sack_blocks_round_trip_and_fit_beside_timestamps() {
        let mut seg = syn();
        seg.flags = TcpFlags::ACK;
        seg.options = TcpOptions {
            timestamp: Some((5, 6)),
            ..TcpOptions::default()
        };
        for i in 0..4u32 {
            seg.options
                .push_sack((SeqNum(i * 100), SeqNum(i * 100 + 50)));
        }
        let mut buf = Vec::new();
        seg.emit(A, B, &mut buf);
        let back = TcpRepr::parse(A, B, &buf).unwrap();
        // 12 bytes of timestamp leave room for three blocks, as in Linux.
        assert_eq!(back.options.sack().len(), 3);
        assert_eq!(back.options.sack()[2], (SeqNum(200), SeqNum(250)));
    }

    #[test]
    fn fastopen_cookie_round_trips() {
        let mut seg = syn();
        seg.options.timestamp = None;
        seg.options.fastopen = Some(([9; 16], 8));
        let mut buf = Vec::new();
        seg.emit(A, B, &mut buf);
        let back = TcpRepr::parse(A, B, &buf).unwrap();
        assert_eq!(
            back.options.fastopen.map(|(c, l)| (c[..8].to_vec(), l)),
            Some((vec![9; 8], 8))
        );
    }

    #[test]
    fn truncated_option_length_stops_parsing_without_panic() {
        let parsed = TcpOptions::parse(&[2, 4, 0x05, 0xb4, 3, 9, 7]);
        assert_eq!(parsed.mss, Some(1460));
        assert_eq!(parsed.wscale, None);
        assert_eq!(TcpOptions::parse(&[8, 1]), TcpOptions::default());
    }

    #[test]
    fn data_offset_beyond_segment_is_malformed() {
        let mut buf = Vec::new();
        syn().emit(A, B, &mut buf);
        buf[12] = 0xf0;
        assert_eq!(TcpRepr::parse(A, B, &buf[..40]), Err(WireError::Malformed));
    }

    #[test]
    fn flags_print_as_trace_names() {
        assert_eq!((TcpFlags::FIN | TcpFlags::ACK).to_string(), "FIN|ACK");
        assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "SYN|ACK");
    }
}
