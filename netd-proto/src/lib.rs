//! netd's control protocol, spoken over its Unix socket by netctl and
//! libnet: the messages, their framing (`codec`), the blocking client
//! (`client`), and the sysctl.conf syntax both sides read (`sysctl_conf`).
//! A client's first frame is `Hello` with `PROTOCOL_VERSION`; anything else,
//! or another version, gets an `Error` and the connection is closed.
//!
//! The clients depend on this crate alone, never on the stack or the daemon.

pub mod client;
pub mod codec;
pub mod errno;
pub mod sockopt;
pub mod sysctl_conf;

pub use errno::Errno;
use serde::{Deserialize, Serialize};
pub use sockopt::{SockOpt, SockOptName, SockOptValue};
use std::net::{Ipv4Addr, SocketAddrV4};

pub const PROTOCOL_VERSION: u32 = 7;

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
    /// Every socket, for `ss` and `netstat`; with `processes`, who holds each
    /// libnet socket (`ss -p`). Answered by `SocketRows` frames of at most
    /// `DUMP_CHUNK` sockets each, the last with `last` set, as fast as the
    /// client reads them (an `inet_diag` dump: sockets that come or go
    /// meanwhile may or may not be listed).
    Sockets {
        processes: bool,
    },
    /// The counts `/proc/net/sockstat` has (`ss -s`), without the table.
    SockStat,

    // Socket calls (libnet). The reply to `Socket` and `Accept` carries the
    // program's end of a socketpair as SCM_RIGHTS ancillary data.
    Socket {
        stream: bool,
    },
    Bind {
        sock: SockRef,
        addr: WireAddr,
    },
    Listen {
        sock: SockRef,
        backlog: i32,
    },
    /// Starts the handshake; `Error { EINPROGRESS }` for TCP, as a non-blocking connect().
    /// `plug`: bytes libnet wrote into the socketpair first, so that its
    /// descriptor is not writable while the handshake runs; netd discards
    /// them once the connection is decided, before anything else read there.
    Connect {
        sock: SockRef,
        addr: WireAddr,
        plug: u32,
    },
    /// Answered once the handshake is over: `Ok`, or the error connect() reports.
    WaitConnect {
        sock: SockRef,
    },
    /// SHUT_RD / SHUT_RDWR bookkeeping (SHUT_WR travels in-band as EOF on the socketpair).
    Shutdown {
        sock: SockRef,
        how: u8,
    },
    /// The program is closing an fd; `unread` bytes were still queued to it.
    /// netd acts when the last fd is gone (HUP on its end), as close(2) does.
    CloseHint {
        sock: SockRef,
        unread: bool,
    },
    SetOpt {
        sock: SockRef,
        opt: SockOpt,
    },
    GetOpt {
        sock: SockRef,
        name: SockOptName,
    },
    LocalAddr {
        sock: SockRef,
    },
    PeerAddr {
        sock: SockRef,
    },
    /// The pending socket error (reported once), 0 if none.
    TakeError {
        sock: SockRef,
    },
    /// The error recv() reports at end of stream: the pending error, as
    /// TakeError, unless a FIN arrived first (Linux's `tcp_recvmsg()` sees
    /// SOCK_DONE and returns 0, leaving the error for SO_ERROR or a send).
    TakeRecvError {
        sock: SockRef,
    },
    /// connect(AF_UNSPEC), or the end of a failed connect(): the socket is
    /// unconnected again. For TCP the reply carries a fresh socketpair end
    /// for the program to put in place of its descriptor (`dup3`), so
    /// nothing of the old connection survives in either direction, as Linux
    /// purges both queues; a UDP socket keeps its socketpair and the
    /// datagrams queued in it.
    Disconnect {
        sock: SockRef,
    },
    /// A send on an unconnected UDP socket fails with EDESTADDRREQ, but
    /// Linux binds the socket to a port first (`inet_send_prepare()`).
    Autobind {
        sock: SockRef,
    },
}

impl Request {
    /// The socket a socket call names (None for the others).
    pub fn sock(&self) -> Option<SockRef> {
        match self {
            Request::Bind { sock, .. }
            | Request::Listen { sock, .. }
            | Request::Connect { sock, .. }
            | Request::WaitConnect { sock }
            | Request::Shutdown { sock, .. }
            | Request::CloseHint { sock, .. }
            | Request::SetOpt { sock, .. }
            | Request::GetOpt { sock, .. }
            | Request::LocalAddr { sock }
            | Request::PeerAddr { sock }
            | Request::TakeError { sock }
            | Request::TakeRecvError { sock }
            | Request::Disconnect { sock }
            | Request::Autobind { sock } => Some(*sock),
            _ => None,
        }
    }
}

