//! Software segmentation of a TSO super-segment (Linux `tcp_gso_segment()`):
//! what the link does to a [`TxPacket`] with `gso_size` set, done here for
//! links without offloads and for the simulator, so the wire always carries
//! the segments a TSO-capable NIC would have produced.

use super::TxPacket;
use crate::wire::checksum;
use crate::wire::ipv4::PROTO_TCP;
use std::net::Ipv4Addr;

const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// Finish a packet the way the link would: cut a super-segment into
/// `gso_size` wire segments and complete partial TCP checksums. Anything
/// that is not a well-formed IPv4/TCP packet comes back unchanged.
pub fn segment(pkt: TxPacket) -> Vec<Vec<u8>> {
    if pkt.gso_size == 0 && !pkt.csum_partial {
        return vec![pkt.data];
    }
    let Some((ihl, thl)) = tcp_offsets(&pkt.data) else {
        return vec![pkt.data];
    };
    if pkt.gso_size == 0 || pkt.data.len() <= ihl + thl {
        let mut data = pkt.data;
        complete_tcp_checksum(&mut data, ihl);
        return vec![data];
    }
    let hdr_len = ihl + thl;
    let data = &pkt.data;
    let payload = &data[hdr_len..];
    let gso = usize::from(pkt.gso_size);
    let seq = u32::from_be_bytes([data[ihl + 4], data[ihl + 5], data[ihl + 6], data[ihl + 7]]);
    let ident = u16::from_be_bytes([data[4], data[5]]);
    let flags = data[ihl + 13];
    let count = payload.len().div_ceil(gso);
    let mut out = Vec::with_capacity(count);
    for (i, chunk) in payload.chunks(gso).enumerate() {
        let mut seg = Vec::with_capacity(hdr_len + chunk.len());
        seg.extend_from_slice(&data[..hdr_len]);
        seg.extend_from_slice(chunk);
        let total = (hdr_len + chunk.len()) as u16;
        seg[2..4].copy_from_slice(&total.to_be_bytes());
        seg[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
        seg[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&seg[..ihl]);
        seg[10..12].copy_from_slice(&c.to_be_bytes());
        let s = seq.wrapping_add((i * gso) as u32);
        seg[ihl + 4..ihl + 8].copy_from_slice(&s.to_be_bytes());
        // FIN and PSH belong to the last segment, CWR to the first.
        let mut f = flags;
        if i + 1 < count {
            f &= !(FIN | PSH);
        }
        if i > 0 {
            f &= !CWR;
        }
        seg[ihl + 13] = f;
        complete_tcp_checksum(&mut seg, ihl);
        out.push(seg);
    }
    out
}

/// (IP header length, TCP header length) of a sane IPv4/TCP packet.
fn tcp_offsets(data: &[u8]) -> Option<(usize, usize)> {
    if data.len() < 20 || data[0] >> 4 != 4 || data[9] != PROTO_TCP {
        return None;
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    let thl = usize::from(*data.get(ihl + 12)? >> 4) * 4;
    if ihl < 20 || thl < 20 || ihl + thl > data.len() {
        return None;
    }
    Some((ihl, thl))
}

fn complete_tcp_checksum(seg: &mut [u8], ihl: usize) {
    let src = Ipv4Addr::new(seg[12], seg[13], seg[14], seg[15]);
    let dst = Ipv4Addr::new(seg[16], seg[17], seg[18], seg[19]);
    seg[ihl + 16..ihl + 18].copy_from_slice(&[0, 0]);
    let c = checksum::transport(src, dst, PROTO_TCP, &seg[ihl..]);
    seg[ihl + 16..ihl + 18].copy_from_slice(&c.to_be_bytes());
}
