//! setsockopt(2) and getsockopt(2) (`sock_setsockopt()`,
//! `do_tcp_setsockopt()`, `sk_getsockopt()`, `do_tcp_getsockopt()`): the
//! values a socket stores and reports, with Linux's ranges and defaults.
//! What an option does to a live connection is TCP's
//! ([`crate::tcp::Tcb::apply_opt`]).

use super::Kind;
use crate::sock::{SockOpt, SockOptName, SockOptValue, SockOpts, SocketHandle};
use crate::stack::Stack;
use crate::time::Instant;
use netd_proto::Errno;

impl Stack {
    pub fn setsockopt(&mut self, now: Instant, h: SocketHandle, opt: SockOpt) -> Result<(), Errno> {
        let rmem_max = self.sysctl.rmem_max.max(0) as usize;
        let wmem_max = self.sysctl.wmem_max.max(0) as usize;
        let kind = self.kind(h)?;
        let opts = match kind {
            Kind::Tcp => self.tcp.opts_mut(h),
            Kind::Udp => self.udp.get_mut(h).map(|s| &mut s.opts),
        };
        store(opts.ok_or(Errno::EBADF)?, opt, rmem_max, wmem_max)?;
        let (mut net, tcp, _) = self.split(now);
        match kind {
            Kind::Tcp => tcp.apply_opt(&mut net, h, opt),
            Kind::Udp => net.wake(h),
        }
        Ok(())
    }

    /// `getsockopt(2)` at time `now`: TCP_INFO's ages and rates need it;
    /// every other option is [`getsockopt`](Self::getsockopt)'s.
    pub fn getsockopt_at(
        &mut self,
        now: Instant,
        h: SocketHandle,
        name: SockOptName,
    ) -> Result<SockOptValue, Errno> {
        if name != SockOptName::TcpInfo {
            return self.getsockopt(h, name);
        }
        if self.kind(h)? != Kind::Tcp {
            return Err(Errno::ENOPROTOOPT);
        }
        let mtu = self.host.tx.mtu;
        let unconnected = crate::tcp::info::tcp_info_unconnected;
        let bytes = match self.tcp.open(h) {
            Some(t) => match (&t.role, t.tcb()) {
                (_, Some(tcb)) => tcb.tcp_info_bytes(now, mtu, &self.sysctl),
                (crate::tcp::sock::Role::Listen(l), _) => unconnected(
                    crate::tcp::State::Listen,
                    l.accept_queue.len() as u32,
                    l.backlog,
                ),
                _ => unconnected(crate::tcp::State::Closed, 0, 0),
            },
            None => unconnected(crate::tcp::State::Closed, 0, 0),
        };
        Ok(SockOptValue::Bytes(bytes))
    }

