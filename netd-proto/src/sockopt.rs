//! Socket options as they cross the control socket: what setsockopt(2)
//! sets and getsockopt(2) reads, by name, with Linux's value shapes.

/// An option to set, with its value (setsockopt(2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SockOpt {
    ReuseAddr(bool),
    KeepAlive(bool),
    /// `None` is l_onoff = 0.
    Linger(Option<u32>),
    RcvBuf(i32),
    SndBuf(i32),
    NoDelay(bool),
    QuickAck(bool),
    MaxSeg(i32),
    SynCnt(i32),
    UserTimeout(i32),
    KeepIdle(i32),
    KeepIntvl(i32),
    KeepCnt(i32),
    /// TCP_CONGESTION: an algorithm's name, NUL-padded (TCP_CA_NAME_MAX).
    Congestion([u8; 16]),
}

/// An option to read (getsockopt(2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SockOptName {
    ReuseAddr,
    KeepAlive,
    Linger,
    RcvBuf,
    SndBuf,
    Error,
    Type,
    AcceptConn,
    NoDelay,
    QuickAck,
    MaxSeg,
    SynCnt,
    UserTimeout,
    KeepIdle,
    KeepIntvl,
    KeepCnt,
    /// TCP_INFO: Linux's `struct tcp_info`, as `tcp_get_info()` fills it.
    TcpInfo,
    /// SO_MEMINFO: the `SK_MEMINFO_VARS` counters of `sk_get_meminfo()`.
    MemInfo,
    /// TCP_CONGESTION: the algorithm's name, 16 bytes NUL-padded.
    Congestion,
}

/// A read option's value; `Linger` is (l_onoff, l_linger); `Bytes` is a
/// structure in Linux's layout (little-endian, as the machine's).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SockOptValue {
    Int(i32),
    Linger(i32, i32),
    Bytes(Vec<u8>),
}
