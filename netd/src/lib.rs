//! netd, the daemon: the only part of the stack that does I/O. It owns the
//! TUN device, runs one epoll loop with the real clock, feeds the sans-I/O
//! core (`netd_core`) and serves the control protocol (`netd_proto`).

pub mod daemon;
