//! Tunables under their Linux names, with Linux's types, defaults and ranges
//! (Documentation/networking/ip-sysctl.rst; validation as in `proc_dou8vec_minmax`,
//! `proc_dointvec_minmax`, `proc_dointvec_jiffies`). The stack reads the typed
//! fields directly, at use time, so a change reaches the next connection or timer.

use netd_proto::Errno;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctl {
    /// µs netd's event loop keeps polling after a turn with work, before
    /// it sleeps (the daemon's, not the stack's: see `daemon::Daemon::wait`).
    pub busy_poll: i64,
    pub ip_default_ttl: i64,
    pub ip_local_port_range: [i64; 2],
    pub ipfrag_time: i64,
    pub ipfrag_high_thresh: i64,
    pub icmp_echo_ignore_all: i64,
    pub icmp_ratelimit: i64,
    pub icmp_ratemask: i64,
    pub icmp_msgs_per_sec: i64,
    pub icmp_msgs_burst: i64,
    pub somaxconn: i64,
    pub rmem_max: i64,
    pub wmem_max: i64,
    pub rmem_default: i64,
    pub wmem_default: i64,
    pub tcp_abort_on_overflow: i64,
    pub tcp_challenge_ack_limit: i64,
    pub tcp_congestion_control: String,
    pub tcp_dsack: i64,
    pub tcp_early_retrans: i64,
    pub tcp_frto: i64,
    pub tcp_max_reordering: i64,
    pub tcp_min_tso_segs: i64,
    pub tcp_pacing_ca_ratio: i64,
    pub tcp_pacing_ss_ratio: i64,
    pub tcp_recovery: i64,
    pub tcp_reordering: i64,
    pub tcp_fastopen: i64,
    pub tcp_fin_timeout: i64,
    pub tcp_invalid_ratelimit: i64,
    pub tcp_keepalive_intvl: i64,
    pub tcp_keepalive_probes: i64,
    pub tcp_keepalive_time: i64,
    pub tcp_max_syn_backlog: i64,
    pub tcp_max_tw_buckets: i64,
    pub tcp_moderate_rcvbuf: i64,
    pub tcp_orphan_retries: i64,
    pub tcp_retries1: i64,
    pub tcp_retries2: i64,
    pub tcp_rfc1337: i64,
    pub tcp_rmem: [i64; 3],
    pub tcp_sack: i64,
    pub tcp_slow_start_after_idle: i64,
    pub tcp_syn_linear_timeouts: i64,
    pub tcp_syn_retries: i64,
    pub tcp_synack_retries: i64,
    pub tcp_syncookies: i64,
    pub tcp_timestamps: i64,
    pub tcp_tso_win_divisor: i64,
    pub tcp_tw_reuse: i64,
    pub tcp_tw_reuse_delay: i64,
    pub tcp_window_scaling: i64,
    pub tcp_wmem: [i64; 3],
    /// Control connections one uid may hold (the daemon's, not Linux's).
    pub control_clients_per_uid: i64,
    /// libnet sockets one uid may hold (the daemon's; RLIMIT_NOFILE's role).
    pub sockets_per_uid: i64,
}

