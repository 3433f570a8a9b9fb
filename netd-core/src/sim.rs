//! A deterministic network simulator: stacks joined by a virtual link, in
//! virtual time. The link can delay, rate-limit, lose, reorder, duplicate
//! and corrupt packets and be unplugged, all from one seed, so every run of
//! a test sees exactly the same packets at exactly the same instants.

use crate::sock::SocketHandle;
use crate::stack::{Stack, StackConfig};
use crate::time::Instant;
use crate::wire::ipv4::{Ipv4Repr, PROTO_TCP};
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use core::cmp::Reverse;
use core::time::Duration;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;

/// Impairments of the link, applied to every packet in each direction.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub latency: Duration,
    /// Bits per second; `None` is infinitely fast.
    pub rate: Option<u64>,
    pub loss: f64,
    /// Probability a packet is held back by `reorder_delay`, letting later ones pass.
    pub reorder: f64,
    pub reorder_delay: Duration,
    pub duplicate: f64,
    /// Probability one byte of the packet is flipped.
    pub corrupt: f64,
}

impl Link {
    pub fn ideal() -> Link {
        Link {
            latency: Duration::ZERO,
            rate: None,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            duplicate: 0.0,
            corrupt: 0.0,
        }
    }
    pub fn latency(mut self, d: Duration) -> Link {
        self.latency = d;
        self
    }
    pub fn rate(mut self, bits_per_sec: u64) -> Link {
        self.rate = Some(bits_per_sec);
        self
    }
    pub fn loss(mut self, p: f64) -> Link {
        self.loss = p;
        self
    }
    pub fn reorder(mut self, p: f64, delay: Duration) -> Link {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }
    pub fn duplicate(mut self, p: f64) -> Link {
        self.duplicate = p;
        self
    }
    pub fn corrupt(mut self, p: f64) -> Link {
        self.corrupt = p;
        self
    }
}

/// A packet as it left a host, before the link did anything to it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub from: usize,
    pub packet: Vec<u8>,
}

/// A TCP segment from the trace, decoded for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub at: Instant,
    pub from: usize,
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: TcpFlags,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub len: usize,
    pub window: u16,
    pub options: TcpOptions,
}

impl Seg {
    pub fn flags_str(&self) -> String {
        self.flags.to_string()
    }
}

fn decode(at: Instant, from: usize, packet: &[u8]) -> Option<Seg> {
    let (ip, payload) = Ipv4Repr::parse(packet).ok()?;
    if ip.protocol != PROTO_TCP {
        return None;
    }
    let t = TcpRepr::parse(ip.src, ip.dst, payload).ok()?;
    Some(Seg {
        at,
        from,
        src_port: t.src_port,
        dst_port: t.dst_port,
        flags: t.flags,
        seq: t.seq,
        ack: t.ack,
        len: t.payload.len(),
        window: t.window,
        options: t.options,
    })
}

pub struct Host {
    pub stack: Stack,
    pub addr: Ipv4Addr,
    config: StackConfig,
    busy_until: Instant,
}

/// Deterministic xorshift64* generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A packet in flight: (arrival, tie-break order, destination host, bytes).
type InFlight = Reverse<(Instant, u64, usize, Vec<u8>)>;

pub struct Sim {
    now: Instant,
    pub hosts: Vec<Host>,
    pub link: Link,
    up: bool,
    rng: Rng,
    /// (arrival, order, destination host, packet)
    queue: BinaryHeap<InFlight>,
    order: u64,
    trace: Vec<Sent>,
    /// Seed counter for rebooted hosts' new secrets.
    reboots: u64,
    /// Record packets in the trace (off for bulk tests to save memory).
    pub record: bool,
    /// Drops the TCP segments it returns true for (a targeted loss).
    drop_filter: Option<DropFilter>,
}

/// Decides, per TCP segment leaving a host, whether the link loses it.
pub type DropFilter = Box<dyn FnMut(&Seg) -> bool>;

pub const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

impl Sim {
    pub fn new(seed: u64, link: Link) -> Sim {
        Sim {
            now: Instant::ZERO,
            hosts: Vec::new(),
            link,
            up: true,
            rng: Rng::new(seed),
            queue: BinaryHeap::new(),
            order: 0,
            trace: Vec::new(),
            reboots: 0,
            record: true,
            drop_filter: None,
        }
    }

    /// Two hosts, 10.0.0.1 and 10.0.0.2, MTU 1500, on `link`.
    pub fn pair(link: Link) -> Sim {
        let mut sim = Sim::new(1, link);
        sim.add_host(HOST_A);
        sim.add_host(HOST_B);
        sim
    }

