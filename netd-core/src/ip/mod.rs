//! IPv4 output (`ip_output.c`): headers, identification, fragmentation of
//! oversized datagrams, and the loopback short-cut for our own address. Input
//! and reassembly live in `stack.rs` and `ip::frag`.

pub mod frag;
pub mod gso;

use crate::mib::IpMib;
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN};
use crate::wire::tcp::TcpRepr;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Segmentation and checksum offload of the link (a TUN device with a
/// virtio-net header): what Linux calls NETIF_F_TSO | NETIF_F_HW_CSUM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offloads {
    /// Largest IP packet the link segments for us (`gso_max_size`); 0: none,
    /// every TCP segment fits the MTU.
    pub tso_max: usize,
    /// The link completes TCP checksums left partial (pseudo-header only).
    pub tx_csum: bool,
}

/// A packet for the link and what the link must still do to it.
#[derive(Debug)]
pub struct TxPacket {
    pub data: Vec<u8>,
    /// TCP payload bytes per wire segment when the packet is a TSO
    /// super-segment larger than the MTU (virtio `gso_size`); 0 otherwise.
    pub gso_size: u16,
    /// Length of the IP + TCP headers, repeated on every wire segment (`hdr_len`).
    pub hdr_len: u16,
    /// The TCP checksum holds only the pseudo-header sum (virtio NEEDS_CSUM,
    /// csum_start = IP header length, csum_offset = 16).
    pub csum_partial: bool,
}

/// Packets leaving the stack.
#[derive(Debug)]
pub struct Tx {
    /// For the link, in order.
    pub queue: VecDeque<TxPacket>,
    /// Addressed to ourselves; fed back into input by `Stack::poll`.
    pub loopback: VecDeque<Vec<u8>>,
    pub local: Ipv4Addr,
    pub mtu: usize,
    pub offloads: Offloads,
    ident: u16,
    /// Packet buffers handed back by the link (`recycle`), reused so the
    /// packet path does not allocate per packet once warm.
    pool: Vec<Vec<u8>>,
}

/// Buffers kept for reuse: enough for a burst of a full window of TSO packets.
const POOL_MAX: usize = 64;

impl Tx {
    pub fn new(local: Ipv4Addr, mtu: usize) -> Tx {
        Tx {
            queue: VecDeque::new(),
            loopback: VecDeque::new(),
            local,
            mtu,
            offloads: Offloads::default(),
            ident: 0,
            pool: Vec::new(),
        }
    }

    /// An empty buffer with room for `cap` bytes, from the pool if it has one.
    fn buffer(&mut self, cap: usize) -> Vec<u8> {
        match self.pool.pop() {
            Some(mut b) => {
                b.clear();
                b.reserve(cap);
                b
            }
            None => Vec::with_capacity(cap),
        }
    }

    /// Take back a packet buffer the link is done with.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX && buf.capacity() <= 2 * 65_536 {
            self.pool.push(buf);
        }
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    fn is_local(&self, dst: Ipv4Addr) -> bool {
        dst == self.local || dst.is_loopback()
    }

    fn push(&mut self, dst: Ipv4Addr, packet: Vec<u8>) {
        if self.is_local(dst) {
            self.loopback.push_back(packet);
        } else {
            self.queue.push_back(TxPacket {
                data: packet,
                gso_size: 0,
                hdr_len: 0,
                csum_partial: false,
            });
        }
    }

    /// Payload bytes one TCP transmission may carry (`tcp_xmit_size_goal()`):
    /// one MSS, or as many whole MSS as a TSO packet holds when the link
    /// segments for us. Loopback is never limited by the link's MTU.
    pub fn size_goal(&self, mss: u32) -> u32 {
        if self.offloads.tso_max <= self.mtu || mss == 0 {
            return mss;
        }
        // Room for the largest IP and TCP headers.
        let room = self.offloads.tso_max.saturating_sub(HEADER_LEN + 60) as u32;
        (room / mss).max(1) * mss
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

    /// A TCP segment: DF set, never fragmented (the MSS keeps it under the
    /// MTU, or the link segments it at `mss` when it is a TSO super-segment).
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        mib: &mut IpMib,
        ttl: u8,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
        tail: &[u8],
        mss: u32,
    ) {
        let len = seg.header_len() + seg.payload.len() + tail.len();
        let mut pkt = self.buffer(HEADER_LEN + len);
        let hdr = self.header(
            *local.ip(),
            *remote.ip(),
            crate::wire::ipv4::PROTO_TCP,
            ttl,
            true,
        );
        hdr.emit(len, &mut pkt);
        let dst = *remote.ip();
        if self.is_local(dst) {
            seg.emit_with_tail(*local.ip(), dst, &mut pkt, tail);
            mib.out_requests += 1;
            self.loopback.push_back(pkt);
            return;
        }
        let partial = self.offloads.tx_csum;
        seg.emit_full(*local.ip(), dst, &mut pkt, tail, partial);
        mib.out_requests += 1;
        let payload = seg.payload.len() + tail.len();
        let gso = payload > mss as usize;
        self.queue.push_back(TxPacket {
            data: pkt,
            gso_size: if gso {
                mss.min(u32::from(u16::MAX)) as u16
            } else {
                0
            },
            hdr_len: (HEADER_LEN + seg.header_len()) as u16,
            csum_partial: partial,
        });
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
            let mut pkt = self.buffer(HEADER_LEN + body.len());
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
            let mut pkt = self.buffer(HEADER_LEN + chunk.len());
            hdr.emit(chunk.len(), &mut pkt);
            pkt.extend_from_slice(chunk);
            mib.frag_creates += 1;
            self.push(dst, pkt);
        }
        mib.frag_oks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once the link hands buffers back, packets reuse them: no allocation
    /// per packet on a warm path.
    #[test]
    fn a_recycled_buffer_carries_the_next_packet() {
        let local = Ipv4Addr::new(10, 0, 0, 1);
        let remote = Ipv4Addr::new(10, 0, 0, 2);
        let mut tx = Tx::new(local, 1500);
        let mut mib = IpMib::default();
        tx.datagram(&mut mib, 64, local, remote, 17, &[1; 100]);
        let first = tx.queue.pop_front().expect("a packet");
        let ptr = first.data.as_ptr();
        tx.recycle(first.data);
        tx.datagram(&mut mib, 64, local, remote, 17, &[2; 80]);
        let second = tx.queue.pop_front().expect("a packet");
        assert_eq!(second.data.as_ptr(), ptr);
        assert_eq!(second.data.len(), 20 + 80);
        assert_eq!(second.data[20..], [2; 80]);
    }
}
