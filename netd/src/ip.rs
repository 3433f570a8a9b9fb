//! IPv4 output (`ip_output.c`): headers, identification, fragmentation of
//! oversized datagrams, and the loopback short-cut for our own address. Input
//! and reassembly live in `stack.rs` and `ip::frag`.

pub mod frag;

use crate::mib::IpMib;
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN};
use crate::wire::tcp::TcpRepr;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Packets leaving the stack.
#[derive(Debug)]
pub struct Tx {
    /// For the link, in order.
    pub queue: VecDeque<Vec<u8>>,
    /// Addressed to ourselves; fed back into input by `Stack::poll`.
    pub loopback: VecDeque<Vec<u8>>,
    pub local: Ipv4Addr,
    pub mtu: usize,
    ident: u16,
}

impl Tx {
    pub fn new(local: Ipv4Addr, mtu: usize) -> Tx {
        Tx {
            queue: VecDeque::new(),
            loopback: VecDeque::new(),
            local,
            mtu,
            ident: 0,
        }
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    fn push(&mut self, dst: Ipv4Addr, packet: Vec<u8>) {
        if dst == self.local || dst.is_loopback() {
            self.loopback.push_back(packet);
        } else {
            self.queue.push_back(packet);
        }
    }

    fn header(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        ttl: u8,
        df: bool,
    ) -> Ipv4Repr {
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl,
            tos: 0,
            ident: self.next_ident(),
            dont_frag: df,
            more_frags: false,
            frag_offset: 0,
            header_len: HEADER_LEN,
            total_len: 0,
        }
    }

    /// A TCP segment: DF set, never fragmented (the MSS keeps it under the MTU).
    pub fn tcp(
        &mut self,
        mib: &mut IpMib,
        ttl: u8,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
        tail: &[u8],
    ) {
        let len = seg.header_len() + seg.payload.len() + tail.len();
        let mut pkt = Vec::with_capacity(HEADER_LEN + len);
        let hdr = self.header(
            *local.ip(),
            *remote.ip(),
            crate::wire::ipv4::PROTO_TCP,
            ttl,
            true,
        );
        hdr.emit(len, &mut pkt);
        seg.emit_with_tail(*local.ip(), *remote.ip(), &mut pkt, tail);
        mib.out_requests += 1;
        self.push(*remote.ip(), pkt);
    }

    /// Any other datagram; fragmented when larger than the MTU and DF is clear
    /// (`ip_fragment()`: every fragment but the last carries a multiple of 8 bytes).
    pub fn datagram(
        &mut self,
        mib: &mut IpMib,
        ttl: u8,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        body: &[u8],
    ) {
        mib.out_requests += 1;
        let mut hdr = self.header(src, dst, protocol, ttl, false);
        if HEADER_LEN + body.len() <= self.mtu {
            let mut pkt = Vec::with_capacity(HEADER_LEN + body.len());
            hdr.emit(body.len(), &mut pkt);
            pkt.extend_from_slice(body);
            self.push(dst, pkt);
            return;
        }
        let per_frag = (self.mtu - HEADER_LEN) & !7;
        if per_frag == 0 || body.len() > 65535 - HEADER_LEN {
            mib.frag_fails += 1;
            return;
        }
        for (i, chunk) in body.chunks(per_frag).enumerate() {
            hdr.frag_offset = (i * per_frag) as u16;
            hdr.more_frags = (i + 1) * per_frag < body.len();
            let mut pkt = Vec::with_capacity(HEADER_LEN + chunk.len());
            hdr.emit(chunk.len(), &mut pkt);
            pkt.extend_from_slice(chunk);
            mib.frag_creates += 1;
            self.push(dst, pkt);
        }
        mib.frag_oks += 1;
    }
}
