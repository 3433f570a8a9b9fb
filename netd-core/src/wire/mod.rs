//! Parse and emit for IPv4, ICMP, UDP and TCP. Parsing borrows the input
//! (zero-copy: payloads are sub-slices); every length is checked before use, so
//! no input can make a parser panic (see the property tests in `tests/fuzz_input.rs`).

pub mod checksum;
pub mod icmp;
pub mod ipv4;
pub mod seq;
pub mod tcp;
pub mod udp;

/// Why a packet was rejected; the caller maps each to its Linux MIB counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its own header says (Ip: InTruncatedPkts / Tcp: InErrs).
    Truncated,
    /// Header fields out of range: version, IHL, data offset, lengths (InHdrErrors / InErrs).
    Malformed,
    /// Checksum mismatch (InCsumErrors).
    Checksum,
}

pub type Result<T> = core::result::Result<T, WireError>;

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
