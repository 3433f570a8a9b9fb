//! Control connections: framing, the version handshake, credentials from
//! SO_PEERCRED, and one client's trouble never touching another's.
//!
//! Every connection is non-blocking both ways. What netd holds for a client
//! is bounded: its input by one request frame (`codec::MAX_REQUEST`), its
//! unread replies by back-pressure (past `OUT_HIGH`, netd serves none of its
//! requests until it reads), and its share of a loop turn by `TURN_BUDGET`
//! requests. Replies go out in order from a queue of frames, a descriptor
//! riding on its frame's first byte, as fast as the client takes them; a
//! client that takes nothing for `STUCK_AFTER` is dropped, and says so.

use netd_proto::codec::{self, CodecError};
use netd_proto::{Request, Response, PROTOCOL_VERSION};
use nix::sys::socket::{getsockopt, sendmsg, sockopt::PeerCredentials, ControlMessage, MsgFlags};
use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Unread replies beyond which a client's requests wait (back-pressure).
pub const OUT_HIGH: usize = 1 << 20;
/// Requests served per client per loop turn.
pub const TURN_BUDGET: usize = 64;
/// A client that has read none of its replies for this long is dropped.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);
/// Bytes read from a client at a time.
const READ_CHUNK: usize = 16 << 10;

/// One reply on its way: its bytes, how many went, and the descriptor it
/// carries until its first byte is sent.
struct Frame {
    bytes: Vec<u8>,
    sent: usize,
    fd: Option<OwnedFd>,
}

pub struct Client {
    pub stream: UnixStream,
    inbuf: Vec<u8>,
    out: VecDeque<Frame>,
    out_bytes: usize,
    /// Since when replies have waited without the client taking any.
    stalled_since: Option<Instant>,
    /// The client closed its end (or it failed): serve nothing more.
    eof: bool,
    pub greeted: bool,
    pub uid: u32,
    pub pid: i32,
    /// Close after flushing (bad frame, version mismatch).
    pub closing: bool,
}

/// What writing replies came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything is sent.
    Done,
    /// The client has not taken it all yet: wait for EPOLLOUT.
    Pending,
    /// The client is gone, or is to be closed now.
    Gone,
}

impl Client {
    pub fn new(stream: UnixStream) -> Client {
        let cred = getsockopt(&stream, PeerCredentials).ok();
        Client {
            stream,
            inbuf: Vec::new(),
            out: VecDeque::new(),
            out_bytes: 0,
            stalled_since: None,
            eof: false,
            greeted: false,
            uid: cred.map_or(u32::MAX, |c| c.uid()),
            pid: cred.map_or(0, |c| c.pid()),
            closing: false,
        }
    }

    /// Read what the client sent, no more than a request frame beyond what
    /// is already held: a client that announces a huge frame, or pipelines
    /// many, costs netd one frame of memory, not what it sent.
    pub fn fill(&mut self) {
        let mut buf = [0u8; READ_CHUNK];
        while !self.eof && self.inbuf.len() < 4 + codec::MAX_REQUEST {
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => self.eof = true,
            }
        }
    }

    /// Whether the client has gone away (EOF or an error on read).
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Whether its requests must wait for it to read its replies.
    pub fn backed_up(&self) -> bool {
        self.out_bytes >= OUT_HIGH
    }

    /// The next complete request, if one is held. A malformed or oversized
    /// frame gets an error reply and closes this client only.
    /// Requests read before an EOF are still served (a client may send its
    /// requests and shut down its writing side).
    pub fn next_request(&mut self) -> Option<Request> {
        if self.closing {
            return None;
        }
        match codec::decode_limited::<Request>(&mut self.inbuf, codec::MAX_REQUEST) {
            Ok(r) => r,
            Err(e) => {
                let errno = match e {
                    CodecError::TooLarge { .. } => nix::libc::EMSGSIZE,
                    CodecError::Malformed(_) => nix::libc::EPROTO,
                };
                self.reply(&Response::Error {
                    errno,
                    message: e.to_string(),
                });
                self.closing = true;
                self.inbuf = Vec::new();
                None
            }
        }
    }

    /// Whether what was read holds a whole request (or a length prefix
    /// that is already an error): a partial frame waits for EPOLLIN, it
    /// must not keep the loop spinning.
    pub fn has_request(&self) -> bool {
        if self.closing {
            return false;
        }
        let Some(b) = self.inbuf.get(..4) else {
            return false;
        };
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        len > codec::MAX_REQUEST || self.inbuf.len() >= 4 + len
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

    fn push(&mut self, bytes: Vec<u8>, fd: Option<OwnedFd>) {
        if self.out.is_empty() {
            self.stalled_since = Some(Instant::now());
        }
        self.out_bytes += bytes.len();
        self.out.push_back(Frame { bytes, sent: 0, fd });
    }

    fn encode(resp: &Response) -> Vec<u8> {
        let mut frame = Vec::new();
        if codec::encode(resp, &mut frame).is_err() {
            frame.clear();
            let _ = codec::encode(
                &Response::Error {
                    errno: nix::libc::EMSGSIZE,
                    message: "reply too large".into(),
                },
                &mut frame,
            );
        }
        frame
    }

    pub fn reply(&mut self, resp: &Response) {
        self.push(Self::encode(resp), None);
    }

    /// A reply carrying a descriptor (SCM_RIGHTS on the frame's first byte).
    /// netd's copy is closed once it is sent, so the program's end is the
    /// only one.
    pub fn reply_with_fd(&mut self, resp: &Response, fd: OwnedFd) {
        self.push(Self::encode(resp), Some(fd));
    }

    /// Write queued replies, in order, as far as the client takes them.
    pub fn flush(&mut self) -> Flush {
        while let Some(f) = self.out.front_mut() {
            let iov = [IoSlice::new(&f.bytes[f.sent..])];
            let fds = f.fd.as_ref().map(|fd| [fd.as_raw_fd()]);
            let cmsg: Vec<ControlMessage> =
                fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
            let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
            match sendmsg::<()>(self.stream.as_raw_fd(), &iov, &cmsg, flags, None) {
                Ok(0) => return Flush::Gone,
                Ok(n) => {
                    // The descriptor went with the first byte; netd's copy closes.
                    f.fd = None;
                    f.sent += n;
                    self.out_bytes -= n;
                    self.stalled_since = Some(Instant::now());
                    if f.sent == f.bytes.len() {
                        self.out.pop_front();
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => return Flush::Pending,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Flush::Gone,
            }
        }
        self.stalled_since = None;
        if self.closing {
            Flush::Gone
        } else {
            Flush::Done
        }
    }

    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Replies have waited longer than `STUCK_AFTER` without the client
    /// taking a byte.
    pub fn stuck(&self, now: Instant) -> bool {
        self.stalled_since
            .is_some_and(|t| now.saturating_duration_since(t) >= STUCK_AFTER)
    }

    /// Bytes of replies queued.
    pub fn queued(&self) -> usize {
        self.out_bytes
    }
}
