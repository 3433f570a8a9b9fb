//! Counters under their Linux names (/proc/net/snmp and /proc/net/netstat),
//! incremented where Linux increments them.

macro_rules! mib {
    ($(#[$m:meta])* $ty:ident { $($field:ident => $name:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $ty { $(pub $field: u64),* }

        impl $ty {
            /// (Linux name, value) in /proc order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$(($name, self.$field)),*]
            }
        }
    };
}

mib!(
    /// `Ip:` and `IpExt:` lines.
    IpMib {
        in_receives => "InReceives",
        in_hdr_errors => "InHdrErrors",
        in_addr_errors => "InAddrErrors",
        in_unknown_protos => "InUnknownProtos",
        in_discards => "InDiscards",
        in_delivers => "InDelivers",
        out_requests => "OutRequests",
        out_discards => "OutDiscards",
        out_no_routes => "OutNoRoutes",
        reasm_timeout => "ReasmTimeout",
        reasm_reqds => "ReasmReqds",
        reasm_oks => "ReasmOKs",
        reasm_fails => "ReasmFails",
        frag_oks => "FragOKs",
        frag_fails => "FragFails",
        frag_creates => "FragCreates",
        in_truncated_pkts => "InTruncatedPkts",
        in_csum_errors => "InCsumErrors",
    }
);

mib!(
    /// `Icmp:` line.
    IcmpMib {
        in_msgs => "InMsgs",
        in_errors => "InErrors",
        in_csum_errors => "InCsumErrors",
        in_dest_unreachs => "InDestUnreachs",
        in_time_excds => "InTimeExcds",
        in_echos => "InEchos",
        in_echo_reps => "InEchoReps",
        out_msgs => "OutMsgs",
        out_errors => "OutErrors",
        out_rate_limit_global => "OutRateLimitGlobal",
        out_rate_limit_host => "OutRateLimitHost",
        out_dest_unreachs => "OutDestUnreachs",
        out_echos => "OutEchos",
        out_echo_reps => "OutEchoReps",
    }
);

mib!(
    /// `Tcp:` line (CurrEstab is computed from the socket table, not stored).
    TcpMib {
        active_opens => "ActiveOpens",
        passive_opens => "PassiveOpens",
        attempt_fails => "AttemptFails",
        estab_resets => "EstabResets",
        in_segs => "InSegs",
        out_segs => "OutSegs",
        retrans_segs => "RetransSegs",
        in_errs => "InErrs",
        out_rsts => "OutRsts",
        in_csum_errors => "InCsumErrors",
    }
);

mib!(
    /// `Udp:` line.
    UdpMib {
        in_datagrams => "InDatagrams",
        no_ports => "NoPorts",
        in_errors => "InErrors",
        out_datagrams => "OutDatagrams",
        rcvbuf_errors => "RcvbufErrors",
        sndbuf_errors => "SndbufErrors",
        in_csum_errors => "InCsumErrors",
    }
);

