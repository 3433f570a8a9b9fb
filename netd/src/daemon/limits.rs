//! What netd does at its limits: its own descriptor limit raised at start,
//! a reserve descriptor so a control connection can be answered even at
//! EMFILE, per-uid shares (`netd.control_clients_per_uid`,
//! `netd.sockets_per_uid`), log lines at most once an interval, and the
//! daemon's counters (section `Netd` in `netctl nstat` / `netstat -s`).

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Raise RLIMIT_NOFILE's soft limit to its hard limit: every libnet socket
/// and control connection is a descriptor of netd's. Returns (before,
/// after); `after` is the limit netd runs with.
pub fn raise_nofile() -> (u64, u64) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (0, 0);
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return (soft, hard);
    }
    (soft, soft)
}

/// The default of `netd.sockets_per_uid`: three quarters of the descriptor
/// limit, so one uid cannot take what every other uid's sockets and the
/// control connections need.
pub fn default_sockets_per_uid(nofile: u64) -> i64 {
    i64::try_from(nofile / 4 * 3).unwrap_or(i64::MAX)
}

/// One descriptor held back (`/dev/null`), given up for a moment when
/// accept() fails with EMFILE so the connection can be taken, told why and
/// closed, instead of staying in the backlog to wake the loop for ever (the
/// answer of Linux accept() users such as nginx and libuv).
pub struct Reserve(Option<OwnedFd>);

impl Reserve {
    pub fn new() -> Reserve {
        let mut r = Reserve(None);
        r.take();
        r
    }

    /// Close the reserve: one descriptor is free.
    pub fn release(&mut self) {
        self.0 = None;
    }

    /// Hold the reserve again (if a descriptor is free).
    pub fn take(&mut self) {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok().map(OwnedFd::from);
        }
    }
}

/// A log line at most once per `every`, saying how many were held back.
pub struct RateLog {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLog {
    pub const fn new(every: Duration) -> RateLog {
        RateLog {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Write `line()` to stderr unless a line went out less than `every` ago.
    pub fn log(&mut self, now: Instant, line: impl FnOnce() -> String) {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return;
        }
        let held = std::mem::take(&mut self.suppressed);
        if held > 0 {
            eprintln!("netd: {} ({held} more since the last such line)", line());
        } else {
            eprintln!("netd: {}", line());
        }
        self.last = Some(now);
    }
}

/// How often a limit's log line may repeat.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The daemon's own counters about control connections; those about
/// sockets are kept by `sockets::Endpoints` (`sockets_refused`: socket()
/// refused past the uid's share or for want of a descriptor;
/// `accept_stalls`: times a listener found no descriptor for a queued
/// connection, which waits in the accept queue and is tried again).
#[derive(Default, Debug)]
pub struct DaemonMib {
    /// Control connections answered with an error and closed: netd out of
    /// descriptors, or the uid past `netd.control_clients_per_uid`.
    pub control_refused: u64,
    /// Control connections dropped for reading none of their replies.
    pub control_dropped: u64,
}

impl DaemonMib {
    /// Section `Netd` of the counters.
    pub fn lines(
        &self,
        sockets_refused: u64,
        accept_stalls: u64,
    ) -> [(&'static str, &'static str, i64); 4] {
        let v = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        [
            ("Netd", "ControlRefused", v(self.control_refused)),
            ("Netd", "ControlDropped", v(self.control_dropped)),
            ("Netd", "SocketsRefused", v(sockets_refused)),
            ("Netd", "AcceptStalls", v(accept_stalls)),
        ]
    }
}

/// Whether `used` has reached a per-uid `limit` (0: no limit).
pub fn at_limit(used: usize, limit: i64) -> bool {
    limit > 0 && i64::try_from(used).unwrap_or(i64::MAX) >= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_limit_is_no_limit() {
        assert!(!at_limit(1_000_000, 0));
        assert!(at_limit(3, 3));
        assert!(!at_limit(2, 3));
    }

    #[test]
    fn the_default_socket_share_is_three_quarters_of_the_descriptor_limit() {
        assert_eq!(default_sockets_per_uid(65536), 49152);
        assert_eq!(default_sockets_per_uid(20000), 15000);
    }

    #[test]
    fn rate_log_holds_back_repeats_within_the_interval() {
        let mut l = RateLog::new(Duration::from_secs(10));
        let t = Instant::now();
        let mut said = 0;
        l.log(t, || {
            said += 1;
            String::new()
        });
        l.log(t + Duration::from_secs(1), || {
            said += 1;
            String::new()
        });
        assert_eq!((said, l.suppressed), (1, 1));
        l.log(t + Duration::from_secs(11), || {
            said += 1;
            String::new()
        });
        assert_eq!((said, l.suppressed), (2, 0));
    }
}
