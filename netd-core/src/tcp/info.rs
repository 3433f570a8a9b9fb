//! `getsockopt(TCP_INFO)` and `getsockopt(SO_MEMINFO)` in Linux's binary
//! layouts (`struct tcp_info` of 6.18's include/uapi/linux/tcp.h, 280
//! bytes with the AccECN counters; `sk_get_meminfo()`), filled as
//! `tcp_get_info()` fills them. Programs and packetdrill's `%{ }%` code
//! events read these.
//!
//! Fields netd does not track read 0, as they do on Linux when the
//! machinery is idle: the delivery rate and the busy/limited times
//! (`tcp_rate.c`, `tcp_chrono_*`), the path rehash count and the RTO
//! recovery time; ECN's counters and mode read 0 (TCPI_ECN_MODE_DISABLED),
//! which is what they are without ECN.

use super::tcb::Tcb;
use super::State;
use crate::sysctl::Sysctl;
use crate::time::Instant;
use core::time::Duration;

/// `sizeof(struct tcp_info)` on Linux 6.18 (through `tcpi_options2`).
pub const TCP_INFO_LEN: usize = 280;

/// TCPI_OPT_* bits of `tcpi_options`.
const OPT_TIMESTAMPS: u8 = 1;
const OPT_SACK: u8 = 2;
const OPT_WSCALE: u8 = 4;

/// A `struct tcp_info` being filled at Linux's offsets.
struct Info([u8; TCP_INFO_LEN]);

impl Info {
    fn u8(&mut self, off: usize, v: u8) {
        self.0[off] = v;
    }
    fn u16(&mut self, off: usize, v: u16) {
        self.0[off..off + 2].copy_from_slice(&v.to_ne_bytes());
    }
    fn u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn ms_since(now: Instant, then: Instant) -> u32 {
    u32::try_from(now.saturating_since(then).as_millis()).unwrap_or(u32::MAX)
}

/// `tcp_get_info()` for a socket with no connection: the state, and for a
/// listener the accept queue (`tcpi_unacked`) and backlog (`tcpi_sacked`).
pub fn tcp_info_unconnected(state: State, queued: u32, backlog: u32) -> Vec<u8> {
    let mut i = Info([0; TCP_INFO_LEN]);
    i.u8(0, state as u8);
    if state == State::Listen {
        i.u32(24, queued);
        i.u32(28, backlog);
    }
    i.0.to_vec()
}

impl Tcb {
    /// `tcp_get_info()` for a connection.
    pub fn tcp_info_bytes(&self, now: Instant, mtu: usize, sysctl: &Sysctl) -> Vec<u8> {
        let mut i = Info([0; TCP_INFO_LEN]);
        i.u8(0, State::from(self.state) as u8);
        i.u8(1, self.rec.ca_state as u8);
        i.u8(2, self.retransmits.min(255) as u8);
        i.u8(3, self.probes_out.min(255) as u8);
        i.u8(4, self.backoff.min(255) as u8);
        let mut options = 0;
        if self.neg.ts_ok {
            options |= OPT_TIMESTAMPS;
        }
        if self.neg.sack_ok {
            options |= OPT_SACK;
        }
        if self.neg.wscale_ok {
            options |= OPT_WSCALE;
            // tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4.
            i.u8(6, (self.neg.snd_wscale & 0xf) | (self.neg.rcv_wscale << 4));
        }
        i.u8(5, options);
        i.u32(8, us(self.rto()));
        i.u32(12, us(self.ack.ato));
        i.u32(16, self.mss);
        i.u32(20, self.ack.rcv_mss);
        i.u32(24, self.rtx.packets_out);
        i.u32(28, self.rtx.sacked_out);
        i.u32(32, self.rtx.lost_out);
        i.u32(36, self.rtx.retrans_out);
        i.u32(44, ms_since(now, self.last_data_sent));
        i.u32(52, ms_since(now, self.ack.lrcvtime));
        i.u32(56, ms_since(now, self.last_ack_recv));
        i.u32(60, mtu as u32);
        i.u32(64, self.rcv_wnd);
        i.u32(68, self.rtt.srtt.map_or(0, us));
        i.u32(72, us(self.rtt.rttvar));
        i.u32(76, self.cc.ssthresh);
        i.u32(80, self.cc.cwnd);
        i.u32(84, u32::from(self.adv_mss));
        i.u32(88, self.rec.reordering);
        i.u32(92, u32::try_from(self.rcv_rtt.rtt_us()).unwrap_or(u32::MAX));
        i.u32(96, self.rcvq.space);
        i.u32(100, self.total_retrans);
        // sk_pacing_rate: unset (~0) until an RTT sample sets it.
        let pacing = if self.rtt.srtt.is_some() {
            self.pacing_rate(sysctl)
        } else {
            u64::MAX
        };
        i.u64(104, pacing);
        i.u64(112, u64::MAX);
        i.u64(120, self.bytes_acked);
        i.u64(128, self.bytes_received);
        i.u32(136, self.segs_out as u32);
        i.u32(140, self.segs_in as u32);
        let notsent = if self.write_seq.after(self.snd_nxt) {
            self.write_seq - self.snd_nxt
        } else {
            0
        };
        i.u32(144, notsent);
        i.u32(148, self.rtt.min_rtt.map_or(u32::MAX, us));
        i.u32(152, self.data_segs_in as u32);
        i.u32(156, self.data_segs_out as u32);
        i.u32(192, self.rec.delivered);
        i.u64(200, self.bytes_sent);
        i.u64(208, self.bytes_retrans);
        i.u32(216, self.rec.dsack_dups);
        i.u32(220, self.rec.reord_seen);
        i.u32(224, self.rcv_ooopack);
        i.u32(228, self.snd_wnd);
        i.u32(232, self.rcv_wnd);
        i.u16(240, self.total_rto.min(u32::from(u16::MAX)) as u16);
        i.u16(
            242,
            self.total_rto_recoveries.min(u32::from(u16::MAX)) as u16,
        );
        i.0.to_vec()
    }

    /// `sk_get_meminfo()`: rmem_alloc, rcvbuf, wmem_alloc, sndbuf,
    /// fwd_alloc, wmem_queued, optmem, backlog, drops.
    pub fn meminfo_bytes(&self) -> Vec<u8> {
        let vals = [
            (self.recv_buf.len() + self.ooo.truesize()) as u32,
            self.rcvbuf as u32,
            0,
            self.sndbuf as u32,
            0,
            self.send_buf.len() as u32,
            0,
            0,
            0,
        ];
        vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }
}

/// `sk_get_meminfo()` for a socket without a connection.
pub fn meminfo_unconnected(rcvbuf: u32, sndbuf: u32) -> Vec<u8> {
    [0, rcvbuf, 0, sndbuf, 0, 0, 0, 0, 0]
        .iter()
        .flat_map(|v: &u32| v.to_ne_bytes())
        .collect()
}