impl Default for Sysctl {
    /// The values of a fresh Linux 6.12 network namespace (sysctl.md,
    /// "observed"), except where netd lacks the feature (tcp_fastopen).
    fn default() -> Self {
        Sysctl {
            busy_poll: 0,
            ip_default_ttl: 64,
            ip_local_port_range: [32768, 60999],
            ipfrag_time: 30,
            ipfrag_high_thresh: 4 * 1024 * 1024,
            icmp_echo_ignore_all: 0,
            icmp_ratelimit: 1000,
            icmp_ratemask: 6168,
            icmp_msgs_per_sec: 1000,
            icmp_msgs_burst: 50,
            somaxconn: 4096,
            rmem_max: 212_992,
            wmem_max: 212_992,
            rmem_default: 212_992,
            wmem_default: 212_992,
            tcp_abort_on_overflow: 0,
            tcp_challenge_ack_limit: i64::from(i32::MAX),
            tcp_congestion_control: "cubic".into(),
            tcp_dsack: 1,
            tcp_early_retrans: 3,
            tcp_frto: 2,
            tcp_max_reordering: 300,
            tcp_min_tso_segs: 2,
            tcp_pacing_ca_ratio: 120,
            tcp_pacing_ss_ratio: 200,
            tcp_recovery: 1,
            tcp_reordering: 3,
            // Not Linux's 1 (client enabled): netd has no Fast Open yet.
            tcp_fastopen: 0,
            tcp_fin_timeout: 60,
            tcp_invalid_ratelimit: 500,
            tcp_keepalive_intvl: 75,
            tcp_keepalive_probes: 9,
            tcp_keepalive_time: 7200,
            tcp_max_syn_backlog: 2048,
            tcp_max_tw_buckets: 131_072,
            tcp_moderate_rcvbuf: 1,
            tcp_orphan_retries: 0,
            tcp_retries1: 3,
            tcp_retries2: 15,
            tcp_rfc1337: 0,
            tcp_rmem: [4096, 131_072, 6 * 1024 * 1024],
            tcp_sack: 1,
            tcp_slow_start_after_idle: 1,
            tcp_syn_linear_timeouts: 4,
            tcp_syn_retries: 6,
            tcp_synack_retries: 5,
            tcp_syncookies: 1,
            tcp_timestamps: 1,
            tcp_tso_win_divisor: 3,
            tcp_tw_reuse: 2,
            tcp_tw_reuse_delay: 1000,
            tcp_window_scaling: 1,
            tcp_wmem: [4096, 16_384, 4 * 1024 * 1024],
            control_clients_per_uid: 1024,
            // The daemon sizes it from its descriptor limit at start.
            sockets_per_uid: 0,
        }
    }
}

/// Every tunable with its default value and what it does in netd, sorted
/// by name (netd(8)'s TUNABLES).
pub fn reference() -> Vec<(&'static str, String, &'static str)> {
    let defaults = Sysctl::default();
    let mut all: Vec<_> = TUNABLES
        .iter()
        .map(|t| (t.name, (t.get)(&defaults), t.description))
        .collect();
    all.sort_by_key(|(name, ..)| *name);
    all
}

/// The congestion-control algorithms this stack implements.
pub const AVAILABLE_CONGESTION_CONTROL: &[&str] = &["reno", "cubic"];

/// How a key is stored in Linux, which decides what a write may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `proc_dou8vec_minmax`: 0..=255 unless narrowed.
    U8 { min: i64, max: i64 },
    /// `proc_dointvec_minmax`: a 32-bit int, optionally bounded.
    Int { min: i64, max: i64 },
    /// A vector of ints written space-separated, read TAB-separated.
    Vector { len: usize, min: i64 },
    /// A string (congestion control name).
    Name,
    /// Read-only.
    ReadOnly,
}

pub struct Tunable {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    get: fn(&Sysctl) -> String,
    set: fn(&mut Sysctl, &[i64], &str),
}

const INT_MIN: i64 = i32::MIN as i64;
const INT_MAX: i64 = i32::MAX as i64;

macro_rules! scalar {
    ($name:literal, $field:ident, $kind:expr, $desc:literal) => {
        Tunable {
            name: $name,
            kind: $kind,
            description: $desc,
            get: |s| s.$field.to_string(),
            set: |s, v, _| s.$field = v[0],
        }
    };
}

macro_rules! vector {
    ($name:literal, $field:ident, $len:literal, $min:expr, $desc:literal) => {
        Tunable {
            name: $name,
            kind: Kind::Vector {
                len: $len,
                min: $min,
            },
            description: $desc,
            get: |s| {
                s.$field
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("\t")
            },
            set: |s, v, _| {
                for (dst, src) in s.$field.iter_mut().zip(v) {
                    *dst = *src;
                }
            },
        }
    };
}

