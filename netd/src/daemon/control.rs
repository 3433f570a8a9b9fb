//! Control connections: framing, the version handshake, credentials from
//! SO_PEERCRED, and one client's trouble never touching another's.

use netd_proto::codec::{self, CodecError};
use netd_proto::{Request, Response, PROTOCOL_VERSION};
use nix::sys::socket::{getsockopt, sendmsg, sockopt::PeerCredentials, ControlMessage, MsgFlags};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Unanswered output a client may pile up before it is dropped.
const MAX_OUTBUF: usize = 64 << 20;

pub struct Client {
    pub stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    pub greeted: bool,
    pub uid: u32,
    pub pid: i32,
    /// Close after flushing (bad frame, version mismatch).
    pub closing: bool,
}

pub enum ReadOutcome {
    Requests(Vec<Request>),
    Closed,
}

impl Client {
    pub fn new(stream: UnixStream) -> Client {
        let cred = getsockopt(&stream, PeerCredentials).ok();
        Client {
            stream,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            greeted: false,
            uid: cred.map_or(u32::MAX, |c| c.uid()),
            pid: cred.map_or(0, |c| c.pid()),
            closing: false,
        }
    }

    /// Read what is there and return the complete requests. A malformed or
    /// oversized frame gets an error reply and closes this client only.
    pub fn read(&mut self) -> ReadOutcome {
        let mut buf = [0u8; 16384];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Closed,
            }
        }
        let mut out = Vec::new();
        while !self.closing {
            match codec::decode::<Request>(&mut self.inbuf) {
                Ok(Some(req)) => out.push(req),
                Ok(None) => break,
                Err(e) => {
                    let errno = match e {
                        CodecError::TooLarge(_) => nix::libc::EMSGSIZE,
                        CodecError::Malformed(_) => nix::libc::EPROTO,
                    };
                    self.reply(&Response::Error {
                        errno,
                        message: e.to_string(),
                    });
                    self.closing = true;
                    self.inbuf.clear();
                }
            }
        }
        ReadOutcome::Requests(out)
    }

    /// Check the first frame is a Hello we understand.
    pub fn greet(&mut self, req: &Request) -> bool {
        match req {
            Request::Hello { version, .. } if *version == PROTOCOL_VERSION => {
                self.greeted = true;
                self.reply(&Response::Hello {
                    version: PROTOCOL_VERSION,
                    server: format!("netd {}", env!("CARGO_PKG_VERSION")),
                });
                true
            }
            Request::Hello { version, .. } => {
                self.reply(&Response::Error {
                    errno: nix::libc::EPROTONOSUPPORT,
                    message: format!(
                        "protocol version {version} not supported; netd speaks {PROTOCOL_VERSION}"
                    ),
                });
                self.closing = true;
                false
            }
            _ => {
                self.reply(&Response::Error {
                    errno: nix::libc::EPROTO,
                    message: "the first request must be Hello".into(),
                });
                self.closing = true;
                false
            }
        }
    }

    pub fn reply(&mut self, resp: &Response) {
        if codec::encode(resp, &mut self.outbuf).is_err() {
            let _ = codec::encode(
                &Response::Error {
                    errno: nix::libc::EMSGSIZE,
                    message: "reply too large".into(),
                },
                &mut self.outbuf,
            );
        }
        if self.outbuf.len() > MAX_OUTBUF {
            self.closing = true;
            self.outbuf.clear();
        }
    }

    /// A reply carrying a descriptor (SCM_RIGHTS on the frame's first byte).
    /// netd's copy is closed afterwards, so the program's end is the only one.
    pub fn reply_with_fd(&mut self, resp: &Response, fd: OwnedFd) {
        let mut frame = Vec::new();
        if codec::encode(resp, &mut frame).is_err() {
            return;
        }
        // Replies are answered in order: anything queued goes first.
        while !self.outbuf.is_empty() && self.flush() {
            if self.wants_write() {
                std::thread::yield_now();
            }
        }
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(&frame)];
        loop {
            match sendmsg::<()>(
                self.stream.as_raw_fd(),
                &iov,
                &cmsg,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(n) => {
                    self.outbuf.extend_from_slice(&frame[n..]);
                    return;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.closing = true;
                    return;
                }
            }
        }
    }

    /// Write buffered replies; false when the client is gone.
    pub fn flush(&mut self) -> bool {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        !self.closing
    }

    pub fn wants_write(&self) -> bool {
        !self.outbuf.is_empty()
    }
}
