//! netd's stack core: a Linux-style TCP/IP stack, sans-I/O.
//!
//! Every entry point takes the current time; nothing here makes a syscall,
//! reads a clock or starts a thread (the crate depends on nothing that
//! could). Packets come in through [`Stack::receive`], go out through
//! [`Stack::poll_transmit`], and timers run when the caller calls
//! [`Stack::poll`] at or after [`Stack::next_deadline`]. The [`sim`] module
//! drives several stacks over a virtual link in virtual time.
//!
//! The modules, lowest layer first (each imports only from layers below
//! it; ARCHITECTURE.md has the map):
//! - `time`, `timer`, `sock`, `sysctl`, `mib`, `wire`: vocabulary, parsing;
//! - `ip` (output, reassembly, segmentation), `icmp` (messages, rate
//!   limits), `inet` (addresses and the bind rules);
//! - `net`: what the protocols share in one stack;
//! - `udp`, `tcp`: the protocols, each owning its sockets and tables;
//! - `stack`: the namespace, IP input, ICMP error routing, timers;
//! - `socket`: the socket calls, as methods of [`Stack`].

pub mod icmp;
pub mod inet;
pub mod ip;
pub mod mib;
pub mod net;
pub mod sim;
pub mod sock;
pub mod socket;
pub mod stack;
pub mod sysctl;
pub mod tcp;
pub mod time;
pub mod timer;
pub mod udp;
pub mod wire;

pub use netd_proto::Errno;
pub use sock::{PollEvents, Shutdown, SockOpt, SockType, SocketHandle};
pub use stack::{Stack, StackConfig};
pub use time::Instant;