mib!(
    /// `TcpExt:` line.
    TcpExtMib {
        syncookies_sent => "SyncookiesSent",
        syncookies_recv => "SyncookiesRecv",
        syncookies_failed => "SyncookiesFailed",
        embryonic_rsts => "EmbryonicRsts",
        prune_called => "PruneCalled",
        rcv_pruned => "RcvPruned",
        ofo_pruned => "OfoPruned",
        out_of_window_icmps => "OutOfWindowIcmps",
        tw => "TW",
        tw_recycled => "TWRecycled",
        tw_killed => "TWKilled",
        paws_active => "PAWSActive",
        paws_estab => "PAWSEstab",
        delayed_acks => "DelayedACKs",
        delayed_ack_lost => "DelayedACKLost",
        listen_overflows => "ListenOverflows",
        listen_drops => "ListenDrops",
        tcp_pure_acks => "TCPPureAcks",
        tcp_reno_recovery => "TCPRenoRecovery",
        tcp_sack_recovery => "TCPSackRecovery",
        tcp_sack_reneging => "TCPSACKReneging",
        tcp_sack_reorder => "TCPSACKReorder",
        tcp_reno_reorder => "TCPRenoReorder",
        tcp_ts_reorder => "TCPTSReorder",
        tcp_full_undo => "TCPFullUndo",
        tcp_partial_undo => "TCPPartialUndo",
        tcp_dsack_undo => "TCPDSACKUndo",
        tcp_loss_undo => "TCPLossUndo",
        tcp_lost_retransmit => "TCPLostRetransmit",
        tcp_reno_failures => "TCPRenoFailures",
        tcp_sack_failures => "TCPSackFailures",
        tcp_loss_failures => "TCPLossFailures",
        tcp_fast_retrans => "TCPFastRetrans",
        tcp_slow_start_retrans => "TCPSlowStartRetrans",
        tcp_timeouts => "TCPTimeouts",
        tcp_loss_probes => "TCPLossProbes",
        tcp_loss_probe_recovery => "TCPLossProbeRecovery",
        tcp_reno_recovery_fail => "TCPRenoRecoveryFail",
        tcp_sack_recovery_fail => "TCPSackRecoveryFail",
        tcp_dsack_old_sent => "TCPDSACKOldSent",
        tcp_dsack_ofo_sent => "TCPDSACKOfoSent",
        tcp_dsack_recv => "TCPDSACKRecv",
        tcp_dsack_ofo_recv => "TCPDSACKOfoRecv",
        tcp_abort_on_data => "TCPAbortOnData",
        tcp_abort_on_close => "TCPAbortOnClose",
        tcp_abort_on_memory => "TCPAbortOnMemory",
        tcp_abort_on_timeout => "TCPAbortOnTimeout",
        tcp_abort_on_linger => "TCPAbortOnLinger",
        tcp_sack_discard => "TCPSACKDiscard",
        tcp_dsack_ignored_old => "TCPDSACKIgnoredOld",
        tcp_dsack_ignored_no_undo => "TCPDSACKIgnoredNoUndo",
        tcp_spurious_rtos => "TCPSpuriousRTOs",
        tcp_time_wait_overflow => "TCPTimeWaitOverflow",
        tcp_req_q_full_do_cookies => "TCPReqQFullDoCookies",
        tcp_req_q_full_drop => "TCPReqQFullDrop",
        tcp_ofo_queue => "TCPOFOQueue",
        tcp_ofo_drop => "TCPOFODrop",
        tcp_ofo_merge => "TCPOFOMerge",
        tcp_challenge_ack => "TCPChallengeACK",
        tcp_syn_challenge => "TCPSYNChallenge",
        tcp_from_zero_window_adv => "TCPFromZeroWindowAdv",
        tcp_to_zero_window_adv => "TCPToZeroWindowAdv",
        tcp_want_zero_window_adv => "TCPWantZeroWindowAdv",
        tcp_syn_retrans => "TCPSynRetrans",
        tcp_orig_data_sent => "TCPOrigDataSent",
        tcp_hystart_train_detect => "TCPHystartTrainDetect",
        tcp_hystart_train_cwnd => "TCPHystartTrainCwnd",
        tcp_hystart_delay_detect => "TCPHystartDelayDetect",
        tcp_hystart_delay_cwnd => "TCPHystartDelayCwnd",
        tcp_ack_skipped_syn_recv => "TCPACKSkippedSynRecv",
        tcp_ack_skipped_paws => "TCPACKSkippedPAWS",
        tcp_ack_skipped_seq => "TCPACKSkippedSeq",
        tcp_ack_skipped_fin_wait2 => "TCPACKSkippedFinWait2",
        tcp_ack_skipped_time_wait => "TCPACKSkippedTimeWait",
        tcp_ack_skipped_challenge => "TCPACKSkippedChallenge",
        tcp_win_probe => "TCPWinProbe",
        tcp_keep_alive => "TCPKeepAlive",
        tcp_delivered => "TCPDelivered",
        tcp_zero_window_drop => "TCPZeroWindowDrop",
        tcp_rcv_q_drop => "TCPRcvQDrop",
        tcp_dsack_recv_segs => "TCPDSACKRecvSegs",
        tcp_dsack_ignored_dubious => "TCPDSACKIgnoredDubious",
    }
);

/// All of the stack's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mib {
    pub ip: IpMib,
    pub icmp: IcmpMib,
    pub tcp: TcpMib,
    pub udp: UdpMib,
    pub tcp_ext: TcpExtMib,
}

impl Mib {
    /// Every counter as (section, Linux name, value) in /proc/net/snmp and
    /// /proc/net/netstat order. CurrEstab is a gauge the caller supplies; the
    /// Tcp RTO constants and MaxConn are what Linux prints.
    pub fn lines(
        &self,
        curr_estab: u64,
        default_ttl: i64,
    ) -> Vec<(&'static str, &'static str, i64)> {
        let mut out: Vec<(&'static str, &'static str, i64)> =
            vec![("Ip", "Forwarding", 2), ("Ip", "DefaultTTL", default_ttl)];
        for (name, v) in self.ip.fields() {
            let section = if matches!(name, "InTruncatedPkts" | "InCsumErrors") {
                "IpExt"
            } else {
                "Ip"
            };
            out.push((section, name, v as i64));
        }
        out.extend(
            self.icmp
                .fields()
                .into_iter()
                .map(|(n, v)| ("Icmp", n, v as i64)),
        );
        out.extend([
            ("Tcp", "RtoAlgorithm", 1),
            ("Tcp", "RtoMin", 200),
            ("Tcp", "RtoMax", 120_000),
            ("Tcp", "MaxConn", -1),
        ]);
        for (name, v) in self.tcp.fields() {
            out.push(("Tcp", name, v as i64));
            if name == "EstabResets" {
                out.push(("Tcp", "CurrEstab", curr_estab as i64));
            }
        }
        out.extend(
            self.udp
                .fields()
                .into_iter()
                .map(|(n, v)| ("Udp", n, v as i64)),
        );
        out.extend(
            self.tcp_ext
                .fields()
                .into_iter()
                .map(|(n, v)| ("TcpExt", n, v as i64)),
        );
        out
    }
}
