//! `nstat` as iproute2 prints it (misc/nstat.c): counter names, the
//! counters it never shows, its line format and its patterns.

use netd_proto::Counter;

/// nstat's names: the /proc prefix then the field (`TcpExtListenOverflows`).
pub fn nstat_name(c: &Counter) -> String {
    format!("{}{}", c.section, c.name)
}

/// Counters nstat never prints ("useless numbers" in misc/nstat.c).
pub fn nstat_useless(name: &str) -> bool {
    matches!(
        name,
        "IpForwarding"
            | "IpDefaultTTL"
            | "TcpRtoAlgorithm"
            | "TcpRtoMin"
            | "TcpRtoMax"
            | "TcpMaxConn"
            | "TcpCurrEstab"
    )
}

/// One nstat line: name in 32 columns, value in 16, rate `%6.1f`.
pub fn nstat_line(name: &str, value: i64) -> String {
    format!("{name:<32}{value:<16}{:>6.1}", 0.0)
}

/// A shell-style pattern as nstat takes them (`*` and `?`).
pub fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pat.as_bytes(), s.as_bytes())
}
