//! The client half of the control protocol (netctl, tests; libnet's
//! control channel speaks the same frames). Blocking, one request at a time,
//! with errors that say what went wrong in operator terms.

use crate::codec;
use crate::{Errno, Request, Response, PROTOCOL_VERSION};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug)]
pub enum ClientError {
    /// The socket path does not exist: netd is not running, or the path is wrong.
    NoSocket(PathBuf),
    /// Something is there but nobody accepts (a stale socket file).
    Refused(PathBuf),
    /// No permission to connect (group `netctl`, mode 0660).
    Permission(PathBuf),
    /// netd answered but speaks another protocol, or broke the framing.
    Protocol(String),
    /// netd went away mid-conversation.
    Disconnected,
    /// netd answered the connection with an error and closed it: out of
    /// descriptors, or this uid holds its share of control connections.
    Turned(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NoSocket(p) => write!(f, "cannot reach netd at {}: no such socket (is netd running? is --control/NETD_SOCKET right?)", p.display()),
            ClientError::Refused(p) => write!(f, "cannot reach netd at {}: connection refused (netd is not running; the socket file is stale)", p.display()),
            ClientError::Permission(p) => write!(f, "cannot reach netd at {}: permission denied (ask to join the netctl group)", p.display()),
            ClientError::Protocol(m) => write!(f, "netd protocol error: {m}"),
            ClientError::Disconnected => write!(f, "netd closed the connection"),
            ClientError::Turned(m) => write!(f, "netd refused the connection: {m}"),
            ClientError::Io(e) => write!(f, "talking to netd: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

pub struct ControlClient {
    stream: UnixStream,
    inbuf: Vec<u8>,
    pub server: String,
}

impl ControlClient {
    /// Connect and complete the version handshake.
    pub fn connect(path: &Path, client: &str) -> Result<ControlClient, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => ClientError::NoSocket(path.into()),
            ErrorKind::ConnectionRefused => ClientError::Refused(path.into()),
            ErrorKind::PermissionDenied => ClientError::Permission(path.into()),
            _ => ClientError::Io(e),
        })?;
        // A wedged daemon must not hang the operator's shell forever.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut c = ControlClient {
            stream,
            inbuf: Vec::new(),
            server: String::new(),
        };
        match c.request(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: client.into(),
        })? {
            Response::Hello { version, server } if version == PROTOCOL_VERSION => {
                c.server = server;
                Ok(c)
            }
            Response::Hello { version, .. } => Err(ClientError::Protocol(format!(
                "netd speaks version {version}, this client {PROTOCOL_VERSION}"
            ))),
            Response::Error { errno, message }
                if errno == Errno::ENFILE.code() || errno == Errno::EMFILE.code() =>
            {
                Err(ClientError::Turned(message))
            }
            Response::Error { message, .. } => Err(ClientError::Protocol(message)),
            other => Err(ClientError::Protocol(format!(
                "unexpected greeting {other:?}"
            ))),
        }
    }

    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        let mut out = Vec::new();
        codec::encode(req, &mut out).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Err(e) = self.stream.write_all(&out) {
            // netd may have said why it closed: that answer first.
            return match (e.kind(), self.read_response()) {
                (_, Ok(r @ Response::Error { .. })) => Ok(r),
                (ErrorKind::BrokenPipe | ErrorKind::ConnectionReset, _) => {
                    Err(ClientError::Disconnected)
                }
                _ => Err(ClientError::Io(e)),
            };
        }
        self.read_response()
    }

    /// Every socket (`Request::Sockets`), gathered from its `SocketRows`.
    pub fn sockets(&mut self, processes: bool) -> Result<Vec<crate::SockInfo>, ClientError> {
        let mut all = Vec::new();
        let mut resp = self.request(&Request::Sockets { processes })?;
        loop {
            match resp {
                Response::SocketRows { rows, last } => {
                    all.extend(rows);
                    if last {
                        return Ok(all);
                    }
                }
                Response::Error { message, .. } => return Err(ClientError::Protocol(message)),
                other => return Err(ClientError::Protocol(format!("unexpected reply {other:?}"))),
            }
            resp = self.read_response()?;
        }
    }

    /// Send raw bytes (tests of malformed input).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(ClientError::Io)
    }

    pub fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut buf = [0u8; 65536];
        loop {
            match codec::decode::<Response>(&mut self.inbuf) {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(ClientError::Disconnected),
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(ClientError::Disconnected)
                }
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }
}