const U8: Kind = Kind::U8 { min: 0, max: 255 };
const INT: Kind = Kind::Int {
    min: INT_MIN,
    max: INT_MAX,
};

/// Every tunable (`Sysctl::all()` lists them sorted, as `sysctl -a` does).
pub static TUNABLES: &[Tunable] = &[
    scalar!(
        "net.core.busy_poll",
        busy_poll,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Busy-poll timeout (us): how long netd's loop keeps polling for events before it sleeps."
    ),
    scalar!(
        "net.core.rmem_default",
        rmem_default,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "SO_RCVBUF of a socket that did not set it, other than TCP (bytes)."
    ),
    scalar!(
        "net.core.rmem_max",
        rmem_max,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Upper bound for SO_RCVBUF (bytes)."
    ),
    scalar!(
        "net.core.somaxconn",
        somaxconn,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Upper bound for the listen() backlog."
    ),
    scalar!(
        "net.core.wmem_default",
        wmem_default,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "SO_SNDBUF of a socket that did not set it, other than TCP (bytes)."
    ),
    scalar!(
        "net.core.wmem_max",
        wmem_max,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Upper bound for SO_SNDBUF (bytes)."
    ),
    scalar!(
        "net.ipv4.icmp_echo_ignore_all",
        icmp_echo_ignore_all,
        Kind::U8 { min: 0, max: 1 },
        "Do not answer ICMP echo requests."
    ),
    scalar!(
        "net.ipv4.icmp_msgs_burst",
        icmp_msgs_burst,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Burst of rate-limited ICMP messages the whole host may send."
    ),
    scalar!(
        "net.ipv4.icmp_msgs_per_sec",
        icmp_msgs_per_sec,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Rate-limited ICMP messages the whole host may send per second."
    ),
    scalar!(
        "net.ipv4.icmp_ratelimit",
        icmp_ratelimit,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Minimum ms between rate-limited ICMP messages to one destination (0: no limit)."
    ),
    scalar!(
        "net.ipv4.icmp_ratemask",
        icmp_ratemask,
        INT,
        "Bit mask of the ICMP types that are rate-limited (bit n: type n)."
    ),
    scalar!(
        "net.ipv4.ip_default_ttl",
        ip_default_ttl,
        Kind::U8 { min: 1, max: 255 },
        "TTL of locally generated IPv4 packets."
    ),
    vector!(
        "net.ipv4.ip_local_port_range",
        ip_local_port_range,
        2,
        1,
        "Ephemeral port range: low high."
    ),
    scalar!(
        "net.ipv4.ipfrag_high_thresh",
        ipfrag_high_thresh,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Memory for IPv4 fragment reassembly (bytes)."
    ),
    scalar!(
        "net.ipv4.ipfrag_time",
        ipfrag_time,
        INT,
        "Seconds an incomplete datagram is kept for reassembly."
    ),
    Tunable {
        name: "net.ipv4.tcp_available_congestion_control",
        kind: Kind::ReadOnly,
        description: "Congestion-control algorithms this stack implements.",
        get: |_| AVAILABLE_CONGESTION_CONTROL.join(" "),
        set: |_, _, _| {},
    },
    scalar!(
        "net.ipv4.tcp_abort_on_overflow",
        tcp_abort_on_overflow,
        U8,
        "Reset the client when the accept queue is full at the final ACK."
    ),
    scalar!(
        "net.ipv4.tcp_challenge_ack_limit",
        tcp_challenge_ack_limit,
        INT,
        "Challenge ACKs per second per namespace (RFC 5961)."
    ),
    Tunable {
        name: "net.ipv4.tcp_congestion_control",
        kind: Kind::Name,
        description: "Congestion control for new sockets.",
        get: |s| s.tcp_congestion_control.clone(),
        set: |s, _, name| s.tcp_congestion_control = name.to_string(),
    },
    scalar!(
        "net.ipv4.tcp_fastopen",
        tcp_fastopen,
        Kind::Int { min: 0, max: 0 },
        "TCP Fast Open (RFC 7413) is not implemented yet: 0, and only 0 may be written (Linux defaults to 1, client enabled)."
    ),
    scalar!(
        "net.ipv4.tcp_fin_timeout",
        tcp_fin_timeout,
        INT,
        "Lifetime of an orphaned FIN-WAIT-2 socket (seconds)."
    ),
    scalar!(
        "net.ipv4.tcp_invalid_ratelimit",
        tcp_invalid_ratelimit,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Minimum ms between duplicate ACKs for invalid segments."
    ),
    scalar!(
        "net.ipv4.tcp_keepalive_intvl",
        tcp_keepalive_intvl,
        INT,
        "Seconds between keepalive probes."
    ),
    scalar!(
        "net.ipv4.tcp_keepalive_probes",
        tcp_keepalive_probes,
        U8,
        "Unanswered keepalive probes before the connection is dropped."
    ),
    scalar!(
        "net.ipv4.tcp_keepalive_time",
        tcp_keepalive_time,
        INT,
        "Idle seconds before the first keepalive probe."
    ),
    scalar!(
        "net.ipv4.tcp_max_syn_backlog",
        tcp_max_syn_backlog,
        INT,
        "Half-open requests kept when syncookies are off."
    ),
    scalar!(
        "net.ipv4.tcp_max_tw_buckets",
        tcp_max_tw_buckets,
        INT,
        "Maximum number of TIME-WAIT sockets."
    ),
    scalar!(
        "net.ipv4.tcp_moderate_rcvbuf",
        tcp_moderate_rcvbuf,
        U8,
        "Grow each receive buffer with its flow, up to tcp_rmem[2] (autotuning)."
    ),
    scalar!(
        "net.ipv4.tcp_orphan_retries",
        tcp_orphan_retries,
        U8,
        "Retries before an orphaned connection is dropped (0 means 8)."
    ),
    scalar!(
        "net.ipv4.tcp_retries1",
        tcp_retries1,
        U8,
        "Retransmissions after which Linux re-checks the route and probes for a path-MTU black hole (tcp_write_timeout()); netd has one route, no path-MTU cache and no MTU probing, so nothing acts on it."
    ),
    scalar!(
        "net.ipv4.tcp_retries2",
        tcp_retries2,
        U8,
        "Retransmission budget, modelled as time, before an established connection is dropped."
    ),
    scalar!(
        "net.ipv4.tcp_rfc1337",
        tcp_rfc1337,
        U8,
        "Ignore RSTs in TIME-WAIT (RFC 1337)."
    ),
    vector!(
        "net.ipv4.tcp_rmem",
        tcp_rmem,
        3,
        1,
        "Receive buffer: min default max (bytes)."
    ),
    scalar!(
        "net.ipv4.tcp_dsack",
        tcp_dsack,
        U8,
        "Send D-SACK blocks for duplicate segments (RFC 2883)."
    ),
    scalar!(
        "net.ipv4.tcp_early_retrans",
        tcp_early_retrans,
        Kind::U8 { min: 0, max: 4 },
        "Tail loss probes: 3 or 4 on (RFC 8985 TLP, PTO = 2 SRTT), 0-2 off."
    ),
    scalar!(
        "net.ipv4.tcp_frto",
        tcp_frto,
        U8,
        "F-RTO (RFC 5682): detect spurious retransmission timeouts and undo them."
    ),
    scalar!(
        "net.ipv4.tcp_max_reordering",
        tcp_max_reordering,
        INT,
        "Largest reordering degree (packets) a connection may learn."
    ),
    scalar!(
        "net.ipv4.tcp_min_tso_segs",
        tcp_min_tso_segs,
        Kind::U8 { min: 1, max: 255 },
        "Fewest packets per TSO chunk (tcp_tso_autosize())."
    ),
    scalar!(
        "net.ipv4.tcp_pacing_ca_ratio",
        tcp_pacing_ca_ratio,
        Kind::Int { min: 0, max: 1000 },
        "Pacing rate in congestion avoidance, % of cwnd/srtt; sizes TSO chunks."
    ),
    scalar!(
        "net.ipv4.tcp_pacing_ss_ratio",
        tcp_pacing_ss_ratio,
        Kind::Int { min: 0, max: 1000 },
        "Pacing rate in slow start, % of cwnd/srtt; sizes TSO chunks."
    ),
    scalar!(
        "net.ipv4.tcp_recovery",
        tcp_recovery,
        INT,
        "Loss detection bits: 0x1 RACK (RFC 8985), 0x2 static reordering window, 0x4 no duplicate threshold."
    ),
    scalar!(
        "net.ipv4.tcp_reordering",
        tcp_reordering,
        INT,
        "Initial reordering degree: the duplicate-ACK threshold (packets)."
    ),
    scalar!(
        "net.ipv4.tcp_sack",
        tcp_sack,
        U8,
        "Offer and accept selective acknowledgements (RFC 2018)."
    ),
    scalar!(
        "net.ipv4.tcp_slow_start_after_idle",
        tcp_slow_start_after_idle,
        U8,
        "Restart from the initial window after an RTO of idleness (RFC 2861)."
    ),
    scalar!(
        "net.ipv4.tcp_syn_linear_timeouts",
        tcp_syn_linear_timeouts,
        Kind::U8 { min: 0, max: 127 },
        "SYN retransmissions at a constant 1 s before backoff."
    ),
    scalar!(
        "net.ipv4.tcp_syn_retries",
        tcp_syn_retries,
        Kind::U8 { min: 1, max: 127 },
        "SYN retransmissions before connect() fails."
    ),
    scalar!(
        "net.ipv4.tcp_synack_retries",
        tcp_synack_retries,
        U8,
        "SYN-ACK retransmissions before a half-open request is dropped."
    ),
    scalar!(
        "net.ipv4.tcp_syncookies",
        tcp_syncookies,
        U8,
        "SYN cookies: 0 off, 1 when the SYN queue is full, 2 always."
    ),
    scalar!(
        "net.ipv4.tcp_timestamps",
        tcp_timestamps,
        U8,
        "RFC 7323 timestamps: 0 off, 1 with random offset, 2 without."
    ),
    scalar!(
        "net.ipv4.tcp_tso_win_divisor",
        tcp_tso_win_divisor,
        U8,
        "TSO deferral: send a small chunk at once if it is at least 1/N of the window; 0: if it is over three MSS (tcp_tso_should_defer())."
    ),
    scalar!(
        "net.ipv4.tcp_tw_reuse",
        tcp_tw_reuse,
        Kind::U8 { min: 0, max: 2 },
        "Reuse TIME-WAIT 4-tuples on connect: 0 never, 1 always, 2 loopback only."
    ),
    scalar!(
        "net.ipv4.tcp_tw_reuse_delay",
        tcp_tw_reuse_delay,
        Kind::Int {
            min: 1,
            max: INT_MAX
        },
        "Milliseconds after the last timestamp before TIME-WAIT reuse."
    ),
    scalar!(
        "net.ipv4.tcp_window_scaling",
        tcp_window_scaling,
        U8,
        "Offer and accept window scaling (RFC 7323)."
    ),
    vector!(
        "net.ipv4.tcp_wmem",
        tcp_wmem,
        3,
        1,
        "Send buffer: min default max (bytes)."
    ),
    scalar!(
        "netd.control_clients_per_uid",
        control_clients_per_uid,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "Control connections one uid may hold open (netd's own; 0: no limit). Past it a new one is answered EMFILE and closed."
    ),
    scalar!(
        "netd.sockets_per_uid",
        sockets_per_uid,
        Kind::Int {
            min: 0,
            max: INT_MAX
        },
        "libnet sockets one uid may hold, accepted ones included (netd's own, in RLIMIT_NOFILE's role; 0: no limit). Past it socket() fails with EMFILE and connections wait in the accept queue. netd sets it to 3/4 of its descriptor limit at start, as Linux sizes tcp_max_orphans from memory at boot."
    ),
];

