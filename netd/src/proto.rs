//! The control protocol spoken over netd's Unix socket by netctl and libnet.
//! A client's first frame is `Hello` with `PROTOCOL_VERSION`; anything else,
//! or another version, gets an `Error` and the connection is closed.

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

/// Where netd listens unless told otherwise (`--control`, `NETD_SOCKET`).
pub const DEFAULT_CONTROL_PATH: &str = "/run/netd/netd.sock";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Hello {
        version: u32,
        client: String,
    },
    /// One tunable's value, as `sysctl NAME` prints it.
    SysctlGet {
        name: String,
    },
    /// Change a tunable (uid 0 only, checked from SO_PEERCRED).
    SysctlSet {
        name: String,
        value: String,
    },
    /// Every tunable, sorted.
    SysctlAll,
    /// Every counter, per MIB section.
    Counters,
    /// Reload the `--sysctl-file`s (as SIGHUP does); uid 0 only.
    Reload,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// `Ip`, `Icmp`, `Tcp`, `Udp`, `TcpExt`, `IpExt`.
    pub section: String,
    pub name: String,
    pub value: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Hello {
        version: u32,
        server: String,
    },
    Ok,
    Value(String),
    Sysctl(Vec<(String, String)>),
    Counters(Vec<Counter>),
    /// A failure with the errno Linux would give and a human sentence.
    Error {
        errno: i32,
        message: String,
    },
}
