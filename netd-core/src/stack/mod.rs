//! The stack: one network namespace's worth of state (Linux `struct net`)
//! and its packet and timer entry points. It owns the tunables, counters,
//! the shared host state and each protocol's tables; IP input and ICMP's
//! error routing are in `input`, the socket calls in `crate::socket`.
//! Sans-I/O: every call takes `now`; packets leave through
//! [`Stack::poll_transmit`].

mod input;

use crate::icmp;
use crate::ip::frag::Reassembly;
use crate::ip::{Offloads, TxPacket};
use crate::mib::Mib;
use crate::net::{Host, Net};
use crate::sock::SocketHandle;
use crate::sysctl::Sysctl;
use crate::tcp::TcpTables;
use crate::time::Instant;
use crate::udp::UdpTable;
use crate::wire::icmp as icmpw;
use core::time::Duration;
use std::net::Ipv4Addr;

/// How a stack is set up: its address, link MTU and the seed its secrets
/// (ISN key, timestamp offsets) are derived from.
#[derive(Clone, Copy, Debug)]
pub struct StackConfig {
    pub addr: Ipv4Addr,
    pub mtu: usize,
    pub seed: u64,
}

/// Loopback packets processed per `poll` before yielding, so a packet storm
/// between local sockets cannot hold the caller forever.
const LOOPBACK_BUDGET: usize = 10_000;

pub struct Stack {
    pub sysctl: Sysctl,
    pub mib: Mib,
    pub(crate) host: Host,
    pub(crate) tcp: TcpTables,
    pub(crate) udp: UdpTable,
    frags: Reassembly,
}

impl Stack {
    pub fn new(cfg: StackConfig) -> Stack {
        Stack {
            sysctl: Sysctl::default(),
            mib: Mib::default(),
            host: Host::new(cfg.addr, cfg.mtu, cfg.seed),
            tcp: TcpTables::new(cfg.seed),
            udp: UdpTable::default(),
            frags: Reassembly::default(),
        }
    }

    /// The view protocols take, beside the tables it leaves free.
    pub(crate) fn split(&mut self, now: Instant) -> (Net<'_>, &mut TcpTables, &mut UdpTable) {
        let net = Net {
            now,
            sysctl: &self.sysctl,
            mib: &mut self.mib,
            host: &mut self.host,
        };
        (net, &mut self.tcp, &mut self.udp)
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.host.addr
    }

    // ----- the packet interface -----------------------------------------

    /// The next packet for the link. Complete packets only while no
    /// offloads are set; a link with offloads reads [`poll_transmit_packet`](Self::poll_transmit_packet).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.host.tx.queue.pop_front().map(|p| p.data)
    }

    /// The next packet for the link with what the link must still do to it
    /// (segment it, complete its checksum).
    pub fn poll_transmit_packet(&mut self) -> Option<TxPacket> {
        self.host.tx.queue.pop_front()
    }

    /// Hand back a transmitted packet's buffer for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.host.tx.recycle(buf);
    }

    /// Tell the stack what the link does for it (a TUN device with a
    /// virtio-net header): TCP then sends super-segments up to
    /// `offloads.tso_max` bytes and leaves checksums partial.
    pub fn set_offloads(&mut self, offloads: Offloads) {
        self.host.tx.offloads = offloads;
    }

    /// The earliest time [`poll`](Self::poll) has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let tcp = self.tcp.next_deadline();
        let frag = self.frags.next_deadline();
        [tcp, frag].into_iter().flatten().min()
    }

    /// True when looped-back packets wait to be processed.
    pub fn has_loopback(&self) -> bool {
        !self.host.tx.loopback.is_empty()
    }

    /// Deliver packets sent to ourselves and run every timer due at `now`.
    pub fn poll(&mut self, now: Instant) {
        let mut budget = LOOPBACK_BUDGET;
        while let Some(pkt) = self.host.tx.loopback.pop_front() {
            self.receive_looped(now, &pkt);
            self.host.tx.recycle(pkt);
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        let (mut net, tcp, _) = self.split(now);
        tcp.run_timers(&mut net);
        if self.frags.next_deadline().is_some_and(|d| d <= now) {
            for dead in self.frags.expire(now, &mut self.mib.ip) {
                // RFC 792: time exceeded in reassembly, only if the first fragment came.
                if let Some(first) = dead.first {
                    let body = icmp::error_body(&first);
                    let msg = icmp::build(icmpw::TIME_EXCEEDED, 1, [0; 4], body);
                    let (mut net, ..) = self.split(now);
                    net.send_icmp(dead.src, &msg);
                }
            }
        }
    }

    /// Sockets whose readiness may have changed since the last call, into
    /// `out` (cleared first; sorted, without duplicates). The two vectors
    /// trade places, so once both have grown a loop turn allocates nothing.
    pub fn take_wakeups(&mut self, out: &mut Vec<SocketHandle>) {
        out.clear();
        std::mem::swap(&mut self.host.wakeups, out);
        out.sort_unstable();
        out.dedup();
    }

    /// Give back the memory of TCP buffers left empty for `idle` or longer:
    /// a VecDeque keeps its capacity when drained, so without this every
    /// connection that once moved data would hold its high-water mark for
    /// life (Linux frees skbs as they are consumed and reclaims forward
    /// allocations, `sk_mem_reclaim()`). The daemon calls this about once a
    /// second; returns the bytes released.
    pub fn reclaim_idle_buffers(&mut self, now: Instant, idle: Duration) -> usize {
        self.tcp.reclaim_idle_buffers(now, idle)
    }

    /// Connections the next reclaim looks at (those holding buffers): an
    /// idle connection whose buffers went back is not among them.
    pub fn buffered_connections(&self) -> usize {
        self.tcp.buffered_connections()
    }

    /// Bytes charged for IP reassembly (truesize, as Linux counts them).
    pub fn reassembly_mem(&self) -> usize {
        self.frags.mem()
    }

    /// Datagrams waiting for fragments.
    pub fn reassembly_queues(&self) -> usize {
        self.frags.queues()
    }

    /// All counters with their /proc section names.
    pub fn counter_lines(&self) -> Vec<(&'static str, &'static str, i64)> {
        self.mib
            .lines(self.tcp.curr_estab() as u64, self.sysctl.ip_default_ttl)
    }
}