/// Why a write was refused; maps to the errno procps prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysctlError {
    /// No such key (`cannot stat /proc/sys/...: No such file or directory`).
    UnknownKey,
    /// Value rejected (`Invalid argument`).
    Invalid,
    /// Unknown congestion-control name (ENOENT, as Linux).
    NoSuchAlgorithm,
}

impl SysctlError {
    pub fn errno(self) -> Errno {
        match self {
            SysctlError::UnknownKey | SysctlError::NoSuchAlgorithm => Errno::ENOENT,
            SysctlError::Invalid => Errno::EINVAL,
        }
    }
}

/// Accept `/` separators as procps does.
fn normalise(name: &str) -> String {
    name.trim().replace('/', ".")
}

pub fn lookup(name: &str) -> Option<&'static Tunable> {
    let name = normalise(name);
    TUNABLES.iter().find(|t| t.name == name)
}

/// Parse one integer the way `proc_get_long()` does: optional sign, decimal or
/// `0x` hex; the token must end at whitespace or the end of input.
fn parse_int(token: &str) -> Option<i64> {
    let (neg, digits) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token.strip_prefix('+').unwrap_or(token)),
    };
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

impl Sysctl {
    pub fn get(&self, name: &str) -> Result<String, SysctlError> {
        lookup(name)
            .map(|t| (t.get)(self))
            .ok_or(SysctlError::UnknownKey)
    }

