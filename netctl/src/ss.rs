//! `ss` as iproute2 prints it (misc/ss.c): the socket table with its
//! columns and widths, timers, TCP_INFO lines, state names and filters, and
//! the summary.

use netd_proto::{SockInfo, SockStat, TcpInfo, WireAddr};
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
    let mut cols = columns(view);
    for r in rows {
        for (c, v) in cols.iter_mut().zip(cells(r, view)) {
            c.cells.push(v);
        }
    }
    let widths = widths(&cols, screen);
    let nrows = cols.first().map_or(0, |c| c.cells.len());
    let mut out = String::new();
    for row in 0..nrows {
        out.push_str(line(&cols, &widths, row).trim_end());
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

/// The columns a view shows, each with its header cell when shown.
fn columns(view: &SsView) -> Vec<Column> {
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
    cols
}

/// One socket's cells, in `columns()`'s order.
fn cells(r: &SockInfo, view: &SsView) -> Vec<String> {
    let port = |a: &WireAddr, listening: bool| {
        if a.port == 0 && (listening || ip(a).is_unspecified()) {
            "*".to_string()
        } else {
            view.services
                .get(&(r.proto.clone(), a.port))
                .cloned()
                .unwrap_or_else(|| a.port.to_string())
        }
    };
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
    cells.push(port(&r.local, false));
    cells.push(format!("{}:", ip(&r.peer)));
    cells.push(port(&r.peer, listening));
    cells.push(extra);
    cells
}

/// Column widths (`render_calc_width()`): the widest cell plus the
/// delimiter for all but the first shown column; on a terminal, the spare
/// width of the line spread over the columns, the remainder one column at a
/// time from the right.
fn widths(cols: &[Column], screen: Option<usize>) -> Vec<usize> {
    let mut widths: Vec<usize> = Vec::new();
    let mut first = true;
    for c in cols {
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
    widths
}

/// Line `row` of the table, padded to the widths (`render()`).
fn line(cols: &[Column], widths: &[usize], row: usize) -> String {
    let mut line = String::new();
    let mut started = false;
    for (c, &w) in cols.iter().zip(widths) {
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
    line
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
    if i.backoff != 0 {
        t.push(format!("backoff:{}", i.backoff));
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
        ("bytes_sent", i.bytes_sent),
        ("bytes_retrans", i.bytes_retrans),
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
    if i.delivered != 0 {
        t.push(format!("delivered:{}", i.delivered));
    }
    // tcp_show_info()'s scoreboard, in its order.
    if i.unacked != 0 {
        t.push(format!("unacked:{}", i.unacked));
    }
    if i.retrans != 0 || i.total_retrans != 0 {
        t.push(format!("retrans:{}/{}", i.retrans, i.total_retrans));
    }
    if i.lost != 0 {
        t.push(format!("lost:{}", i.lost));
    }
    if i.sacked != 0 {
        t.push(format!("sacked:{}", i.sacked));
    }
    if i.dsack_dups != 0 {
        t.push(format!("dsack_dups:{}", i.dsack_dups));
    }
    if i.reordering != 3 && i.reordering != 0 {
        t.push(format!("reordering:{}", i.reordering));
    }
    if i.reord_seen != 0 {
        t.push(format!("reord_seen:{}", i.reord_seen));
    }
    if i.rcv_rtt_us != 0 {
        t.push(format!("rcv_rtt:{}", ms(i.rcv_rtt_us)));
    }
    if i.rcv_space != 0 {
        t.push(format!("rcv_space:{}", i.rcv_space));
    }
    if i.notsent != 0 {
        t.push(format!("notsent:{}", i.notsent));
    }
    if i.min_rtt_us != 0 {
        t.push(format!("minrtt:{}", ms(i.min_rtt_us)));
    }
    if i.rcv_ooopack != 0 {
        t.push(format!("rcv_ooopack:{}", i.rcv_ooopack));
    }
    if i.snd_wnd != 0 {
        t.push(format!("snd_wnd:{}", i.snd_wnd));
    }
    format!("\t {}", t.join(" "))
}

/// `ss -s` from /proc/net/sockstat's counts, with ss's arithmetic
/// (`print_summary()`): the TCP line's total is alloc + tw and `closed` is
/// alloc − (inuse − tw); the table's TCP row is inuse, INET is RAW + UDP +
/// TCP. netd has IPv4 only and no raw sockets.
pub fn render_ss_summary(s: &SockStat) -> String {
    let closed = s
        .tcp_alloc
        .saturating_sub(s.tcp_inuse.saturating_sub(s.tcp_tw));
    let mut out = format!("Total: {}\n", s.sockets_used);
    out.push_str(&format!(
        "TCP:   {} (estab {}, closed {closed}, orphaned {}, timewait {})\n\n",
        s.tcp_alloc + s.tcp_tw,
        s.tcp_estab,
        s.tcp_orphan,
        s.tcp_tw
    ));
    out.push_str("Transport Total     IP        IPv6\n");
    let row = |name: &str, v: u64| format!("{name}\t  {:<9} {:<9} {:<9}\n", v, v, 0);
    out.push_str(&row("RAW", 0));
    out.push_str(&row("UDP", s.udp_inuse));
    out.push_str(&row("TCP", s.tcp_inuse));
    out.push_str(&row("INET", s.udp_inuse + s.tcp_inuse));
    out.push_str(&row("FRAG", s.frag_inuse));
    out.push('\n');
    out
}