    pub fn getsockopt(
        &mut self,
        h: SocketHandle,
        name: SockOptName,
    ) -> Result<SockOptValue, Errno> {
        let kind = self.kind(h)?;
        let mtu = u32::try_from(self.host.tx.mtu).unwrap_or(u32::MAX);
        let s = &self.sysctl;
        // TCP starts from tcp_rmem[1]/tcp_wmem[1]; other sockets from
        // net.core.rmem_default/wmem_default (`sock_init_data()`).
        let (rmem, wmem) = match kind {
            Kind::Udp => (s.rmem_default, s.wmem_default),
            Kind::Tcp => (s.tcp_rmem[1], s.tcp_wmem[1]),
        };
        let (rmem, wmem) = (rmem as i32, wmem as i32);
        let sysctl_or = |v: u32, sysctl: i64| if v == 0 { sysctl as i32 } else { v as i32 };
        let (ka_time, ka_intvl, ka_probes) = (
            s.tcp_keepalive_time,
            s.tcp_keepalive_intvl,
            s.tcp_keepalive_probes,
        );
        let tcp = self.tcp.open(h);
        let o = match (kind, tcp) {
            (Kind::Tcp, Some(t)) => *t.opts(),
            _ => self.udp.get(h).map(|u| u.opts).ok_or(Errno::EBADF)?,
        };
        let int = |b: bool| SockOptValue::Int(i32::from(b));
        Ok(match name {
            SockOptName::ReuseAddr => int(o.reuseaddr),
            SockOptName::KeepAlive => int(o.keepalive),
            SockOptName::Linger => match o.linger {
                Some(s) => SockOptValue::Linger(1, s as i32),
                None => SockOptValue::Linger(0, 0),
            },
            SockOptName::RcvBuf => SockOptValue::Int(o.rcvbuf.map_or(rmem, |v| v as i32)),
            SockOptName::SndBuf => SockOptValue::Int(o.sndbuf.map_or(wmem, |v| v as i32)),
            SockOptName::Type => SockOptValue::Int(if kind == Kind::Tcp { 1 } else { 2 }),
            SockOptName::AcceptConn => int(tcp.is_some_and(|t| t.is_listening())),
            SockOptName::NoDelay => int(o.nodelay),
            SockOptName::QuickAck => {
                int(!tcp.and_then(|t| t.tcb()).is_some_and(|t| t.ack.pingpong))
            }
            // Linux reports `tp->mss_cache`: before a SYN was ever sent the
            // user's TCP_MAXSEG or 536; from the SYN until the peer's MSS is
            // known, min(MTU - 40, that clamp) less the timestamp option;
            // then the connection's, which a closed or disconnected socket
            // keeps.
            SockOptName::MaxSeg => SockOptValue::Int(match tcp {
                Some(t) => t.maxseg(mtu) as i32,
                None if o.maxseg != 0 => i32::from(o.maxseg),
                None => 536,
            }),
            SockOptName::SynCnt => SockOptValue::Int(if o.syncnt == 0 {
                6
            } else {
                i32::from(o.syncnt)
            }),
            SockOptName::UserTimeout => SockOptValue::Int(o.user_timeout as i32),
            SockOptName::KeepIdle => SockOptValue::Int(sysctl_or(o.keepidle, ka_time)),
            SockOptName::KeepIntvl => SockOptValue::Int(sysctl_or(o.keepintvl, ka_intvl)),
            SockOptName::KeepCnt => SockOptValue::Int(sysctl_or(u32::from(o.keepcnt), ka_probes)),
            SockOptName::Congestion => {
                if kind != Kind::Tcp {
                    return Err(Errno::ENOPROTOOPT);
                }
                let name = match tcp.and_then(|t| t.tcb()) {
                    Some(tcb) => tcb.cc.algo.name(),
                    None => o
                        .congestion
                        .and_then(|n| crate::tcp::cong::Algo::from_padded(&n))
                        .or_else(|| crate::tcp::cong::Algo::by_name(&s.tcp_congestion_control))
                        .map_or("reno", |a| a.name()),
                };
                let mut b = [0u8; 16];
                b[..name.len()].copy_from_slice(name.as_bytes());
                SockOptValue::Bytes(b.to_vec())
            }
            // Its ages need the clock: only `getsockopt_at()` answers it.
            SockOptName::TcpInfo => return Err(Errno::EINVAL),
            SockOptName::MemInfo => SockOptValue::Bytes(match tcp.and_then(|t| t.tcb()) {
                Some(tcb) => tcb.meminfo_bytes(),
                None => crate::tcp::info::meminfo_unconnected(
                    o.rcvbuf.map_or(rmem, |v| v as i32) as u32,
                    o.sndbuf.map_or(wmem, |v| v as i32) as u32,
                ),
            }),
            // SO_ERROR returns and clears the pending error.
            SockOptName::Error => {
                let e = match kind {
                    Kind::Tcp => self.tcp.take_error(h),
                    Kind::Udp => self.udp.get_mut(h).and_then(|u| u.error.take()),
                };
                SockOptValue::Int(e.map_or(0, Errno::code))
            }
        })
    }
}

/// Store an option's value in the socket, as Linux validates and stores it.
fn store(o: &mut SockOpts, opt: SockOpt, rmem_max: usize, wmem_max: usize) -> Result<(), Errno> {
    match opt {
        SockOpt::ReuseAddr(v) => o.reuseaddr = v,
        SockOpt::KeepAlive(v) => o.keepalive = v,
        SockOpt::Linger(v) => o.linger = v,
        // The kernel stores twice the value, clamped, with a floor (sock_setsockopt()).
        SockOpt::RcvBuf(v) => {
            o.rcvbuf = Some(
                (v.max(0) as usize)
                    .min(rmem_max)
                    .saturating_mul(2)
                    .max(2304),
            )
        }
        SockOpt::SndBuf(v) => {
            o.sndbuf = Some(
                (v.max(0) as usize)
                    .min(wmem_max)
                    .saturating_mul(2)
                    .max(4608),
            )
        }
        SockOpt::NoDelay(v) => o.nodelay = v,
        SockOpt::MaxSeg(v) => {
            if v != 0 && !(88..=32767).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.maxseg = v as u16;
        }
        SockOpt::SynCnt(v) => {
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.syncnt = v as u8;
        }
        // tcp_set_congestion_control(): an unknown name is ENOENT.
        SockOpt::Congestion(name) => {
            let n = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name_str = std::str::from_utf8(&name[..n]).map_err(|_| Errno::ENOENT)?;
            if crate::tcp::cong::Algo::by_name(name_str).is_none() {
                return Err(Errno::ENOENT);
            }
            o.congestion = Some(name);
        }
        SockOpt::UserTimeout(v) => {
            if v < 0 {
                return Err(Errno::EINVAL);
            }
            o.user_timeout = v as u32;
        }
        // MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL
        SockOpt::KeepIdle(v) | SockOpt::KeepIntvl(v) if !(1..=32767).contains(&v) => {
            return Err(Errno::EINVAL);
        }
        SockOpt::KeepIdle(v) => o.keepidle = v as u32,
        SockOpt::KeepIntvl(v) => o.keepintvl = v as u32,
        SockOpt::KeepCnt(v) => {
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.keepcnt = v as u8;
        }
        SockOpt::QuickAck(_) => {}
    }
    Ok(())
}
