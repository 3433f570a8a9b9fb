//! Output formatting for netctl, written to match iproute2 (`ss`, `nstat`),
//! net-tools (`netstat`) and procps (`sysctl`) byte for byte where the
//! reference captures say how they look.

use netd_proto::{Counter, SockInfo, TcpInfo, WireAddr};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Format a timer's remaining time as `ss -o` does (`print_ms_timer()` in
/// iproute2's misc/ss.c): minutes drop the seconds above 9 minutes, seconds
/// above 9 drop the milliseconds, and a bare millisecond count is `%03dms`.
pub fn ss_timer(ms: u64) -> String {
    let mut out = String::new();
    let mut rest = ms;
    let secs = rest / 1000;
    let minutes = secs / 60;
    let s = secs % 60;
    rest %= 1000;
    if minutes > 0 {
        out.push_str(&format!("{minutes}min"));
        if minutes > 9 {
            return out;
        }
    }
    if s > 0 || (minutes == 0 && secs > 0) {
        out.push_str(&format!("{s}"));
        if s > 9 || rest == 0 {
            out.push_str("sec");
            return out;
        }
        out.push('.');
    } else if minutes > 0 {
        return out;
    }
    if rest > 0 || !out.is_empty() {
        out.push_str(&format!("{rest:03}ms"));
    }
    out
}

