//! What every protocol of one stack shares besides its own tables (Linux
//! passes `struct net *` for this): the host's address and packet output,
//! ICMP's rate limits, the ephemeral-port rover, socket handles, and the
//! list of sockets whose readiness changed. Protocol code takes a [`Net`],
//! a view that also carries the time, the tunables and the counters.

use crate::icmp;
use crate::inet::bind::PortRover;
use crate::ip::Tx;
use crate::mib::Mib;
use crate::sock::SocketHandle;
use crate::sysctl::Sysctl;
use crate::time::Instant;
use crate::wire::icmp as icmpw;
use crate::wire::ipv4::PROTO_ICMP;
use std::net::Ipv4Addr;

#[derive(Debug)]
pub struct Host {
    pub addr: Ipv4Addr,
    pub tx: Tx,
    /// ICMP error rate limits (`icmp_ratelimit`, `icmp_msgs_per_sec`).
    pub icmp_limit: icmp::RateLimiter,
    pub rover: PortRover,
    /// Sockets whose readiness may have changed since `Stack::take_wakeups()`.
    pub wakeups: Vec<SocketHandle>,
    next_handle: u32,
}

impl Host {
    pub fn new(addr: Ipv4Addr, mtu: usize, seed: u64) -> Host {
        Host {
            addr,
            tx: Tx::new(addr, mtu.max(68)),
            icmp_limit: icmp::RateLimiter::default(),
            rover: PortRover::new(seed),
            wakeups: Vec::new(),
            next_handle: 1,
        }
    }

    /// A handle never given out before.
    pub fn alloc_handle(&mut self) -> SocketHandle {
        let h = SocketHandle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        h
    }
}

/// The view of the stack a protocol routine gets: now, the tunables, the
/// counters and the shared [`Host`].
pub struct Net<'a> {
    pub now: Instant,
    pub sysctl: &'a Sysctl,
    pub mib: &'a mut Mib,
    pub host: &'a mut Host,
}

impl Net<'_> {
    /// The same view for a callee, leaving this one usable afterwards.
    pub fn reborrow(&mut self) -> Net<'_> {
        Net {
            now: self.now,
            sysctl: self.sysctl,
            mib: self.mib,
            host: self.host,
        }
    }

    /// Socket `h`'s readiness may have changed.
    pub fn wake(&mut self, h: SocketHandle) {
        self.host.wakeups.push(h);
    }

    pub fn ttl(&self) -> u8 {
        self.sysctl.ip_default_ttl.clamp(1, 255) as u8
    }

    /// `icmp_send()`/`icmp_reply()`: subject to the rate limits, then out.
    pub fn send_icmp(&mut self, dst: Ipv4Addr, msg: &[u8]) {
        if let [msg_type, code, ..] = *msg {
            let limit = &mut self.host.icmp_limit;
            if !limit.allow(
                self.now,
                dst,
                msg_type,
                code,
                self.sysctl,
                &mut self.mib.icmp,
            ) {
                return;
            }
        }
        self.mib.icmp.out_msgs += 1;
        match msg.first() {
            Some(&icmpw::DEST_UNREACH) => self.mib.icmp.out_dest_unreachs += 1,
            Some(&icmpw::ECHO_REPLY) => self.mib.icmp.out_echo_reps += 1,
            _ => {}
        }
        let ttl = self.ttl();
        let src = self.host.addr;
        self.host
            .tx
            .datagram(&mut self.mib.ip, ttl, src, dst, PROTO_ICMP, msg);
    }
}
