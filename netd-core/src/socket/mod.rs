//! The socket layer (Linux `net/socket.c` and `af_inet.c`'s
//! `inet_stream_ops`/`inet_dgram_ops`): the calls a program makes, as
//! methods of [`Stack`]. Each checks what the socket layer checks (the
//! handle, the socket type, the arguments), then calls the protocol,
//! whose tables own the socket itself: [`crate::tcp::TcpTables`] or
//! [`crate::udp::UdpTable`]. A handle is valid while its protocol holds it
//! and the application has not closed it; a closed TCP socket lives on in
//! TCP's table as an orphan, as Linux's `struct sock` outlives its file.
//!
//! `calls` has the calls themselves, `opt` the options, `poll` readiness
//! and `diag` what `ss`, `netstat` and the tests read.

mod calls;
mod diag;
mod opt;
mod poll;

use crate::stack::Stack;
use netd_proto::Errno;

pub use diag::SockKey;

pub use crate::sock::{
    PollEvents, Shutdown, SockOpt, SockOptName, SockOptValue, SockOpts, SockType, SocketHandle,
};

/// Which protocol owns a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
}

impl Stack {
    /// The protocol of a socket the application holds; EBADF for a handle
    /// it never had or has closed.
    fn kind(&self, h: SocketHandle) -> Result<Kind, Errno> {
        if self.tcp.open(h).is_some() {
            Ok(Kind::Tcp)
        } else if self.udp.get(h).is_some() {
            Ok(Kind::Udp)
        } else {
            Err(Errno::EBADF)
        }
    }
}
