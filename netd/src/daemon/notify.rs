//! The systemd notify protocol, written directly (sd_notify(3) "Notes"): one
//! datagram of newline-separated KEY=VALUE lines to `$NOTIFY_SOCKET`, a path
//! or an abstract name after `@`. Unset means "not supervised". Send errors
//! never stop the daemon, and a send never waits.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    target: Option<SocketAddr>,
    /// Half of WATCHDOG_USEC, when the watchdog is for us.
    pub watchdog_every: Option<Duration>,
}

impl Notifier {
    /// Read `NOTIFY_SOCKET` and `WATCHDOG_*`, then remove them so children do not inherit them.
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET").ok().and_then(|v| {
            if let Some(name) = v.strip_prefix('@') {
                SocketAddr::from_abstract_name(name.as_bytes()).ok()
            } else if v.starts_with('/') {
                SocketAddr::from_pathname(&v).ok()
            } else {
                None
            }
        });
        let pid_ok = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|_| pid_ok)
            .map(|us| Duration::from_micros(us / 2));
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            std::env::remove_var(k);
        }
        Notifier {
            target,
            watchdog_every,
        }
    }

    /// Never blocks: a supervisor that does not read (its queue full, at
    /// net.unix.max_dgram_qlen) loses the message, and the loop goes on.
    pub fn send(&self, msg: &str) {
        let Some(addr) = &self.target else { return };
        if let Ok(sock) = UnixDatagram::unbound() {
            if sock.set_nonblocking(true).is_ok() {
                let _ = sock.send_to_addr(msg.as_bytes(), addr);
            }
        }
    }
}