/// A socket as netd knows it: an id plus a random token, so one process
/// cannot reach another's sockets by guessing ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SockRef {
    pub id: u32,
    pub token: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAddr {
    pub ip: [u8; 4],
    pub port: u16,
}

impl From<SocketAddrV4> for WireAddr {
    fn from(a: SocketAddrV4) -> WireAddr {
        WireAddr {
            ip: a.ip().octets(),
            port: a.port(),
        }
    }
}

impl From<WireAddr> for SocketAddrV4 {
    fn from(a: WireAddr) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a.ip), a.port)
    }
}

/// Bytes in front of each datagram on a UDP socketpair: IPv4 address and
/// port, network order. All zero from the program means "the connected
/// peer"; all zero from netd carries an error (errno as the 4-byte payload).
pub const DGRAM_HEADER: usize = 6;

/// A connection handed to the program on its listener's socketpair, with
/// the new socketpair end in SCM_RIGHTS: id (u32 LE), token (u64 LE), peer
/// address (4 bytes), port (u16 BE) and the inode of the attached end (u64
/// LE, which libnet keys its table by, saving an fstat). accept() is one
/// recvmsg() of one record, which the kernel never splits or merges with the
/// next because each carries a descriptor; the program then writes one byte
/// back on the listener, on which netd takes the connection off the accept
/// queue. So accept() costs no round trip to netd, and the accept queue
/// (backlog, overflow, `ss` Recv-Q) still ends where the program takes
/// connections.
pub const ACCEPT_RECORD: usize = 26;

/// What an accept record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptRecord {
    pub sock: SockRef,
    pub peer: SocketAddrV4,
    pub inode: u64,
}

impl AcceptRecord {
    pub fn encode(&self) -> [u8; ACCEPT_RECORD] {
        let mut r = [0u8; ACCEPT_RECORD];
        r[..4].copy_from_slice(&self.sock.id.to_le_bytes());
        r[4..12].copy_from_slice(&self.sock.token.to_le_bytes());
        r[12..16].copy_from_slice(&self.peer.ip().octets());
        r[16..18].copy_from_slice(&self.peer.port().to_be_bytes());
        r[18..26].copy_from_slice(&self.inode.to_le_bytes());
        r
    }

    pub fn decode(r: &[u8; ACCEPT_RECORD]) -> AcceptRecord {
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&r[i..i + 8]);
            u64::from_le_bytes(b)
        };
        AcceptRecord {
            sock: SockRef {
                id: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
                token: u64_at(4),
            },
            peer: SocketAddrV4::new(
                Ipv4Addr::new(r[12], r[13], r[14], r[15]),
                u16::from_be_bytes([r[16], r[17]]),
            ),
            inode: u64_at(18),
        }
    }
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
    /// Part of the answer to `Sockets`.
    SocketRows {
        rows: Vec<SockInfo>,
        last: bool,
    },
    SockStat(SockStat),
    Socket {
        sock: SockRef,
    },
    Addr(WireAddr),
    Opt(SockOptValue),
    Errno(i32),
    /// A failure with the errno Linux would give and a human sentence.
    Error {
        errno: i32,
        message: String,
    },
}

/// Sockets per `SocketRows` frame: a frame stays far below the codec's
/// limit whatever the rows hold, and netd holds one client's dump a few
/// frames at a time.
pub const DUMP_CHUNK: usize = 512;

/// `/proc/net/sockstat`'s counts, which `ss -s` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockStat {
    /// `sockets: used`: sockets programs hold (netd: libnet sockets).
    pub sockets_used: u64,
    /// `TCP: inuse`: TCP sockets in the lookup tables (listening, or a
    /// connection from SYN-SENT on), TIME-WAIT buckets not included.
    pub tcp_inuse: u64,
    /// `TCP: orphan`: closed by their program, still finishing.
    pub tcp_orphan: u64,
    /// `TCP: tw`: TIME-WAIT buckets.
    pub tcp_tw: u64,
    /// `TCP: alloc`: every TCP socket, unbound and unaccepted ones included.
    pub tcp_alloc: u64,
    /// Tcp CurrEstab (`ss -s` prints it as `estab`).
    pub tcp_estab: u64,
    /// `UDP: inuse`: bound UDP sockets.
    pub udp_inuse: u64,
    /// `FRAG: inuse`, `memory`: reassembly queues and their truesize.
    pub frag_inuse: u64,
    pub frag_memory: u64,
}