    pub fn add_host(&mut self, addr: Ipv4Addr) -> usize {
        let config = StackConfig {
            addr,
            mtu: 1500,
            seed: u64::from(u32::from(addr)) ^ 0x5eed,
        };
        self.hosts.push(Host {
            stack: Stack::new(config),
            addr,
            config,
            busy_until: Instant::ZERO,
        });
        self.hosts.len() - 1
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn stack(&mut self, host: usize) -> &mut Stack {
        &mut self.hosts[host].stack
    }

    pub fn link_down(&mut self) {
        self.up = false;
    }

    pub fn link_up(&mut self) {
        self.up = true;
    }

    /// The host crashes and comes back with no sockets and new secrets,
    /// keeping its tunables (they are configuration).
    pub fn reboot(&mut self, host: usize) {
        self.reboots += 1;
        let h = &mut self.hosts[host];
        let sysctl = h.stack.sysctl.clone();
        let mut cfg = h.config;
        cfg.seed ^= self.reboots.wrapping_mul(0x1234_5678_9abc);
        h.stack = Stack::new(cfg);
        h.stack.sysctl = sysctl;
    }

    pub fn trace(&self) -> &[Sent] {
        &self.trace
    }

    pub fn clear_trace(&mut self) {
        self.trace.clear();
    }

    /// Every TCP segment in the trace.
    pub fn segments(&self) -> Vec<Seg> {
        self.trace
            .iter()
            .filter_map(|s| decode(s.at, s.from, &s.packet))
            .collect()
    }

    /// Deliver a hand-made packet to `host` now, as if it came off the link
    /// (spoofed sources, stale segments).
    pub fn inject(&mut self, host: usize, packet: Vec<u8>) {
        self.order += 1;
        self.queue
            .push(Reverse((self.now, self.order, host, packet)));
    }

    /// Lose every TCP segment `f` returns true for, until cleared.
    pub fn drop_if(&mut self, f: impl FnMut(&Seg) -> bool + 'static) {
        self.drop_filter = Some(Box::new(f));
    }

    pub fn clear_drop(&mut self) {
        self.drop_filter = None;
    }

    /// Flags of every TCP segment, in order: `["SYN", "SYN|ACK", "ACK"]`.
    pub fn flags(&self) -> Vec<String> {
        self.segments().iter().map(Seg::flags_str).collect()
    }

    fn host_of(&self, dst: Ipv4Addr) -> Option<usize> {
        self.hosts.iter().position(|h| h.addr == dst)
    }

    /// Put one host's packet on the link.
    fn transmit(&mut self, from: usize, mut packet: Vec<u8>) {
        if self.record {
            self.trace.push(Sent {
                at: self.now,
                from,
                packet: packet.clone(),
            });
        }
        if !self.up {
            return;
        }
        if let Some(filter) = self.drop_filter.as_mut() {
            if let Some(seg) = decode(self.now, from, &packet) {
                if filter(&seg) {
                    return;
                }
            }
        }
        let Some(dst) = packet
            .get(16..20)
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        else {
            return;
        };
        let Some(to) = self.host_of(dst) else { return };
        let link = self.link;
        let mut depart = self.now;
        if let Some(rate) = link.rate {
            let start = self.hosts[from].busy_until.max(self.now);
            let tx = Duration::from_nanos((packet.len() as u64 * 8 * 1_000_000_000) / rate.max(1));
            depart = start + tx;
            self.hosts[from].busy_until = depart;
        }
        if link.loss > 0.0 && self.rng.unit() < link.loss {
            return;
        }
        if link.corrupt > 0.0 && self.rng.unit() < link.corrupt && !packet.is_empty() {
            let i = self.rng.below(packet.len() as u64) as usize;
            packet[i] ^= 1 + self.rng.below(255) as u8;
        }
        let mut arrive = depart + link.latency;
        if link.reorder > 0.0 && self.rng.unit() < link.reorder {
            arrive += link.reorder_delay;
        }
        if link.duplicate > 0.0 && self.rng.unit() < link.duplicate {
            self.order += 1;
            self.queue.push(Reverse((
                arrive + Duration::from_micros(1),
                self.order,
                to,
                packet.clone(),
            )));
        }
        self.order += 1;
        self.queue.push(Reverse((arrive, self.order, to, packet)));
    }

    /// Let every host deliver loopback traffic and put its output on the link.
    fn flush(&mut self) {
        for i in 0..self.hosts.len() {
            let mut rounds = 0;
            while self.hosts[i].stack.has_loopback() && rounds < 100 {
                let now = self.now;
                self.hosts[i].stack.poll(now);
                rounds += 1;
            }
            // The link finishes offloaded packets as a TSO NIC would.
            while let Some(p) = self.hosts[i].stack.poll_transmit_packet() {
                for seg in crate::ip::gso::segment(p) {
                    self.transmit(i, seg);
                }
            }
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let pkt = self.queue.peek().map(|Reverse((t, ..))| *t);
        let timers = self
            .hosts
            .iter()
            .filter_map(|h| h.stack.next_deadline())
            .min();
        [pkt, timers].into_iter().flatten().min()
    }

    /// Process the next event (one packet arrival or the due timers), never
    /// going past `limit`. False when nothing is left to do before it.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let Some(t) = self.next_event() else {
            return false;
        };
        if t > limit {
            return false;
        }
        self.now = self.now.max(t);
        let now = self.now;
        if self
            .queue
            .peek()
            .is_some_and(|Reverse((at, ..))| *at <= now)
        {
            if let Some(Reverse((_, _, to, pkt))) = self.queue.pop() {
                self.hosts[to].stack.receive(now, &pkt);
            }
        } else {
            for h in &mut self.hosts {
                if h.stack.next_deadline().is_some_and(|d| d <= now) {
                    h.stack.poll(now);
                }
            }
        }
        self.flush();
        true
    }

    /// Run until virtual time has advanced by `d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.step(end) {}
        self.now = self.now.max(end);
    }

    /// Run until `done` holds (checked after every event) or `timeout` of
    /// virtual time passes; returns whether it held.
    pub fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let end = self.now + timeout;
        loop {
            self.flush();
            if done(self) {
                return true;
            }
            if !self.step(end) {
                self.now = self.now.max(end);
                return done(self);
            }
        }
    }

    /// Socket handle helpers for tests written as scenarios.
    pub fn tcp_state(&self, host: usize, h: SocketHandle) -> Option<crate::tcp::State> {
        self.hosts[host].stack.tcp_state(h)
    }
}
