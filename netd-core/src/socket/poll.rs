//! Readiness and the state the daemon moves bytes by: poll(2)'s events as
//! `tcp_poll()`/`udp_poll()` compute them, and what a libnet socket's pump
//! asks before reading or writing.

use super::Kind;
use crate::sock::{PollEvents, SocketHandle};
use crate::stack::Stack;
use netd_proto::Errno;

impl Stack {
    /// Readiness as Linux's `tcp_poll()` / `udp_poll()` compute it.
    pub fn poll_events(&self, h: SocketHandle) -> Result<PollEvents, Errno> {
        match self.kind(h)? {
            Kind::Udp => self.udp.get(h).map(|u| u.poll()),
            Kind::Tcp => self.tcp.poll(h, self.sysctl.tcp_wmem[2]),
        }
        .ok_or(Errno::EBADF)
    }

    /// Whether TCP socket `h` holds an error not yet reported (`sk_err`).
    pub fn has_error(&self, h: SocketHandle) -> bool {
        self.tcb(h).is_some_and(|t| t.error.is_some())
    }

    /// Whether the peer's FIN arrived on TCP socket `h` (Linux's SOCK_DONE).
    pub fn fin_received(&self, h: SocketHandle) -> bool {
        self.tcb(h).is_some_and(|t| t.fin_received)
    }

    /// Whether `h` is a TCP socket (false for UDP and for no socket).
    pub fn is_stream(&self, h: SocketHandle) -> bool {
        self.tcp.get(h).is_some()
    }

    /// Free send-buffer space of a connected TCP socket (0 if none).
    pub fn send_space(&self, h: SocketHandle) -> usize {
        let wmem_max = self.sysctl.tcp_wmem[2];
        self.tcb(h).map_or(0, |t| t.app_send_space(wmem_max))
    }
}
