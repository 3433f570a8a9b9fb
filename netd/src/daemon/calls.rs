//! The socket requests libnet makes on a program's behalf: each finds the
//! endpoint, asks the stack, and moves what the answer lets move.

use super::sockets::{self, Endpoints};
use super::{err, now, Daemon, Reply};
use netd_core::socket::{Shutdown, SockOptName, SockOptValue, SocketHandle};
use netd_core::tcp::State;
use netd_core::time::Instant;
use netd_proto::{Errno, Request, Response, SockRef, WireAddr};
use std::net::{Ipv4Addr, SocketAddrV4};

fn handle_of(eps: &mut Endpoints, r: SockRef) -> Result<SocketHandle, Errno> {
    eps.get(r).map(|e| e.handle)
}

impl Daemon {
    pub(super) fn handle(&mut self, client: u64, uid: u32, req: Request) -> Reply {
        let t = now();
        // A UDP socket's datagrams travel in band: those the program sent
        // before this call are sent first, as each sendto() is done when it
        // returns in Linux (its autobind, for one, precedes a later bind()).
        if let Some(sock) = req.sock() {
            self.endpoints
                .flush_dgrams(sock, &mut self.stack, t, &self.epoll);
        }
        let reply = match req {
            Request::Socket { stream } => return self.req_socket(uid, stream, t),
            Request::Bind { sock, addr } => handle_of(&mut self.endpoints, sock)
                .and_then(|h| self.stack.bind(h, addr.into()))
                .map(|_| Response::Ok),
            Request::Listen { sock, backlog } => handle_of(&mut self.endpoints, sock)
                .and_then(|h| self.stack.listen(t, h, backlog).map(|_| h))
                .map(|h| {
                    self.endpoints.wake(h, &mut self.stack, t, &self.epoll);
                    Response::Ok
                }),
            Request::Connect { sock, addr, plug } => self.req_connect(sock, addr, plug, t),
            Request::WaitConnect { sock } => match handle_of(&mut self.endpoints, sock) {
                Err(e) => Err(e),
                Ok(h) => match self.stack.tcp_state(h) {
                    Some(State::SynSent) | Some(State::SynRcvd) => {
                        self.waiters.push((client, sock));
                        return Reply::Later;
                    }
                    _ => Ok(self.connect_outcome(sock)),
                },
            },
            Request::Shutdown { sock, how } => self.req_shutdown(sock, how, t),
            Request::CloseHint { sock, unread } => self
                .endpoints
                .close_hint(sock, unread, &mut self.stack, t)
                .map(|_| Response::Ok),
            Request::SetOpt { sock, opt } => handle_of(&mut self.endpoints, sock).and_then(|h| {
                let r = self.stack.setsockopt(t, h, opt);
                self.endpoints.wake(h, &mut self.stack, t, &self.epoll);
                r.map(|_| Response::Ok)
            }),
            Request::GetOpt { sock, name } => self.req_getopt(sock, name, t),
            Request::LocalAddr { sock } => handle_of(&mut self.endpoints, sock)
                .and_then(|h| self.stack.local_addr(h))
                .map(|a| Response::Addr(a.into())),
            Request::PeerAddr { sock } => handle_of(&mut self.endpoints, sock)
                .and_then(|h| self.stack.peer_addr(h))
                .map(|a| Response::Addr(a.into())),
            Request::Disconnect { sock } => return self.req_disconnect(sock, t),
            Request::Autobind { sock } => handle_of(&mut self.endpoints, sock)
                .and_then(|h| self.stack.udp_autobind(h))
                .map(|_| Response::Ok),
            Request::TakeRecvError { sock } => match handle_of(&mut self.endpoints, sock) {
                Ok(h) if self.stack.fin_received(h) => Ok(Response::Errno(0)),
                _ => self.req_take_error(sock),
            },
            Request::TakeError { sock } => self.req_take_error(sock),
            Request::Sockets { processes } => return Reply::Dump { processes },
            other => return Reply::Now(self.handle_admin(uid, other)),
        };
        Reply::Now(match reply {
            Ok(r) => r,
            Err(e) => err(e),
        })
    }

    /// A new stack socket wrapped in a socketpair; the program gets its end.
    fn req_socket(&mut self, uid: u32, stream: bool, t: Instant) -> Reply {
        let h = match self.stack.socket(sockets::sock_type(stream)) {
            Ok(h) => h,
            Err(e) => return Reply::Now(err(e)),
        };
        let share = self.stack.sysctl.sockets_per_uid;
        match self.endpoints.create(&self.epoll, h, stream, uid, share) {
            Ok((sock, fd)) => Reply::WithFd(Response::Socket { sock }, fd),
            Err(e) => {
                let _ = self.stack.close(t, h);
                self.endpoints.sockets_refused += 1;
                let limit = self.nofile;
                let why = match e {
                    Errno::EMFILE => {
                        format!("uid {uid} holds netd.sockets_per_uid = {share} sockets")
                    }
                    _ => format!("netd is out of file descriptors (RLIMIT_NOFILE {limit})"),
                };
                self.share_log.log(std::time::Instant::now(), || {
                    format!("socket() refused ({}): {why}", e.message())
                });
                Reply::Now(err(e))
            }
        }
    }