/// One row of `ss`: what `inet_diag` reports for a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockInfo {
    /// "tcp" or "udp".
    pub proto: String,
    /// Linux state number (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11; UDP: 7 unconnected, 1 connected).
    pub state: u8,
    pub local: WireAddr,
    pub peer: WireAddr,
    /// LISTEN: accept-queue length; otherwise unread bytes (a received FIN counts 1).
    pub recv_q: u64,
    /// LISTEN: the backlog; otherwise unacknowledged bytes (SYN and FIN count 1).
    pub send_q: u64,
    /// (`on` | `keepalive` | `timewait` | `persist`, ms left, retransmissions) as `ss -o` shows.
    pub timer: Option<(String, u64, u32)>,
    /// (command, pid, fd) of every process holding the socket's descriptor.
    #[serde(default)]
    pub users: Vec<(String, i32, i32)>,
    /// `ss -i`: connection internals (TCP connections only).
    #[serde(default)]
    pub info: Option<TcpInfo>,
    /// `ss -e`: netd's socket id (0 for request socks and TIME-WAIT), the
    /// uid that created it and the inode of the program's descriptor.
    #[serde(default)]
    pub sk: u64,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub ino: u64,
}

impl WireAddr {
    /// 0.0.0.0:0, `*` in ss's peer column.
    pub const UNSPECIFIED: WireAddr = WireAddr {
        ip: [0; 4],
        port: 0,
    };
}

impl SockInfo {
    /// A row with empty queues, no timer, no owner and no `-i` details; the
    /// callers fill in what their socket has with struct-update syntax.
    pub fn row(proto: &str, state: u8, local: WireAddr, peer: WireAddr) -> SockInfo {
        SockInfo {
            proto: proto.into(),
            state,
            local,
            peer,
            recv_q: 0,
            send_q: 0,
            timer: None,
            users: Vec::new(),
            info: None,
            sk: 0,
            uid: 0,
            ino: 0,
        }
    }
}

/// What `ss -i` prints (a subset of `struct tcp_info`); times in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpInfo {
    pub timestamps: bool,
    pub sack: bool,
    pub congestion: String,
    /// (snd_wscale, rcv_wscale) when window scaling is on.
    pub wscale: Option<(u8, u8)>,
    pub rto_us: u64,
    pub rtt_us: u64,
    pub rttvar_us: u64,
    pub ato_us: u64,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    pub pmtu: u32,
    /// In segments, as Linux counts them.
    pub cwnd: u32,
    /// In segments; None while still "infinite".
    pub ssthresh: Option<u32>,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    pub data_segs_out: u64,
    pub data_segs_in: u64,
    pub last_data_sent_ms: u64,
    pub last_data_recv_ms: u64,
    pub last_ack_recv_ms: u64,
    /// Retransmitted packets in flight (`tcpi_retrans`) and all ever sent.
    pub retrans: u32,
    pub total_retrans: u32,
    pub min_rtt_us: u64,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    /// The receiver's RTT estimate (`tcpi_rcv_rtt`), 0 until measured.
    pub rcv_rtt_us: u64,
    /// Bytes the program read in the last receiver RTT (`tcpi_rcv_space`).
    pub rcv_space: u32,
    /// RTO doublings (`tcpi_backoff`).
    pub backoff: u32,
    /// Payload bytes sent, retransmissions included, and retransmitted.
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    /// Packets delivered (`tcpi_delivered`).
    pub delivered: u32,
    /// The scoreboard, in packets: sent and not cumulatively ACKed,
    /// SACKed, marked lost (`tcpi_unacked`, `tcpi_sacked`, `tcpi_lost`).
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    /// Packets D-SACKed, the reordering degree and reordering events.
    pub dsack_dups: u32,
    pub reordering: u32,
    pub reord_seen: u32,
    /// Bytes written and not yet sent (`tcpi_notsent_bytes`).
    pub notsent: u32,
    /// Segments that arrived out of order.
    pub rcv_ooopack: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_record_decodes_to_what_was_encoded() {
        let rec = AcceptRecord {
            sock: SockRef {
                id: 0xdead_beef,
                token: 0x0123_4567_89ab_cdef,
            },
            peer: SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 54321),
            inode: 987_654_321,
        };
        assert_eq!(AcceptRecord::decode(&rec.encode()), rec);
    }
}
