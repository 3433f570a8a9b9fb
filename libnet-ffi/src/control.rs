//! libnet's channel to netd: one control connection per process, shared by
//! threads under a mutex and reopened after fork() (the child must not
//! share a stream with its parent). Replies to `Socket` and `Accept` carry a
//! descriptor in SCM_RIGHTS. Here too are the small requests the calls
//! share: `simple` (success or an errno) and the pending errors the data
//! calls fetch.
//!
//! A control call never waits for ever on a wedged or overloaded netd: the
//! connect and each reply have `NETD_TIMEOUT` seconds (default 30, 0 for no
//! limit), then the call fails with ETIMEDOUT. Only WaitConnect, a blocking
//! connect()'s own connection, waits as long as the handshake takes.

use netd_proto::codec;
use netd_proto::{Request, Response, SockRef, DEFAULT_CONTROL_PATH, PROTOCOL_VERSION};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::{ErrorKind, IoSliceMut, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a control call may wait: `NETD_TIMEOUT` seconds (0: no
/// limit), 30 by default, as long as netctl waits.
fn call_timeout() -> Option<Duration> {
    let secs = std::env::var("NETD_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(30);
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Connect to the control socket, waiting at most `limit` for room in its
/// backlog (a blocking connect() to a unix socket whose listener is not
/// accepting waits for ever; a non-blocking one says EAGAIN).
fn connect(path: &str, limit: Option<Duration>) -> Result<UnixStream, i32> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let addr = UnixAddr::new(path).map_err(|e| e as i32)?;
    let deadline = limit.map(|l| Instant::now() + l);
    let mut pause = Duration::from_millis(1);
    loop {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| e as i32)?;
        match nix::sys::socket::connect(fd.as_raw_fd(), &addr) {
            Ok(()) => {
                let stream = UnixStream::from(fd);
                stream.set_nonblocking(false).map_err(|e| io_errno(&e))?;
                return Ok(stream);
            }
            Err(nix::errno::Errno::EAGAIN) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(libc::ETIMEDOUT);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e as i32),
        }
    }
}

/// The control socket: `NETD_SOCKET`, else /run/netd/netd.sock.
pub fn control_path() -> String {
    std::env::var("NETD_SOCKET").unwrap_or_else(|_| DEFAULT_CONTROL_PATH.to_string())
}

pub struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    fds: Vec<OwnedFd>,
}

fn io_errno(e: &std::io::Error) -> i32 {
    match e.kind() {
        ErrorKind::NotFound => libc::ENOENT,
        ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
        ErrorKind::PermissionDenied => libc::EACCES,
        ErrorKind::BrokenPipe => libc::EPIPE,
        ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof => libc::ECONNRESET,
        _ => e.raw_os_error().unwrap_or(libc::EIO),
    }
}

impl Conn {
    /// Connect and greet; the errno a socket call should fail with otherwise
    /// (ENOENT or ECONNREFUSED when netd is not there).
    /// A connection netd refused (out of descriptors: ENFILE; the uid past
    /// `netd.control_clients_per_uid`: EMFILE) fails with netd's errno.
    pub fn open() -> Result<Conn, i32> {
        let limit = call_timeout();
        let stream = connect(&control_path(), limit)?;
        stream.set_read_timeout(limit).map_err(|e| io_errno(&e))?;
        let mut c = Conn {
            stream,
            inbuf: Vec::new(),
            fds: Vec::new(),
        };
        match c.call(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: "libnet".into(),
        })? {
            (Response::Hello { .. }, _) => Ok(c),
            (Response::Error { errno, .. }, _) => Err(errno),
            _ => Err(libc::EPROTO),
        }
    }

    /// Wait for replies as long as they take (a blocking connect()'s
    /// WaitConnect, which lasts the handshake).
    pub fn wait_forever(&self) -> Result<(), i32> {
        self.stream.set_read_timeout(None).map_err(|e| io_errno(&e))
    }

    /// One request, one response (and the descriptor it carried, if any).
    pub fn call(&mut self, req: &Request) -> Result<(Response, Option<OwnedFd>), i32> {
        let mut frame = Vec::new();
        codec::encode(req, &mut frame).map_err(|_| libc::EMSGSIZE)?;
        // If netd closed the connection it may have said why first: an
        // error frame read after a failed write is the answer.
        let wrote = self.stream.write_all(&frame).map_err(|e| io_errno(&e));
        loop {
            match codec::decode::<Response>(&mut self.inbuf) {
                Ok(Some(resp)) => return Ok((resp, self.fds.pop())),
                Ok(None) => {}
                Err(_) => return Err(libc::EPROTO),
            }
            let mut buf = [0u8; 65536];
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (n, fds) = match msg {
                Ok(m) => {
                    let mut fds = Vec::new();
                    if let Ok(cmsgs) = m.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmRights(raw) = c {
                                for fd in raw {
                                    // SAFETY: the kernel just installed this descriptor for us.
                                    fds.push(unsafe {
                                        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
                                    });
                                }
                            }
                        }
                    }
                    (m.bytes, fds)
                }
                Err(e) => {
                    wrote?;
                    return Err(match e {
                        // SO_RCVTIMEO ran out: netd did not answer in time.
                        nix::errno::Errno::EAGAIN => libc::ETIMEDOUT,
                        e => e as i32,
                    });
                }
            };
            if n == 0 {
                wrote?;
                return Err(libc::ECONNRESET);
            }
            self.fds.extend(fds);
            self.inbuf.extend_from_slice(&buf[..n]);
        }
    }
}

static SHARED: Mutex<Option<(u32, Conn)>> = Mutex::new(None);

/// A request on the process's shared connection. A broken connection is
/// dropped, so the next call tries afresh (netd restarted).
pub fn request(req: &Request) -> Result<(Response, Option<OwnedFd>), i32> {
    let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if guard.as_ref().is_none_or(|(owner, _)| *owner != pid) {
        *guard = Some((pid, Conn::open()?));
    }
    let Some((_, conn)) = guard.as_mut() else {
        return Err(libc::ECONNREFUSED);
    };
    let r = conn.call(req);
    if r.is_err() {
        // Mid-conversation failure (even EINTR) leaves a reply in flight:
        // start over on a new connection next time.
        *guard = None;
    }
    r
}

/// A control request whose answer is just success or an errno.
pub fn simple(req: Request) -> Result<Response, i32> {
    match request(&req)? {
        (Response::Error { errno, .. }, _) => Err(errno),
        (r, _) => Ok(r),
    }
}

/// The pending socket error netd holds (0 if none). If netd itself is
/// gone, the connection died with it: ECONNRESET, never a quiet EOF.
pub fn take_error(sock: SockRef) -> i32 {
    match request(&Request::TakeError { sock }) {
        Ok((Response::Errno(e), _)) => e,
        Ok(_) => 0,
        Err(_) => libc::ECONNRESET,
    }
}

/// The error a recv() at end of stream reports: none once the peer's FIN
/// arrived (`Request::TakeRecvError`); ECONNRESET if netd is gone.
pub fn take_recv_error(sock: SockRef) -> i32 {
    match request(&Request::TakeRecvError { sock }) {
        Ok((Response::Errno(e), _)) => e,
        Ok(_) => 0,
        Err(_) => libc::ECONNRESET,
    }
}