    fn req_connect(
        &mut self,
        sock: SockRef,
        addr: WireAddr,
        plug: u32,
        t: Instant,
    ) -> Result<Response, Errno> {
        let h = handle_of(&mut self.endpoints, sock)?;
        // The plug is in the socketpair whatever the outcome; it goes once
        // the connection is decided.
        if let Ok(ep) = self.endpoints.get(sock) {
            ep.plug += plug as usize;
        }
        match self.stack.connect(t, h, addr.into()) {
            Err(Errno::EINPROGRESS) => {
                if let Ok(ep) = self.endpoints.get(sock) {
                    ep.connecting = true;
                }
                Err(Errno::EINPROGRESS)
            }
            other => {
                self.endpoints.wake(h, &mut self.stack, t, &self.epoll);
                other.map(|_| Response::Ok)
            }
        }
    }

    fn req_shutdown(&mut self, sock: SockRef, how: u8, t: Instant) -> Result<Response, Errno> {
        let h = handle_of(&mut self.endpoints, sock)?;
        let how = match how {
            0 => Shutdown::Read,
            1 => Shutdown::Write,
            2 => Shutdown::Both,
            _ => return Err(Errno::EINVAL),
        };
        // UDP: connected or ENOTCONN, nothing more to do here.
        if !self.stack.is_stream(h) {
            return self.stack.shutdown(t, h, how).map(|_| Response::Ok);
        }
        match self.stack.tcp_state(h) {
            Some(State::Closed) | None => return Err(Errno::ENOTCONN),
            Some(State::Listen) => return self.stack.shutdown(t, h, how).map(|_| Response::Ok),
            _ => {}
        }
        let r = if how == Shutdown::Write {
            Ok(())
        } else {
            self.stack.shutdown(t, h, Shutdown::Read)
        };
        // SHUT_WR: netd shuts the program's write direction from its own
        // end and reads what was written before it, so the FIN is queued
        // behind that data before the call returns.
        if how != Shutdown::Read {
            if let Ok(ep) = self.endpoints.get(sock) {
                ep.shut_app_write();
            }
        }
        // The program reads EOF (SHUT_RD) or its data is in the stack
        // (SHUT_WR) as soon as the call returns.
        self.endpoints.wake(h, &mut self.stack, t, &self.epoll);
        r.map(|_| Response::Ok)
    }

    /// getsockopt: SO_ERROR first reports an error the endpoint holds.
    fn req_getopt(
        &mut self,
        sock: SockRef,
        name: SockOptName,
        t: Instant,
    ) -> Result<Response, Errno> {
        let ep = self.endpoints.get(sock)?;
        let h = ep.handle;
        match (name, ep.error.take()) {
            (SockOptName::Error, Some(e)) => Ok(Response::Opt(SockOptValue::Int(e.code()))),
            _ => self.stack.getsockopt_at(t, h, name).map(Response::Opt),
        }
    }

    /// connect(AF_UNSPEC) and the end of a failed connect: a TCP socket
    /// gets a fresh socketpair (the old one closes with whatever either side
    /// left in it); UDP keeps its socketpair and the datagrams queued in it
    /// (udp_disconnect() purges nothing).
    fn req_disconnect(&mut self, sock: SockRef, t: Instant) -> Reply {
        let r = handle_of(&mut self.endpoints, sock)
            .and_then(|h| self.stack.disconnect(t, h).map(|e| (h, e)));
        match r {
            Ok((h, _)) if !self.stack.is_stream(h) => Reply::Now(Response::Ok),
            Ok((_, error)) => match self.endpoints.renew(sock, error, &self.epoll) {
                Ok(fd) => Reply::WithFd(Response::Ok, fd),
                Err(e) => Reply::Now(err(e)),
            },
            Err(e) => Reply::Now(err(e)),
        }
    }

    /// The pending error: the endpoint's own, else the stack's SO_ERROR.
    fn req_take_error(&mut self, sock: SockRef) -> Result<Response, Errno> {
        let ep = self.endpoints.get(sock)?;
        let h = ep.handle;
        match ep.error.take() {
            Some(e) => Ok(Response::Errno(e.code())),
            None => match self.stack.getsockopt(h, SockOptName::Error) {
                Ok(SockOptValue::Int(code)) => Ok(Response::Errno(code)),
                Ok(_) => Ok(Response::Errno(0)),
                Err(e) => Err(e),
            },
        }
    }

    /// connect()'s result once the handshake is over: 0 or its error, once.
    pub(super) fn connect_outcome(&mut self, sock: SockRef) -> Response {
        let Ok(ep) = self.endpoints.get(sock) else {
            return err(Errno::EBADF);
        };
        let h = ep.handle;
        ep.connecting = false;
        let dst = match self.stack.peer_addr(h) {
            Ok(a) => a,
            Err(_) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        };
        let r = match self.stack.connect(now(), h, dst) {
            Ok(()) | Err(Errno::EISCONN) => Response::Ok,
            Err(e) => err(e),
        };
        self.endpoints.wake(h, &mut self.stack, now(), &self.epoll);
        r
    }
}
