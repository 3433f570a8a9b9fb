//! The socket calls (`inet_bind()`, `inet_listen()`, `inet_accept()`,
//! `inet_stream_connect()`, `inet_dgram_connect()`, `inet_sendmsg()`,
//! `inet_recvmsg()`, `inet_shutdown()`, `inet_release()`, getsockname and
//! getpeername), checked here and carried out by the protocol.

use super::Kind;
use crate::inet::bind::is_local;
use crate::sock::{Shutdown, SockType, SocketHandle};
use crate::stack::Stack;
use crate::tcp::ConnState;
use crate::time::Instant;
use netd_proto::Errno;
use std::net::SocketAddrV4;

impl Stack {
    pub fn socket(&mut self, ty: SockType) -> Result<SocketHandle, Errno> {
        let h = self.host.alloc_handle();
        match ty {
            SockType::Stream => self.tcp.socket(h),
            SockType::Datagram => self.udp.socket(h),
        }
        Ok(h)
    }

    pub fn bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> Result<(), Errno> {
        // `__inet_bind()` checks the address before whether the socket is
        // bound already.
        if !is_local(self.host.addr, *addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let kind = self.kind(h)?;
        let rover = &mut self.host.rover;
        match kind {
            Kind::Tcp => self.tcp.bind(rover, &self.sysctl, h, addr),
            Kind::Udp => self.udp.bind(rover, &self.sysctl, h, addr),
        }
    }

    /// listen(); EINVAL for a socket that ever held a connection
    /// ([`crate::tcp::sock::TcpSock::had_connection`]).
    pub fn listen(&mut self, now: Instant, h: SocketHandle, backlog: i32) -> Result<(), Errno> {
        if self.kind(h)? != Kind::Tcp {
            return Err(Errno::EOPNOTSUPP);
        }
        // __sys_listen_socket(): (unsigned)backlog > somaxconn -> somaxconn.
        let somaxconn = self.sysctl.somaxconn.max(0) as u32;
        let backlog = if backlog < 0 || backlog as u32 > somaxconn {
            somaxconn
        } else {
            backlog as u32
        };
        let (mut net, tcp, _) = self.split(now);
        tcp.listen(&mut net, h, backlog)
    }

    /// Take a completed connection (EAGAIN when none is queued; the core never blocks).
    pub fn accept(&mut self, h: SocketHandle) -> Result<(SocketHandle, SocketAddrV4), Errno> {
        self.kind(h)?;
        self.tcp.accept(h)
    }

    /// connect(): TCP returns EINPROGRESS at once (the daemon or libnet waits
    /// for completion when the socket is blocking); later calls report as
    /// Linux does: EALREADY while connecting, 0 once, then EISCONN; after a
    /// failure the pending error once, and the socket may connect again.
    pub fn connect(
        &mut self,
        now: Instant,
        h: SocketHandle,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        match self.kind(h)? {
            Kind::Udp => self
                .udp
                .connect(&mut self.host.rover, &self.sysctl, h, remote),
            Kind::Tcp => {
                let (mut net, tcp, _) = self.split(now);
                tcp.connect(&mut net, h, remote)
            }
        }
    }

    /// connect(AF_UNSPEC) (`tcp_disconnect()`, `udp_disconnect()`), also the
    /// end of a failed connect(): see [`crate::tcp::TcpTables::disconnect`].
    pub fn disconnect(&mut self, now: Instant, h: SocketHandle) -> Result<Option<Errno>, Errno> {
        match self.kind(h)? {
            Kind::Udp => self.udp.disconnect(h).map(|()| None),
            Kind::Tcp => {
                let (mut net, tcp, _) = self.split(now);
                tcp.disconnect(&mut net, h)
            }
        }
    }

    /// Bind an unbound UDP socket to an ephemeral port (`inet_autobind()`,
    /// as `inet_send_prepare()` does before finding no destination). TCP
    /// never autobinds (`no_autobind`): EOPNOTSUPP.
    pub fn udp_autobind(&mut self, h: SocketHandle) -> Result<SocketAddrV4, Errno> {
        match self.kind(h)? {
            Kind::Udp => self.udp.autobind(&mut self.host.rover, &self.sysctl, h),
            Kind::Tcp => Err(Errno::EOPNOTSUPP),
        }
    }

    /// Queue bytes on a TCP socket; returns how many fit (EAGAIN if none).
    /// On a UDP socket, one datagram to the connected peer.
    pub fn send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> Result<usize, Errno> {
        self.send_flags(now, h, data, false)
    }

    /// send() with MSG_MORE on a TCP socket: the bytes are queued and not
    /// transmitted, so what comes next can share their segment. A close
    /// that follows then sends data and FIN as one segment, as Linux's
    /// `tcp_send_fin()` tacks the FIN onto a tail that is not sent yet.
    /// `push` sends what is queued.
    pub fn send_more(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
    ) -> Result<usize, Errno> {
        self.send_flags(now, h, data, true)
    }

    fn send_flags(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        more: bool,
    ) -> Result<usize, Errno> {
        let kind = self.kind(h)?;
        let (mut net, tcp, udp) = self.split(now);
        match kind {
            Kind::Udp => udp.send(&mut net, h, data),
            Kind::Tcp => tcp.send(&mut net, h, data, more),
        }
    }

    /// Transmit what `send_more` queued (`tcp_push()` once the cork is gone).
    pub fn push(&mut self, now: Instant, h: SocketHandle) {
        let (mut net, tcp, _) = self.split(now);
        tcp.push(&mut net, h);
    }

    /// Read from a socket: Ok(0) is end of stream; EAGAIN when nothing is
    /// there yet. With `peek` the data stays queued (MSG_PEEK).
    pub fn recv(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<usize, Errno> {
        if self.kind(h)? == Kind::Udp {
            return self.recvfrom(h, buf, peek).map(|(n, _)| n);
        }
        self.recv_with(now, h, peek, |a, b| {
            let from_a = buf.len().min(a.len());
            buf[..from_a].copy_from_slice(&a[..from_a]);
            let from_b = (buf.len() - from_a).min(b.len());
            buf[from_a..from_a + from_b].copy_from_slice(&b[..from_b]);
            from_a + from_b
        })
    }

    /// TCP receive without an intermediate buffer: `take` sees the queued
    /// bytes as (up to) two slices, in order, and returns how many it
    /// consumed (it may write them straight to a descriptor). Errors and EOF
    /// as [`recv`](Self::recv); Ok(0) from `take` itself is not EOF but
    /// "nothing taken" (the descriptor was full).
    pub fn recv_with(
        &mut self,
        now: Instant,
        h: SocketHandle,
        peek: bool,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, Errno> {
        let (mut net, tcp, _) = self.split(now);
        tcp.recv(&mut net, h, peek, take)
    }

    pub fn sendto(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        remote: SocketAddrV4,
    ) -> Result<usize, Errno> {
        let kind = self.kind(h)?;
        let (mut net, tcp, udp) = self.split(now);
        match kind {
            // sendto() on a connected TCP socket ignores the address.
            Kind::Tcp => tcp.send(&mut net, h, data, false),
            Kind::Udp => udp.sendto(&mut net, h, data, remote),
        }
    }

    /// One datagram; longer than `buf` is truncated, as recv(2) without MSG_TRUNC.
    pub fn recvfrom(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<(usize, SocketAddrV4), Errno> {
        match self.kind(h)? {
            Kind::Udp => self.udp.recvfrom(h, buf, peek),
            Kind::Tcp => Err(Errno::EOPNOTSUPP),
        }
    }

    pub fn shutdown(&mut self, now: Instant, h: SocketHandle, how: Shutdown) -> Result<(), Errno> {
        match self.kind(h)? {
            Kind::Udp => match self.udp.get(h) {
                Some(u) if u.remote.is_some() => Ok(()),
                _ => Err(Errno::ENOTCONN),
            },
            Kind::Tcp => {
                let (mut net, tcp, _) = self.split(now);
                tcp.shutdown(&mut net, h, how)
            }
        }
    }

    /// close(): the handle is gone at once; the connection finishes as an orphan.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), Errno> {
        self.release(now, h, false)
    }

    /// close() when the program left bytes unread that only the daemon
    /// saw (in its socketpair): a connection is reset rather than closed
    /// with a FIN (RFC 2525 §2.17, TCPAbortOnClose), as `tcp_close()` does
    /// with data unread in the receive queue. A listener stops listening
    /// and resets its queue, as on any close.
    pub fn abort(&mut self, now: Instant, h: SocketHandle) -> Result<(), Errno> {
        self.release(now, h, true)
    }

    fn release(&mut self, now: Instant, h: SocketHandle, unread: bool) -> Result<(), Errno> {
        match self.kind(h)? {
            Kind::Udp => {
                self.udp.destroy(h);
                Ok(())
            }
            Kind::Tcp => {
                let (mut net, tcp, _) = self.split(now);
                tcp.close(&mut net, h, unread)
            }
        }
    }

    /// Shutting down: every synchronized connection is reset so peers learn
    /// at once, and every socket is dropped (netd's SIGTERM path).
    pub fn abort_all(&mut self, now: Instant) {
        let (mut net, tcp, udp) = self.split(now);
        tcp.abort_all(&mut net);
        udp.clear();
    }

    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, Errno> {
        let a = match self.kind(h)? {
            Kind::Tcp => self.tcp.local_addr(h),
            Kind::Udp => self.udp.local_addr(h),
        };
        a.ok_or(Errno::EBADF)
    }

    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, Errno> {
        match self.kind(h)? {
            Kind::Udp => self.udp.get(h).and_then(|u| u.remote),
            Kind::Tcp => self.tcp.open(h).and_then(|s| s.tcb()).and_then(|t| {
                let connected = !matches!(t.state, ConnState::Closed | ConnState::SynSent);
                connected.then_some(t.tuple.remote)
            }),
        }
        .ok_or(Errno::ENOTCONN)
    }
}
