//! The daemon's side of control connections: admitting them (within
//! netd's descriptors and each uid's share), serving their requests in
//! turn, writing replies as fast as each client reads, and dropping the
//! ones that stop. `control.rs` is one connection; this is all of them.

use super::control::{self, Client};
use super::limits;
use super::{Daemon, Reply, TOKEN_LISTENER};
use netd_core::socket::{SockKey, SocketHandle};
use netd_proto::{codec, Response, DUMP_CHUNK};
use nix::sys::epoll::{EpollEvent, EpollFlags};
use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

/// A socket dump under way (`Request::Sockets`): the sockets there were when
/// it began, how far it has got, and who held each (`ss -p`).
pub(super) struct Dump {
    keys: Vec<SockKey>,
    next: usize,
    users: HashMap<SocketHandle, Vec<(String, i32, i32)>>,
}

impl Daemon {
    /// Take every waiting control connection. At EMFILE/ENFILE the reserve
    /// descriptor makes room for one at a time, each answered ENFILE and
    /// closed; if not even that works, the listener leaves epoll until the
    /// next reap tick rather than wake the loop for ever.
    pub(super) fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(nix::libc::EMFILE | nix::libc::ENFILE)
                    ) =>
                {
                    self.reserve.release();
                    // The connection closes at the end of this block, before
                    // the reserve is taken back.
                    let ok = match self.listener.accept() {
                        Ok((stream, _)) => {
                            refuse(
                                &stream,
                                nix::libc::ENFILE,
                                "netd is out of file descriptors",
                            );
                            true
                        }
                        Err(_) => false,
                    };
                    self.reserve.take();
                    self.mib.control_refused += 1;
                    let limit = self.nofile;
                    self.fd_log.log(std::time::Instant::now(), || {
                        format!(
                            "out of file descriptors (RLIMIT_NOFILE {limit}): control connections refused with ENFILE"
                        )
                    });
                    if !ok {
                        self.pause_listener();
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// A new control connection: into epoll, unless its uid already holds
    /// its share (`netd.control_clients_per_uid`), then answered EMFILE.
    fn admit(&mut self, stream: UnixStream) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let client = Client::new(stream);
        let uid = client.uid;
        let limit = self.stack.sysctl.control_clients_per_uid;
        let held = self.clients.values().filter(|c| c.uid == uid).count();
        if limits::at_limit(held, limit) {
            refuse(
                &client.stream,
                nix::libc::EMFILE,
                &format!("uid {uid} holds {held} control connections (netd.control_clients_per_uid = {limit})"),
            );
            self.mib.control_refused += 1;
            let pid = client.pid;
            self.share_log.log(std::time::Instant::now(), || {
                format!("refused a control connection of pid {pid} uid {uid}: it holds {held} (netd.control_clients_per_uid = {limit})")
            });
            return;
        }
        let token = self.next_client;
        self.next_client += 1;
        if self
            .epoll
            .add(
                client.stream.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, token),
            )
            .is_ok()
        {
            self.clients.insert(token, client);
        }
    }

    fn pause_listener(&mut self) {
        self.listener_paused = true;
        let _ = self.epoll.modify(
            self.listener.as_fd(),
            &mut EpollEvent::new(EpollFlags::empty(), TOKEN_LISTENER),
        );
    }

    /// Back into epoll after a pause (once a reap tick).
    pub(super) fn resume_listener(&mut self) {
        if std::mem::take(&mut self.listener_paused) {
            let _ = self.epoll.modify(
                self.listener.as_fd(),
                &mut EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_LISTENER),
            );
        }
    }

    pub(super) fn drop_client(&mut self, token: u64) {
        self.busy_clients.remove(&token);
        self.dumps.remove(&token);
        if let Some(c) = self.clients.remove(&token) {
            let _ = self.epoll.delete(c.stream.as_fd());
        }
    }

    pub(super) fn service_client(&mut self, token: u64, events: EpollFlags) {
        let Some(client) = self.clients.get_mut(&token) else {
            return;
        };
        if events.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            client.fill();
        }
        self.serve_client(token);
    }

    /// Serve a client's requests, at most `TURN_BUDGET` a turn and none
    /// while its unread replies pass `OUT_HIGH`, then write its replies. A
    /// client with requests left over is served again next turn.
    fn serve_client(&mut self, token: u64) {
        let mut budget = control::TURN_BUDGET;
        // A dump under way answers first: requests after it wait.
        while budget > 0 && !self.dumps.contains_key(&token) {
            let Some(client) = self.clients.get_mut(&token) else {
                return;
            };
            if client.backed_up() {
                break;
            }
            let Some(req) = client.next_request() else {
                break;
            };
            budget -= 1;
            if !client.greeted {
                if !client.greet(&req) {
                    break;
                }
                continue;
            }
            let uid = client.uid;
            let reply = self.handle(token, uid, req);
            if let Reply::Dump { processes } = reply {
                self.start_dump(token, processes);
                continue;
            }
            if let Some(client) = self.clients.get_mut(&token) {
                match reply {
                    Reply::Now(resp) => client.reply(&resp),
                    Reply::WithFd(resp, fd) => client.reply_with_fd(&resp, fd),
                    Reply::Later | Reply::Dump { .. } => {}
                }
            }
        }
        self.write_client(token);
    }

    /// A socket dump for `token`: the keys now, the rows as it reads them.
    fn start_dump(&mut self, token: u64, processes: bool) {
        let users = if processes {
            self.socket_users()
        } else {
            HashMap::new()
        };
        let keys = self.stack.socket_keys();
        self.dumps.insert(
            token,
            Dump {
                keys,
                next: 0,
                users,
            },
        );
    }

    /// Queue the next chunks of `token`'s dump while its unread replies are
    /// under half of `OUT_HIGH`: a dump of a million sockets holds netd to
    /// a few frames at a time, not the table's worth.
    fn continue_dump(&mut self, token: u64) {
        let now = super::now();
        while let (Some(d), Some(c)) = (self.dumps.get_mut(&token), self.clients.get_mut(&token)) {
            if c.queued() >= control::OUT_HIGH / 2 {
                return;
            }
            let end = (d.next + DUMP_CHUNK).min(d.keys.len());
            let mut rows = Vec::with_capacity(end - d.next);
            self.stack.socket_rows(&d.keys[d.next..end], now, &mut rows);
            d.next = end;
            for r in rows.iter_mut().filter(|r| r.sk != 0) {
                let h = SocketHandle(r.sk as u32);
                if let Some((uid, ino)) = self.endpoints.owner(h) {
                    r.uid = uid;
                    r.ino = ino;
                }
                r.users = d.users.get(&h).cloned().unwrap_or_default();
            }
            let last = end == d.keys.len();
            c.reply(&Response::SocketRows { rows, last });
            if last {
                self.dumps.remove(&token);
            }
        }
    }

    /// Write what a client is owed and set what its connection waits for:
    /// its requests (unless back-pressured, dumping or at EOF) and room for
    /// replies.
    pub(super) fn write_client(&mut self, token: u64) {
        let flushed = loop {
            self.continue_dump(token);
            let Some(client) = self.clients.get_mut(&token) else {
                return;
            };
            let flushed = client.flush();
            // All sent and a dump goes on: its next chunks fit now.
            if flushed != control::Flush::Done || !self.dumps.contains_key(&token) {
                break flushed;
            }
        };
        let dumping = self.dumps.contains_key(&token);
        let Some(client) = self.clients.get_mut(&token) else {
            return;
        };
        let finished =
            client.eof() && flushed == control::Flush::Done && !client.has_request() && !dumping;
        if flushed == control::Flush::Gone || finished {
            self.drop_client(token);
            return;
        }
        if client.has_request() && !client.backed_up() && !dumping {
            self.busy_clients.insert(token);
        } else {
            self.busy_clients.remove(&token);
        }
        let mut want = EpollFlags::empty();
        if !client.backed_up() && !client.eof() {
            want |= EpollFlags::EPOLLIN;
        }
        if client.wants_write() {
            want |= EpollFlags::EPOLLOUT;
        }
        let _ = self
            .epoll
            .modify(client.stream.as_fd(), &mut EpollEvent::new(want, token));
    }

    /// Clients whose requests were left over last turn (see `serve_client`).
    pub(super) fn serve_busy_clients(&mut self) {
        let busy: Vec<u64> = self.busy_clients.iter().copied().collect();
        for token in busy {
            self.serve_client(token);
        }
    }

    /// Drop clients that have read none of their replies for `STUCK_AFTER`:
    /// the descriptors and memory they hold are netd's, and they are saying
    /// nothing.
    pub(super) fn drop_stuck_clients(&mut self) {
        let now = std::time::Instant::now();
        let stuck: Vec<(u64, u32, i32, usize)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.stuck(now))
            .map(|(t, c)| (*t, c.uid, c.pid, c.queued()))
            .collect();
        for (token, uid, pid, queued) in stuck {
            eprintln!(
                "netd: dropped control client pid {pid} uid {uid}: it read none of {queued} bytes of replies for {} s",
                control::STUCK_AFTER.as_secs()
            );
            self.mib.control_dropped += 1;
            self.drop_client(token);
        }
    }
}

/// Answer a connection netd will not serve with one error frame, the reason
/// in words (what netctl prints; libnet returns the errno), best effort: the
/// socket is non-blocking and closed when the caller drops it.
fn refuse(stream: &UnixStream, errno: i32, message: &str) {
    let mut frame = Vec::new();
    let resp = Response::Error {
        errno,
        message: message.into(),
    };
    if codec::encode(&resp, &mut frame).is_ok() {
        let _ = stream.set_nonblocking(true);
        let _ = (&*stream).write(&frame);
    }
}
