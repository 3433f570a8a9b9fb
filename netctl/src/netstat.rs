//! `netstat` as net-tools prints it: the connection table (`-tan`) and
//! the protocol statistics (`-s`, statistics.c's sentences).

use netd_proto::{Counter, SockInfo};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn ip(a: &netd_proto::WireAddr) -> Ipv4Addr {
    Ipv4Addr::from(a.ip)
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
        ("TcpExt", "PruneCalled") => (
            "%d packets pruned from receive queue because of socket buffer overrun",
            false,
        ),
        ("TcpExt", "RcvPruned") => ("%d packets pruned from receive queue", false),
        ("TcpExt", "OfoPruned") => (
            "%d packets dropped from out-of-order queue because of socket buffer overrun",
            false,
        ),
        ("TcpExt", "OutOfWindowIcmps") => (
            "%d ICMP packets dropped because they were out-of-window",
            false,
        ),
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
        ("TcpExt", "TCPSACKReorder") => ("Detected reordering %d times using SACK", false),
        ("TcpExt", "TCPRenoReorder") => (
            "Detected reordering %d times using reno fast retransmit",
            false,
        ),
        ("TcpExt", "TCPTSReorder") => ("Detected reordering %d times using time stamp", false),
        ("TcpExt", "TCPFullUndo") => (
            "%d congestion windows fully recovered without slow start",
            false,
        ),
        ("TcpExt", "TCPPartialUndo") => (
            "%d congestion windows partially recovered using Hoe heuristic",
            false,
        ),
        ("TcpExt", "TCPLossUndo") => (
            "%d congestion windows recovered without slow start after partial ack",
            false,
        ),
        ("TcpExt", "TCPRenoFailures") => ("%d timeouts after reno fast retransmit", false),
        ("TcpExt", "TCPLossFailures") => ("%d timeouts in loss state", false),
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
        ("Netd", "ControlRefused") => (
            "%d control connections refused (no descriptor, or past the uid's share)",
            true,
        ),
        ("Netd", "ControlDropped") => (
            "%d control connections dropped for reading none of their replies",
            true,
        ),
        ("Netd", "SocketsRefused") => (
            "%d socket() calls refused (no descriptor, or past the uid's share)",
            true,
        ),
        ("Netd", "AcceptStalls") => ("%d times queued connections waited for a descriptor", true),
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
    // netd's own counters come last, after everything Linux has.
    let order = ["Ip", "Icmp", "Tcp", "Udp", "TcpExt", "IpExt", "Netd"];
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