/// `ss` state names by Linux state number.
pub fn ss_state(state: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `netstat` state names by Linux state number.
pub fn netstat_state(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// The state filter keywords `ss` accepts, as sets of state numbers
/// (`scan_state()` in misc/ss.c).
pub fn ss_state_set(name: &str) -> Option<Vec<u8>> {
    let all: Vec<u8> = (1..=11).collect();
    Some(match name.to_ascii_lowercase().as_str() {
        "established" => vec![1],
        "syn-sent" => vec![2],
        "syn-recv" | "syn-rcv" => vec![3],
        "fin-wait-1" => vec![4],
        "fin-wait-2" => vec![5],
        "time-wait" => vec![6],
        "closed" | "close" => vec![7],
        "close-wait" => vec![8],
        "last-ack" => vec![9],
        "listening" | "listen" => vec![10],
        "closing" => vec![11],
        "all" => all,
        "connected" => all.into_iter().filter(|s| *s != 10 && *s != 7).collect(),
        "synchronized" => all
            .into_iter()
            .filter(|s| ![10, 7, 2].contains(s))
            .collect(),
        "bucket" => vec![3, 6],
        "big" => all.into_iter().filter(|s| *s != 3 && *s != 6).collect(),
        _ => return None,
    })
}

fn ip(a: &WireAddr) -> Ipv4Addr {
    Ipv4Addr::from(a.ip)
}

/// Options of one `ss` rendering.
#[derive(Clone, Debug, Default)]
pub struct SsView {
    pub netid: bool,
    pub state: bool,
    pub header: bool,
    pub timers: bool,
    pub processes: bool,
    pub info: bool,
    pub details: bool,
    /// Port names by (protocol, port), empty with -n.
    pub services: std::collections::HashMap<(String, u16), String>,
}

/// /etc/services as ss consults it: port names per protocol, except ports in
/// the ephemeral range (`is_ephemeral()`), which are never named.
pub fn parse_services(
    text: &str,
    ephemeral: (u16, u16),
) -> std::collections::HashMap<(String, u16), String> {
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let (Some(name), Some(pp)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if (ephemeral.0..=ephemeral.1).contains(&port) {
            continue;
        }
        out.entry((proto.to_string(), port))
            .or_insert_with(|| name.to_string());
    }
    out
}

/// One `ss` column: alignment, the delimiter printed before it (not before
/// the first column of a line) and its cells, header first when shown.
struct Column {
    right: bool,
    ldelim: &'static str,
    cells: Vec<String>,
}

/// Render rows as `ss` does. `screen` is the terminal width when stdout is a
/// tty: the spare width of the line is spread evenly over the columns, the
/// remainder one column at a time from the right (`render_calc_width()`);
/// without one, every column is as wide as its widest cell.
pub fn render_ss(rows: &[SockInfo], view: &SsView) -> String {
    render_ss_width(rows, view, None)
}

pub fn render_ss_width(rows: &[SockInfo], view: &SsView, screen: Option<usize>) -> String {
    let port = |a: &WireAddr, listening: bool, proto: &str| {
        if a.port == 0 && (listening || ip(a).is_unspecified()) {
            "*".to_string()
        } else {
            view.services
                .get(&(proto.to_string(), a.port))
                .cloned()
                .unwrap_or_else(|| a.port.to_string())
        }
    };
    let col = |right: bool, ldelim: &'static str, head: &str| Column {
        right,
        ldelim,
        cells: if view.header {
            vec![head.to_string()]
        } else {
            Vec::new()
        },
    };
    let mut cols: Vec<Column> = Vec::new();
    if view.netid {
        cols.push(col(false, " ", "Netid"));
    }
    if view.state {
        cols.push(col(false, " ", "State"));
    }
    cols.push(col(false, " ", "Recv-Q"));
    cols.push(col(false, " ", "Send-Q"));
    cols.push(col(true, " ", "Local Address:"));
    cols.push(col(false, "", "Port"));
    cols.push(col(true, " ", "Peer Address:"));
    cols.push(col(false, "", "Port"));
    cols.push(col(false, "", "Process"));
    for r in rows {
        let listening = r.state == 10 || r.state == 7;
        let mut extra = String::new();
        if view.processes && !r.users.is_empty() {
            let us: Vec<String> = r
                .users
                .iter()
                .map(|(c, pid, fd)| format!("(\"{c}\",pid={pid},fd={fd})"))
                .collect();
            extra.push_str(&format!(" users:({})", us.join(",")));
        }
        if let (Some((name, ms, n)), true) = (&r.timer, view.timers) {
            extra.push_str(&format!(" timer:({name},{},{n})", ss_timer(*ms)));
        }
        if view.details {
            // sock_details_print(): uid only when non-zero, then inode and socket id.
            if r.uid != 0 {
                extra.push_str(&format!(" uid:{}", r.uid));
            }
            extra.push_str(&format!(" ino:{} sk:{:x}", r.ino, r.sk));
        }
        let mut cells = Vec::new();
        if view.netid {
            cells.push(r.proto.clone());
        }
        if view.state {
            cells.push(ss_state(r.state).to_string());
        }
        // Queues are printed "%-6d", so they are at least six wide.
        cells.push(format!("{:<6}", r.recv_q));
        cells.push(format!("{:<6}", r.send_q));
        cells.push(format!("{}:", ip(&r.local)));
        cells.push(port(&r.local, false, &r.proto));
        cells.push(format!("{}:", ip(&r.peer)));
        cells.push(port(&r.peer, listening, &r.proto));
        cells.push(extra);
        for (c, v) in cols.iter_mut().zip(cells) {
            c.cells.push(v);
        }
    }
    // First pass: content width, plus the delimiter for all but the first column.
    let mut widths: Vec<usize> = Vec::new();
    let mut first = true;
    for c in &cols {
        let max = c.cells.iter().map(|v| v.chars().count()).max().unwrap_or(0);
        let w = if !first && max > 0 {
            max + c.ldelim.len()
        } else {
            max
        };
        if w > 0 {
            first = false;
        }
        widths.push(w);
    }
    // Second pass (a terminal only): spread the spare width over the line.
    if let Some(screen) = screen {
        let used: Vec<usize> = (0..cols.len()).filter(|&i| widths[i] > 0).collect();
        let len: usize = used.iter().map(|&i| widths[i]).sum();
        if len < screen && !used.is_empty() {
            let pad = screen - len;
            let (spacing, mut rem) = (pad / used.len(), pad % used.len());
            for &i in used.iter().rev() {
                widths[i] += spacing;
                if rem > 0 {
                    widths[i] += 1;
                    rem -= 1;
                }
            }
        }
    }
    let nrows = cols.first().map_or(0, |c| c.cells.len());
    let mut out = String::new();
    for row in 0..nrows {
        let mut line = String::new();
        let mut started = false;
        for (c, &w) in cols.iter().zip(&widths) {
            if w == 0 {
                continue;
            }
            let mut printed = 0;
            if started {
                line.push_str(c.ldelim);
                printed = c.ldelim.len();
            }
            started = true;
            let v = &c.cells[row];
            let n = v.chars().count();
            if c.right {
                line.push_str(&" ".repeat(w.saturating_sub(n + printed)));
                line.push_str(v);
            } else {
                line.push_str(v);
                line.push_str(&" ".repeat(w.saturating_sub(n + printed)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        let data_row = if view.header {
            row.checked_sub(1)
        } else {
            Some(row)
        };
        if let Some(i) = data_row
            .and_then(|i| rows.get(i))
            .and_then(|r| r.info.as_ref())
            .filter(|_| view.info)
        {
            out.push_str(&ss_info_line(i, view.timers));
            out.push('\n');
        }
    }
    out
}

/// C's `%g`: six significant digits, trailing zeros dropped.
pub fn fmt_g(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = 6 - (v.abs().log10().floor() as i32 + 1);
    let s = format!("{:.*}", digits.max(0) as usize, v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The `ss -i` line (`tcp_stats_print()` order; zero fields left out).
/// With `-o`, the option flags lead.
pub fn ss_info_line(i: &TcpInfo, with_flags: bool) -> String {
    let ms = |us: u64| fmt_g(us as f64 / 1000.0);
    let mut t: Vec<String> = Vec::new();
    if with_flags {
        if i.timestamps {
            t.push("ts".into());
        }
        if i.sack {
            t.push("sack".into());
        }
    }
    t.push(i.congestion.clone());
    if let Some((s, r)) = i.wscale {
        t.push(format!("wscale:{s},{r}"));
    }
    if i.rto_us != 3_000_000 {
        t.push(format!("rto:{}", ms(i.rto_us)));
    }
    if i.rtt_us != 0 {
        t.push(format!("rtt:{}/{}", ms(i.rtt_us), ms(i.rttvar_us)));
    }
    if i.ato_us != 0 {
        t.push(format!("ato:{}", ms(i.ato_us)));
    }
    t.push(format!("mss:{}", i.snd_mss));
    t.push(format!("pmtu:{}", i.pmtu));
    t.push(format!("rcvmss:{}", i.rcv_mss));
    t.push(format!("advmss:{}", i.advmss));
    t.push(format!("cwnd:{}", i.cwnd));
    if let Some(ss) = i.ssthresh.filter(|s| *s < 0xffff) {
        t.push(format!("ssthresh:{ss}"));
    }
    for (name, v) in [
        ("bytes_acked", i.bytes_acked),
        ("bytes_received", i.bytes_received),
        ("segs_out", i.segs_out),
        ("segs_in", i.segs_in),
        ("data_segs_out", i.data_segs_out),
        ("data_segs_in", i.data_segs_in),
    ] {
        if v != 0 {
            t.push(format!("{name}:{v}"));
        }
    }
    if i.rtt_us != 0 {
        let bps = f64::from(i.cwnd) * f64::from(i.snd_mss) * 8.0 / (i.rtt_us as f64 / 1e6);
        t.push(format!("send {bps:.0}bps"));
    }
    t.push(format!("lastsnd:{}", i.last_data_sent_ms));
    t.push(format!("lastrcv:{}", i.last_data_recv_ms));
    t.push(format!("lastack:{}", i.last_ack_recv_ms));
    if i.total_retrans != 0 {
        t.push(format!("retrans:{}/{}", i.retrans, i.total_retrans));
    }
    if i.rcv_rtt_us != 0 {
        t.push(format!("rcv_rtt:{}", ms(i.rcv_rtt_us)));
    }
    if i.rcv_space != 0 {
        t.push(format!("rcv_space:{}", i.rcv_space));
    }
    if i.min_rtt_us != 0 {
        t.push(format!("minrtt:{}", ms(i.min_rtt_us)));
    }
    if i.snd_wnd != 0 {
        t.push(format!("snd_wnd:{}", i.snd_wnd));
    }
    format!("\t {}", t.join(" "))
}

/// `ss -s`: the TCP line and the transport table.
pub fn render_ss_summary(rows: &[SockInfo]) -> String {
    let tcp: Vec<&SockInfo> = rows.iter().filter(|r| r.proto == "tcp").collect();
    let udp = rows.iter().filter(|r| r.proto == "udp").count();
    let estab = tcp.iter().filter(|r| r.state == 1 || r.state == 8).count();
    let tw = tcp.iter().filter(|r| r.state == 6).count();
    let total = tcp.len() + udp;
    let mut out = format!("Total: {total}\n");
    out.push_str(&format!(
        "TCP:   {} (estab {estab}, closed 0, orphaned 0, timewait {tw})\n\n",
        tcp.len()
    ));
    out.push_str("Transport Total     IP        IPv6\n");
    out.push_str(&format!("RAW\t  {:<9} {:<9} {:<9}\n", 0, 0, 0));
    out.push_str(&format!("UDP\t  {:<9} {:<9} {:<9}\n", udp, udp, 0));
    out.push_str(&format!(
        "TCP\t  {:<9} {:<9} {:<9}\n",
        tcp.len() - tw,
        tcp.len() - tw,
        0
    ));
    out.push_str(&format!(
        "INET\t  {:<9} {:<9} {:<9}\n",
        total - tw,
        total - tw,
        0
    ));
    out.push_str(&format!("FRAG\t  {:<9} {:<9} {:<9}\n", 0, 0, 0));
    out
}

/// The classic `netstat -tan` table (net-tools `printf("%-4s  %6ld %6ld %-23s %-23s %-11s")`).
/// LISTEN rows show Send-Q 0, as /proc/net/tcp does.
pub fn render_netstat(rows: &[SockInfo], title: &str) -> String {
    let mut out = format!("Active Internet connections ({title})\n");
    out.push_str(
        "Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n",
    );
    for r in rows {
        let local = format!("{}:{}", ip(&r.local), r.local.port);
        let peer = if r.peer.port == 0 {
            format!("{}:*", ip(&r.peer))
        } else {
            format!("{}:{}", ip(&r.peer), r.peer.port)
        };
        let send = if r.state == 10 { 0 } else { r.send_q };
        let state = if r.proto == "udp" {
            ""
        } else {
            netstat_state(r.state)
        };
        let line = format!(
            "{:<4}  {:>6} {:>6} {:<23} {:<23} {:<11}",
            r.proto, r.recv_q, send, local, peer, state
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// net-tools' sentences for the counters netd keeps (statistics.c); `number`
/// entries print even when zero.
fn sentence(section: &str, name: &str) -> Option<(&'static str, bool)> {
    Some(match (section, name) {
        ("Ip", "InReceives") => ("%d total packets received", true),
        ("Ip", "InHdrErrors") => ("%d with invalid headers", false),
        ("Ip", "InAddrErrors") => ("%d with invalid addresses", false),
        ("Ip", "InUnknownProtos") => ("%d with unknown protocol", false),
        ("Ip", "InDiscards") => ("%d incoming packets discarded", true),
        ("Ip", "InDelivers") => ("%d incoming packets delivered", true),
        ("Ip", "OutRequests") => ("%d requests sent out", true),
        ("Ip", "OutDiscards") => ("%d outgoing packets dropped", false),
        ("Ip", "ReasmTimeout") => ("%d fragments dropped after timeout", false),
        ("Ip", "ReasmReqds") => ("%d reassemblies required", false),
        ("Ip", "ReasmOKs") => ("%d packets reassembled ok", false),
        ("Ip", "ReasmFails") => ("%d packet reassemblies failed", false),
        ("Ip", "FragOKs") => ("%d fragments received ok", false),
        ("Ip", "FragFails") => ("%d fragments failed", false),
        ("Ip", "FragCreates") => ("%d fragments created", false),
        ("Icmp", "InMsgs") => ("%d ICMP messages received", true),
        ("Icmp", "InErrors") => ("%d input ICMP message failed", true),
        ("Icmp", "OutMsgs") => ("%d ICMP messages sent", true),
        ("Icmp", "OutErrors") => ("%d ICMP messages failed", true),
        ("Tcp", "ActiveOpens") => ("%d active connection openings", true),
        ("Tcp", "PassiveOpens") => ("%d passive connection openings", true),
        ("Tcp", "AttemptFails") => ("%d failed connection attempts", true),
        ("Tcp", "EstabResets") => ("%d connection resets received", true),
        ("Tcp", "CurrEstab") => ("%d connections established", true),
        ("Tcp", "InSegs") => ("%d segments received", true),
        ("Tcp", "OutSegs") => ("%d segments sent out", true),
        ("Tcp", "RetransSegs") => ("%d segments retransmitted", true),
        ("Tcp", "InErrs") => ("%d bad segments received", true),
        ("Tcp", "OutRsts") => ("%d resets sent", true),
        ("Udp", "InDatagrams") => ("%d packets received", true),
        ("Udp", "NoPorts") => ("%d packets to unknown port received", true),
        ("Udp", "InErrors") => ("%d packet receive errors", true),
        ("Udp", "OutDatagrams") => ("%d packets sent", true),
        ("Udp", "RcvbufErrors") => ("%d receive buffer errors", true),
        ("Udp", "SndbufErrors") => ("%d send buffer errors", true),
        ("TcpExt", "SyncookiesSent") => ("%d SYN cookies sent", false),
        ("TcpExt", "SyncookiesRecv") => ("%d SYN cookies received", false),
        ("TcpExt", "SyncookiesFailed") => ("%d invalid SYN cookies received", false),
        ("TcpExt", "EmbryonicRsts") => ("%d resets received for embryonic SYN_RECV sockets", false),
        ("TcpExt", "TW") => ("%d TCP sockets finished time wait in fast timer", false),
        ("TcpExt", "TWRecycled") => ("%d time wait sockets recycled by time stamp", false),
        ("TcpExt", "PAWSEstab") => (
            "%d packets rejected in established connections because of timestamp",
            false,
        ),
        ("TcpExt", "DelayedACKs") => ("%d delayed acks sent", false),
        ("TcpExt", "DelayedACKLost") => ("Quick ack mode was activated %d times", false),
        ("TcpExt", "ListenOverflows") => {
            ("%d times the listen queue of a socket overflowed", false)
        }
        ("TcpExt", "ListenDrops") => ("%d SYNs to LISTEN sockets dropped", false),
        ("TcpExt", "TCPPureAcks") => (
            "%d acknowledgments not containing data payload received",
            false,
        ),
        ("TcpExt", "TCPRenoRecovery") => (
            "%d times recovered from packet loss due to fast retransmit",
            false,
        ),
        ("TcpExt", "TCPFastRetrans") => ("%d fast retransmits", false),
        ("TcpExt", "TCPSlowStartRetrans") => ("%d retransmits in slow start", false),
        ("TcpExt", "TCPAbortOnData") => ("%d connections reset due to unexpected data", false),
        ("TcpExt", "TCPAbortOnClose") => ("%d connections reset due to early user close", false),
        ("TcpExt", "TCPAbortOnMemory") => ("%d connections aborted due to memory pressure", false),
        ("TcpExt", "TCPAbortOnTimeout") => ("%d connections aborted due to timeout", false),
        ("TcpExt", "TCPAbortOnLinger") => (
            "%d connections aborted after user close in linger timeout",
            false,
        ),
        _ => return None,
    })
}

/// ICMP per-type counters go in net-tools' input/output histograms.
fn histogram(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "InDestUnreachs" => ("input", "destination unreachable"),
        "InTimeExcds" => ("input", "timeout in transit"),
        "InEchos" => ("input", "echo requests"),
        "InEchoReps" => ("input", "echo replies"),
        "OutDestUnreachs" => ("output", "destination unreachable"),
        "OutEchos" => ("output", "echo requests"),
        "OutEchoReps" => ("output", "echo replies"),
        _ => return None,
    })
}

/// `netstat -s` for the sections netd has.
pub fn render_netstat_s(counters: &[Counter]) -> String {
    let mut sections: BTreeMap<usize, (&str, Vec<&Counter>)> = BTreeMap::new();
    let order = ["Ip", "Icmp", "Tcp", "Udp", "TcpExt", "IpExt"];
    for c in counters {
        if let Some(i) = order.iter().position(|s| *s == c.section) {
            sections
                .entry(i)
                .or_insert((order[i], Vec::new()))
                .1
                .push(c);
        }
    }
    let mut out = String::new();
    for (_, (name, cs)) in sections {
        out.push_str(&format!("{name}:\n"));
        for c in cs {
            match (c.section.as_str(), c.name.as_str()) {
                ("Ip", "Forwarding") => out.push_str(&format!("    Forwarding: {}\n", c.value)),
                ("Icmp", n) if histogram(n).is_some() => {
                    if let Some((dir, label)) = histogram(n) {
                        if c.value != 0 {
                            let head = format!("    ICMP {dir} histogram:\n");
                            if !out.ends_with(&head) && !out.contains(&head) {
                                out.push_str(&head);
                            }
                            out.push_str(&format!("        {label}: {}\n", c.value));
                        }
                    }
                }
                ("Ip", "DefaultTTL")
                | ("Tcp", "RtoAlgorithm" | "RtoMin" | "RtoMax" | "MaxConn") => {}
                (s, n) => match sentence(s, n) {
                    Some((text, always)) if always || c.value != 0 => {
                        out.push_str(&format!(
                            "    {}\n",
                            text.replace("%d", &c.value.to_string())
                        ));
                    }
                    Some(_) => {}
                    None if c.value != 0 => out.push_str(&format!("    {}: {}\n", c.name, c.value)),
                    None => {}
                },
            }
        }
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_timer_matches_captured_ss_output() {
        // Values and renderings from ss-netstat.md §2.4.
        assert_eq!(ss_timer(6276), "6.276ms");
        assert_eq!(ss_timer(57_000), "57sec");
        assert_eq!(ss_timer(591_000), "9min51sec");
        assert_eq!(ss_timer(600_000), "10min");
        assert_eq!(ss_timer(200), "200ms");
        assert_eq!(ss_timer(10_500), "10sec");
        assert_eq!(ss_timer(0), "");
    }

    fn info(state: u8, local: ([u8; 4], u16), peer: ([u8; 4], u16), q: (u64, u64)) -> SockInfo {
        let addr = |(ip, port): ([u8; 4], u16)| WireAddr { ip, port };
        SockInfo {
            recv_q: q.0,
            send_q: q.1,
            ..SockInfo::row("tcp", state, addr(local), addr(peer))
        }
    }

    #[test]
    fn ss_lnt_layout_matches_the_captured_output() {
        // ss-netstat.md §2.2, first two rows.
        let rows = vec![
            info(10, ([127, 0, 0, 1], 8080), ([0; 4], 0), (2, 1)),
            info(10, ([0, 0, 0, 0], 9090), ([0; 4], 0), (0, 128)),
        ];
        let view = SsView {
            netid: false,
            state: true,
            header: true,
            ..SsView::default()
        };
        let want = "State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n\
                    LISTEN 2      1          127.0.0.1:8080      0.0.0.0:*\n\
                    LISTEN 0      128          0.0.0.0:9090      0.0.0.0:*\n";
        assert_eq!(render_ss(&rows, &view), want);
    }

    #[test]
    fn ss_single_state_drops_the_state_column() {
        // ss-netstat.md §2.5.
        let rows = vec![
            info(6, ([127, 0, 0, 1], 34824), ([127, 0, 0, 1], 7071), (0, 0)),
            info(6, ([127, 0, 0, 1], 55880), ([127, 0, 0, 1], 9090), (0, 0)),
        ];
        let view = SsView {
            netid: false,
            state: false,
            header: true,
            ..SsView::default()
        };
        let want = "Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n\
                    0      0          127.0.0.1:34824    127.0.0.1:7071\n\
                    0      0          127.0.0.1:55880    127.0.0.1:9090\n";
        assert_eq!(render_ss(&rows, &view), want);
    }

    #[test]
    fn on_a_terminal_spare_width_is_spread_over_the_columns() {
        // ss-netstat.md §4.5: the same listeners rendered on a 100-column terminal.
        let rows = vec![
            info(10, ([127, 0, 0, 1], 8080), ([0; 4], 0), (2, 1)),
            info(10, ([0, 0, 0, 0], 9090), ([0; 4], 0), (0, 128)),
        ];
        let view = SsView {
            header: true,
            ..SsView::default()
        };
        let out = render_ss_width(&rows, &view, Some(100));
        let want = "Recv-Q       Send-Q             Local Address:Port             Peer Address:Port      Process\n\
                    2            1                      127.0.0.1:8080                  0.0.0.0:*\n\
                    0            128                      0.0.0.0:9090                  0.0.0.0:*\n";
        assert_eq!(out, want);
    }

    #[test]
    fn ports_are_named_from_services_except_ephemeral_ones() {
        let names = parse_services(
            "http-alt\t8080/tcp\twebcache  # WWW caching\nfoo 40000/tcp\nhttp 80/tcp www\n",
            (32768, 60999),
        );
        assert_eq!(
            names.get(&("tcp".to_string(), 8080)).map(String::as_str),
            Some("http-alt")
        );
        assert!(
            !names.contains_key(&("tcp".to_string(), 40000)),
            "ephemeral ports keep their numbers"
        );
        let rows = vec![info(10, ([127, 0, 0, 1], 8080), ([0; 4], 0), (2, 1))];
        let view = SsView {
            state: true,
            header: false,
            services: names,
            ..SsView::default()
        };
        assert_eq!(
            render_ss(&rows, &view),
            "LISTEN 2      1      127.0.0.1:http-alt 0.0.0.0:*\n"
        );
    }

    #[test]
    fn netstat_rows_use_net_tools_widths_and_names() {
        let rows = vec![info(10, ([127, 0, 0, 1], 8080), ([0; 4], 0), (2, 1))];
        let out = render_netstat(&rows, "servers and established");
        assert_eq!(
            out.lines().nth(2).unwrap(),
            "tcp        2      0 127.0.0.1:8080          0.0.0.0:*               LISTEN"
        );
    }

    #[test]
    fn netstat_s_uses_sentences_and_raw_names() {
        let c = |s: &str, n: &str, v: i64| Counter {
            section: s.into(),
            name: n.into(),
            value: v,
        };
        let out = render_netstat_s(&[
            c("Tcp", "ActiveOpens", 27),
            c("Tcp", "InErrs", 0),
            c("TcpExt", "ListenOverflows", 3),
            c("TcpExt", "TCPTimeouts", 42),
            c("TcpExt", "TCPSynRetrans", 0),
        ]);
        assert_eq!(
            out,
            "Tcp:\n    27 active connection openings\n    0 bad segments received\nTcpExt:\n    3 times the listen queue of a socket overflowed\n    TCPTimeouts: 42\n"
        );
    }

    #[test]
    fn g_format_matches_c() {
        assert_eq!(fmt_g(204.0), "204");
        assert_eq!(fmt_g(0.013), "0.013");
        assert_eq!(fmt_g(26112.0), "26112");
        assert_eq!(fmt_g(0.0135), "0.0135");
    }

    #[test]
    fn info_line_follows_ss_order() {
        let i = TcpInfo {
            timestamps: true,
            sack: true,
            congestion: "reno".into(),
            wscale: Some((7, 7)),
            rto_us: 204_000,
            rtt_us: 13,
            rttvar_us: 6,
            snd_mss: 1448,
            rcv_mss: 536,
            advmss: 1460,
            pmtu: 1500,
            cwnd: 10,
            bytes_acked: 1001,
            segs_out: 3,
            segs_in: 2,
            snd_wnd: 70656,
            rcv_rtt_us: 500,
            rcv_space: 65495,
            min_rtt_us: 11,
            ..TcpInfo::default()
        };
        let line = ss_info_line(&i, true);
        assert!(line.starts_with("\t ts sack reno wscale:7,7 rto:204 rtt:0.013/0.006 mss:1448 pmtu:1500 rcvmss:536 advmss:1460 cwnd:10 bytes_acked:1001 segs_out:3 segs_in:2 send "), "{line}");
        assert!(
            line.ends_with("lastack:0 rcv_rtt:0.5 rcv_space:65495 minrtt:0.011 snd_wnd:70656"),
            "{line}"
        );
        assert!(
            !ss_info_line(&i, false).contains(" ts "),
            "flags only with -o"
        );
    }

    #[test]
    fn nstat_line_layout() {
        assert_eq!(
            nstat_line("TcpActiveOpens", 27),
            "TcpActiveOpens                  27                 0.0"
        );
        assert!(glob("TcpExt*", "TcpExtListenOverflows") && !glob("Ip*", "TcpInSegs"));
    }

    #[test]
    fn state_keywords_follow_ss() {
        assert_eq!(ss_state_set("time-wait"), Some(vec![6]));
        assert_eq!(ss_state_set("bucket"), Some(vec![3, 6]));
        assert_eq!(ss_state_set("connected").unwrap().len(), 9);
        assert_eq!(ss_state_set("nonsense"), None);
    }
}
