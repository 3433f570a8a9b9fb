//! Output formatting for netctl, written to match iproute2 (`ss`, `nstat`),
//! net-tools (`netstat`) and procps (`sysctl`) byte for byte where the
//! reference captures say how they look: one module per tool.

pub mod netstat;
pub mod nstat;
pub mod ss;

pub use netstat::{netstat_state, render_netstat, render_netstat_s};
pub use nstat::{glob, nstat_line, nstat_name, nstat_useless};
pub use ss::{
    fmt_g, parse_services, render_ss, render_ss_summary, render_ss_width, ss_info_line, ss_state,
    ss_state_set, ss_timer, SsView,
};

#[cfg(test)]
mod tests {
    use super::*;
    use netd_proto::{Counter, SockInfo, TcpInfo, WireAddr};

    #[test]
    fn ss_summary_matches_the_captured_output() {
        // ss-netstat.md §2.6, from the sockstat values behind it.
        let st = netd_proto::SockStat {
            sockets_used: 29,
            tcp_inuse: 26,
            tcp_orphan: 9,
            tcp_tw: 3,
            tcp_alloc: 32,
            tcp_estab: 14,
            udp_inuse: 1,
            frag_inuse: 0,
            frag_memory: 0,
        };
        assert_eq!(
            render_ss_summary(&st),
            "Total: 29\n\
             TCP:   35 (estab 14, closed 9, orphaned 9, timewait 3)\n\
             \n\
             Transport Total     IP        IPv6\n\
             RAW\t  0         0         0        \n\
             UDP\t  1         1         0        \n\
             TCP\t  26        26        0        \n\
             INET\t  27        27        0        \n\
             FRAG\t  0         0         0        \n\
             \n"
        );
    }

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
