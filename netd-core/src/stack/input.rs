//! IPv4 input (`ip_rcv()`, `ip_local_deliver()`): header checks, our
//! address or none, reassembly, then the protocol; and ICMP input
//! (`icmp_rcv()`), which answers echoes and routes the errors it receives
//! to the protocol whose datagram they quote (`udp_err()`, `tcp_v4_err()`).
//! Anything malformed is counted under its Linux name and dropped.

use super::Stack;
use crate::icmp;
use crate::ip::frag::FragLimits;
use crate::tcp::{FourTuple, SeqNum};
use crate::time::Instant;
use crate::wire::icmp as icmpw;
use crate::wire::ipv4::{Ipv4Repr, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use crate::wire::WireError;
use core::time::Duration;
use std::net::SocketAddrV4;

impl Stack {
    /// One IPv4 packet from the link.
    pub fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.receive_offloaded(now, packet, false);
    }

    /// As [`receive`](Self::receive) for a packet whose TCP/UDP checksum the
    /// link vouched for (`csum_ok`: virtio NEEDS_CSUM from a local sender, or
    /// DATA_VALID), which may be a GSO super-segment longer than the MTU:
    /// Linux takes CHECKSUM_PARTIAL/UNNECESSARY skbs without summing them.
    pub fn receive_offloaded(&mut self, now: Instant, packet: &[u8], csum_ok: bool) {
        self.ip_rcv(now, packet, csum_ok, false);
    }

    /// A packet netd sent to itself (127.0.0.0/8 or its own address).
    pub(super) fn receive_looped(&mut self, now: Instant, packet: &[u8]) {
        self.ip_rcv(now, packet, false, true);
    }

    fn ip_rcv(&mut self, now: Instant, packet: &[u8], csum_ok: bool, looped: bool) {
        self.mib.ip.in_receives += 1;
        let (hdr, payload) = match Ipv4Repr::parse(packet) {
            Ok(v) => v,
            Err(WireError::Checksum) => {
                self.mib.ip.in_csum_errors += 1;
                self.mib.ip.in_hdr_errors += 1;
                return;
            }
            Err(WireError::Truncated) => {
                self.mib.ip.in_truncated_pkts += 1;
                return;
            }
            Err(WireError::Malformed) => {
                self.mib.ip.in_hdr_errors += 1;
                return;
            }
        };
        if !looped && martian(self.host.addr, &hdr) {
            return;
        }
        if hdr.dst != self.host.addr && !hdr.dst.is_loopback() {
            // Not forwarding (net.ipv4.ip_forward = 0).
            self.mib.ip.in_addr_errors += 1;
            return;
        }
        if hdr.is_fragment() {
            let limits = FragLimits {
                timeout: Duration::from_secs(self.sysctl.ipfrag_time.max(0) as u64),
                high_thresh: self.sysctl.ipfrag_high_thresh.max(0) as usize,
            };
            let ip_mib = &mut self.mib.ip;
            if let Some(whole) = self
                .frags
                .insert(now, limits, ip_mib, &hdr, packet, payload)
            {
                self.deliver(now, &hdr, &whole, packet, false);
            }
            return;
        }
        self.deliver(now, &hdr, payload, packet, csum_ok);
    }

    /// `ip_local_deliver_finish()`: to the protocol, or a protocol unreachable.
    fn deliver(
        &mut self,
        now: Instant,
        hdr: &Ipv4Repr,
        payload: &[u8],
        packet: &[u8],
        csum_ok: bool,
    ) {
        let (mut net, tcp, udp) = self.split(now);
        match hdr.protocol {
            PROTO_TCP => {
                net.mib.ip.in_delivers += 1;
                tcp.v4_rcv(&mut net, hdr, payload, csum_ok);
            }
            PROTO_UDP => {
                net.mib.ip.in_delivers += 1;
                udp.rcv(&mut net, hdr, payload, packet, csum_ok);
            }
            PROTO_ICMP => {
                net.mib.ip.in_delivers += 1;
                self.icmp_rcv(now, hdr, payload);
            }
            _ => {
                net.mib.ip.in_unknown_protos += 1;
                let body = icmp::error_body(packet);
                let msg = icmp::build(icmpw::DEST_UNREACH, icmpw::CODE_PROTO_UNREACH, [0; 4], body);
                net.send_icmp(hdr.src, &msg);
            }
        }
    }

    fn icmp_rcv(&mut self, now: Instant, hdr: &Ipv4Repr, payload: &[u8]) {
        let (mut net, ..) = self.split(now);
        net.mib.icmp.in_msgs += 1;
        let msg = match icmpw::IcmpRepr::parse(payload) {
            Ok(m) => m,
            Err(e) => {
                net.mib.icmp.in_errors += 1;
                if e == WireError::Checksum {
                    net.mib.icmp.in_csum_errors += 1;
                }
                return;
            }
        };
        match msg.msg_type {
            icmpw::ECHO_REQUEST => {
                net.mib.icmp.in_echos += 1;
                if net.sysctl.icmp_echo_ignore_all != 0 {
                    return;
                }
                let reply = icmp::build(icmpw::ECHO_REPLY, 0, msg.rest, msg.body);
                net.send_icmp(hdr.src, &reply);
            }
            icmpw::ECHO_REPLY => net.mib.icmp.in_echo_reps += 1,
            icmpw::TIME_EXCEEDED => net.mib.icmp.in_time_excds += 1,
            icmpw::DEST_UNREACH => {
                net.mib.icmp.in_dest_unreachs += 1;
                self.icmp_error(now, msg.code, msg.body);
            }
            _ => {}
        }
    }

    /// Route a destination-unreachable to the socket whose datagram it
    /// quotes (`icmp_unreach()` → the protocol's `err_handler`).
    fn icmp_error(&mut self, now: Instant, code: u8, quoted: &[u8]) {
        let Ok((inner, rest)) = Ipv4Repr::parse_quoted(quoted) else {
            return;
        };
        if rest.len() < 8 || inner.src != self.host.addr {
            return;
        }
        let sport = u16::from_be_bytes([rest[0], rest[1]]);
        let dport = u16::from_be_bytes([rest[2], rest[3]]);
        // A quoted TCP header's sequence number (the first 8 bytes are all
        // an ICMP error must carry).
        let seq = SeqNum(u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]));
        let local = SocketAddrV4::new(inner.src, sport);
        let remote = SocketAddrV4::new(inner.dst, dport);
        let err = icmp::unreach_errno(code);
        let (mut net, tcp, udp) = self.split(now);
        match inner.protocol {
            PROTO_UDP => udp.err(&mut net, local, remote, err),
            PROTO_TCP => tcp.v4_err(&mut net, FourTuple { local, remote }, seq, code, err),
            _ => {}
        }
    }
}

/// What `ip_route_input_slow()` drops from a device as martian (with
/// `route_localnet` and `accept_local` at 0): a source that is multicast,
/// the limited broadcast, in 0.0.0.0/8, loopback, or one of our own
/// addresses (`fib_validate_source()`), and a destination in 0.0.0.0/8 or
/// loopback. Linux counts these only in its route-cache statistics; they
/// get no answer, so no SYN-ACK or ICMP error is reflected to them and
/// nothing on the link reaches a socket bound to 127.0.0.1. A subnet
/// broadcast source is not martian to Linux, and is answered.
fn martian(host: std::net::Ipv4Addr, hdr: &Ipv4Repr) -> bool {
    let src = hdr.src;
    let zeronet = |a: std::net::Ipv4Addr| a.octets()[0] == 0;
    src.is_multicast()
        || src.is_broadcast()
        || zeronet(src)
        || src.is_loopback()
        || src == host
        || zeronet(hdr.dst)
        || hdr.dst.is_loopback()
}