    /// Write `value` to `name` with Linux's validation; on error nothing changes.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        let t = lookup(name).ok_or(SysctlError::UnknownKey)?;
        let tokens: Vec<&str> = value.split_whitespace().collect();
        match t.kind {
            Kind::ReadOnly => return Err(SysctlError::Invalid),
            Kind::Name => {
                let name = tokens.first().ok_or(SysctlError::Invalid)?;
                if !AVAILABLE_CONGESTION_CONTROL.contains(name) {
                    return Err(SysctlError::NoSuchAlgorithm);
                }
                (t.set)(self, &[], name);
                return Ok(());
            }
            Kind::U8 { min, max } | Kind::Int { min, max } => {
                let v = tokens
                    .first()
                    .and_then(|s| parse_int(s))
                    .ok_or(SysctlError::Invalid)?;
                if v < min || v > max {
                    return Err(SysctlError::Invalid);
                }
                (t.set)(self, &[v], "");
            }
            Kind::Vector { len, min } => {
                let mut vals = Vec::with_capacity(len);
                for tok in tokens.iter().take(len) {
                    let v = parse_int(tok).ok_or(SysctlError::Invalid)?;
                    if v < min || v > INT_MAX {
                        return Err(SysctlError::Invalid);
                    }
                    vals.push(v);
                }
                if vals.is_empty() {
                    return Err(SysctlError::Invalid);
                }
                let mut next = self.clone();
                (t.set)(&mut next, &vals, "");
                if t.name == "net.ipv4.ip_local_port_range" {
                    // ipv4_local_port_range(): low <= high, within 1024..=65535 (unprivileged start).
                    let [lo, hi] = next.ip_local_port_range;
                    if hi < lo || lo < 1024 || hi > 65535 {
                        return Err(SysctlError::Invalid);
                    }
                }
                *self = next;
            }
        }
        Ok(())
    }

    /// Every key and its value, sorted, as `sysctl -a` prints them.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        let mut all: Vec<_> = TUNABLES.iter().map(|t| (t.name, (t.get)(self))).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_names_are_unique() {
        let names: Vec<_> = Sysctl::default()
            .all()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    /// Until Fast Open exists, the tunable says it is off and cannot be
    /// turned on: a program that reads it must not try MSG_FASTOPEN.
    #[test]
    fn tcp_fastopen_is_0_and_nothing_else_can_be_written() {
        let mut s = Sysctl::default();
        assert_eq!(s.get("net.ipv4.tcp_fastopen").unwrap(), "0");
        assert_eq!(s.set("net.ipv4.tcp_fastopen", "0"), Ok(()));
        for v in ["1", "3", "-1", "1027"] {
            assert_eq!(
                s.set("net.ipv4.tcp_fastopen", v),
                Err(SysctlError::Invalid),
                "{v}"
            );
        }
        assert_eq!(s.tcp_fastopen, 0);
    }

    #[test]
    fn every_tunable_has_a_reference_line() {
        let all = Sysctl::default().all();
        let reference = reference();
        assert_eq!(reference.len(), all.len());
        for ((name, default, description), (n, v)) in reference.iter().zip(&all) {
            assert_eq!((name, default), (n, v));
            assert!(description.ends_with('.'), "{name}: {description}");
        }
    }

    #[test]
    fn u8_key_rejects_256_and_keeps_old_value() {
        let mut s = Sysctl::default();
        assert_eq!(s.set("net.ipv4.tcp_sack", "256"), Err(SysctlError::Invalid));
        assert_eq!(s.get("net.ipv4.tcp_sack").unwrap(), "1");
        // Linux accepts any u8 for an unranged boolean (observed tcp_sack=7).
        s.set("net.ipv4.tcp_sack", "7").unwrap();
        assert_eq!(s.tcp_sack, 7);
    }

    #[test]
    fn ranged_keys_follow_linux_bounds() {
        let mut s = Sysctl::default();
        assert_eq!(
            s.set("net.ipv4.tcp_tw_reuse", "3"),
            Err(SysctlError::Invalid)
        );
        assert_eq!(
            s.set("net.ipv4.tcp_syn_retries", "0"),
            Err(SysctlError::Invalid)
        );
        assert_eq!(
            s.set("net.ipv4.ip_default_ttl", "0"),
            Err(SysctlError::Invalid)
        );
        assert_eq!(s.set("net.core.busy_poll", "-1"), Err(SysctlError::Invalid));
        s.set("net.core.busy_poll", "50").unwrap();
        assert_eq!(s.busy_poll, 50);
        s.set("net/ipv4/tcp_syn_retries", "0x3").unwrap();
        assert_eq!(s.tcp_syn_retries, 3);
        // proc_dointvec_jiffies has no range check: negative keepalive time is accepted.
        s.set("net.ipv4.tcp_keepalive_time", "-1").unwrap();
        assert_eq!(
            s.set("net.ipv4.tcp_fin_timeout", "30abc"),
            Err(SysctlError::Invalid)
        );
    }

    #[test]
    fn vectors_update_leading_elements_and_print_with_tabs() {
        let mut s = Sysctl::default();
        s.set("net.ipv4.tcp_rmem", "4096 87380").unwrap();
        assert_eq!(s.get("net.ipv4.tcp_rmem").unwrap(), "4096\t87380\t6291456");
        assert_eq!(
            s.set("net.ipv4.ip_local_port_range", "1023 2000"),
            Err(SysctlError::Invalid)
        );
        assert_eq!(
            s.set("net.ipv4.ip_local_port_range", "5000 4000"),
            Err(SysctlError::Invalid)
        );
        s.set("net.ipv4.ip_local_port_range", "1024 1024").unwrap();
        assert_eq!(s.ip_local_port_range, [1024, 1024]);
    }

    #[test]
    fn unknown_key_and_unknown_algorithm_are_enoent() {
        let mut s = Sysctl::default();
        assert_eq!(
            s.set("net.ipv4.tcp_tw_recycle", "1"),
            Err(SysctlError::UnknownKey)
        );
        assert_eq!(
            s.set("net.ipv4.tcp_congestion_control", "vegas")
                .map_err(SysctlError::errno),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            s.set("net.ipv4.tcp_available_congestion_control", "reno"),
            Err(SysctlError::Invalid)
        );
    }
}
