//! UDP sockets (Linux `udp.c`): datagram queues bounded by the receive
//! buffer, connected-socket filtering and ICMP errors turned into errno.

use netd_proto::Errno;
use std::collections::VecDeque;
use std::net::SocketAddrV4;

/// Largest UDP payload over IPv4: 65535 - 20 - 8.
pub const MAX_PAYLOAD: usize = 65_507;

#[derive(Debug, Default)]
pub struct UdpSock {
    /// Default destination and source filter after connect().
    pub remote: Option<SocketAddrV4>,
    pub rx: VecDeque<(SocketAddrV4, Vec<u8>)>,
    pub rx_bytes: usize,
    /// From an ICMP error on a connected socket (`sk_err`), reported once.
    pub error: Option<Errno>,
}

impl UdpSock {
    /// Queue a datagram unless the buffer is full (Udp RcvbufErrors).
    pub fn enqueue(&mut self, from: SocketAddrV4, data: &[u8], rcvbuf: usize) -> bool {
        if self.rx_bytes + data.len() > rcvbuf {
            return false;
        }
        self.rx_bytes += data.len();
        self.rx.push_back((from, data.to_vec()));
        true
    }

    pub fn dequeue(&mut self, peek: bool) -> Option<(SocketAddrV4, Vec<u8>)> {
        if peek {
            return self.rx.front().cloned();
        }
        let (from, data) = self.rx.pop_front()?;
        self.rx_bytes -= data.len();
        Some((from, data))
    }
}
