//! netd: a Linux-style TCP/IP stack in user space.
//!
//! The library is the sans-I/O core: every entry point takes the current
//! time, nothing here makes a syscall, reads a clock or starts a thread.
//! Packets come in through [`Stack::receive`], go out through
//! [`Stack::poll_transmit`], and timers run when the caller calls
//! [`Stack::poll`] at or after [`Stack::next_deadline`]. The [`sim`] module
//! drives several stacks over a virtual link in virtual time.

pub mod codec;
pub mod daemon;
pub mod errno;
pub mod icmp;
pub mod ip;
pub mod mib;
pub mod proto;
pub mod sim;
pub mod socket;
pub mod stack;
pub mod sysctl;
pub mod sysctl_conf;
pub mod tcp;
pub mod time;
pub mod udp;
pub mod wire;

pub use errno::Errno;
pub use socket::{PollEvents, Shutdown, SockOpt, SockType, SocketHandle};
pub use stack::{Stack, StackConfig};
pub use time::Instant;
