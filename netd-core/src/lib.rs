//! netd's stack core: a Linux-style TCP/IP stack, sans-I/O.
//!
//! Every entry point takes the current time; nothing here makes a syscall,
//! reads a clock or starts a thread (the crate depends on nothing that
//! could). Packets come in through [`Stack::receive`], go out through
//! [`Stack::poll_transmit`], and timers run when the caller calls
//! [`Stack::poll`] at or after [`Stack::next_deadline`]. The [`sim`] module
//! drives several stacks over a virtual link in virtual time.

pub mod icmp;
pub mod ip;
pub mod mib;
pub mod sim;
pub mod socket;
pub mod stack;
pub mod sysctl;
pub mod tcp;
pub mod time;
pub mod udp;
pub mod wire;

pub use netd_proto::Errno;
pub use socket::{PollEvents, Shutdown, SockOpt, SockType, SocketHandle};
pub use stack::{Stack, StackConfig};
pub use time::Instant;
