//! What `ss`, `netstat`, the daemon's status line and the tests read
//! (`inet_diag`, `/proc/net/snmp`'s CurrEstab, and direct looks at state).

use crate::sock::SocketHandle;
use crate::stack::Stack;
use crate::tcp::sock::Role;
use crate::tcp::timewait::TimeWaitSock;
use crate::tcp::{FourTuple, State, Tcb};
use crate::time::Instant;
use netd_proto::{SockInfo, SockStat};

/// One entry of a socket dump: what `Stack::socket_rows` lists, in the
/// order `Stack::socket_keys` gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockKey {
    Tcp(SocketHandle),
    TimeWait(FourTuple),
    Udp(SocketHandle),
}

impl Stack {
    /// What a dump of every socket walks, taken at its start (netd then
    /// lists them a chunk at a time, as `inet_diag` resumes a netlink dump
    /// where the last skb ended).
    pub fn socket_keys(&self) -> Vec<SockKey> {
        let (socks, tw) = self.tcp.diag_keys();
        let udp = self.udp.diag_keys();
        let mut keys = Vec::with_capacity(socks.len() + tw.len() + udp.len());
        keys.extend(socks.into_iter().map(SockKey::Tcp));
        keys.extend(tw.into_iter().map(SockKey::TimeWait));
        keys.extend(udp.into_iter().map(SockKey::Udp));
        keys
    }

    /// The rows of `keys` as they are now; a socket gone since is skipped.
    pub fn socket_rows(&self, keys: &[SockKey], now: Instant, out: &mut Vec<SockInfo>) {
        let mtu = self.host.tx.mtu;
        for k in keys {
            match k {
                SockKey::Tcp(h) => self.tcp.diag_sock_rows(*h, now, mtu, out),
                SockKey::TimeWait(t) => self.tcp.diag_tw_row(t, now, out),
                SockKey::Udp(h) => self.udp.diag_row(*h, out),
            }
        }
    }

    /// /proc/net/sockstat for `ss -s` (`sockets_used` is the daemon's to
    /// fill: it knows which sockets programs hold).
    pub fn sockstat(&self) -> SockStat {
        let (inuse, orphan, tw, alloc) = self.tcp.sockstat();
        SockStat {
            sockets_used: 0,
            tcp_inuse: inuse as u64,
            tcp_orphan: orphan as u64,
            tcp_tw: tw as u64,
            tcp_alloc: alloc as u64,
            tcp_estab: self.tcp.curr_estab() as u64,
            udp_inuse: self.udp.inuse() as u64,
            frag_inuse: self.reassembly_queues() as u64,
            frag_memory: self.reassembly_mem() as u64,
        }
    }

    /// Every socket as `ss` lists it, request socks and TIME-WAIT buckets
    /// included (`tcp_diag_get_info()` for the queue columns). Rows carry
    /// the socket's handle id in `sk`; who holds it is the daemon's to add.
    pub fn sockets_info(&self, now: Instant) -> Vec<SockInfo> {
        let mut out = Vec::new();
        self.tcp.diag_rows(now, self.host.tx.mtu, &mut out);
        self.udp.diag_rows(&mut out);
        out
    }

    /// The TCP state of a TCP socket, orphans included (None for UDP and
    /// for no socket).
    pub fn tcp_state(&self, h: SocketHandle) -> Option<State> {
        Some(match &self.tcp.get(h)?.role {
            Role::Idle => State::Closed,
            Role::Listen(_) => State::Listen,
            Role::Conn(t) => t.state.into(),
        })
    }

    /// A connection's control block, orphans included (for ss and tests).
    pub fn tcb(&self, h: SocketHandle) -> Option<&Tcb> {
        self.tcp.get(h)?.tcb()
    }

    /// The connection on a 4-tuple, whoever holds it.
    pub fn tcb_by_tuple(&self, tuple: &FourTuple) -> Option<&Tcb> {
        self.tcp.by_tuple(tuple)
    }

    pub fn timewait(&self, tuple: &FourTuple) -> Option<&TimeWaitSock> {
        self.tcp.timewait().get(tuple)
    }

    pub fn timewait_count(&self) -> usize {
        self.tcp.timewait().len()
    }

    /// Listener queue lengths: (SYN queue, accept queue, backlog).
    pub fn listen_queues(&self, h: SocketHandle) -> Option<(usize, usize, u32)> {
        let l = self.tcp.get(h)?.listener()?;
        Some((l.syn_queue.len(), l.accept_queue.len(), l.backlog))
    }

    /// The `i`th connection in listener `h`'s accept queue (0 is the next
    /// accept()), so the daemon can hand it over before it is accepted.
    pub fn queued_child(&self, h: SocketHandle, i: usize) -> Option<SocketHandle> {
        self.tcp.get(h)?.listener()?.accept_queue.get(i).copied()
    }

    /// Tcp CurrEstab: connections in ESTABLISHED or CLOSE-WAIT.
    pub fn curr_estab(&self) -> usize {
        self.tcp.curr_estab()
    }

    /// Every socket, orphans included, for diagnostics.
    pub fn socket_count(&self) -> usize {
        self.tcp.socks().count() + self.udp.len()
    }
}
