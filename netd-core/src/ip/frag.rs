//! IPv4 reassembly (`ip_fragment.c`, `inet_fragment.c`): queues keyed by
//! (src, dst, protocol, id), bounded by `ipfrag_high_thresh` bytes of
//! truesize in all and `ipfrag_time` seconds each. Overlapping fragments kill the queue, as Linux
//! has done since 4.19 (RFC 5722 applied to IPv4); exact duplicates are ignored.

use crate::mib::IpMib;
use crate::time::Instant;
use crate::timer::DeadlineSet;
use crate::wire::ipv4::Ipv4Repr;
use core::time::Duration;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// What Linux charges `ipfrag_high_thresh` for each fragment beyond its
/// payload: the skb's truesize (a small packet off a virtio or TUN device:
/// struct sk_buff, skb_shared_info and its aligned head, about 768 bytes).
const FRAG_OVERHEAD: usize = 768;
/// And for each queue: its `struct ipq` (`inet_frag_alloc()` charges
/// `qsize`). With these, 4 MB holds about 4,000 queues of one small
/// fragment each, as Linux does; counting payload alone it held 500,000.
const QUEUE_OVERHEAD: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FragKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

#[derive(Debug)]
struct FragQueue {
    /// (offset, bytes), sorted by offset, non-overlapping.
    frags: Vec<(usize, Vec<u8>)>,
    /// Known once the last fragment (MF clear) arrived.
    total: Option<usize>,
    /// Header and first 8 bytes of the offset-0 fragment, for ICMP Time Exceeded.
    first: Option<Vec<u8>>,
    /// What the queue is charged (see `FRAG_OVERHEAD`).
    bytes: usize,
}

/// A queue that timed out: who to tell, with what (RFC 792 time exceeded, code 1).
pub struct Expired {
    pub src: Ipv4Addr,
    pub first: Option<Vec<u8>>,
}

/// Limits read from the tunables at each call.
#[derive(Clone, Copy, Debug)]
pub struct FragLimits {
    pub timeout: Duration,
    pub high_thresh: usize,
}

#[derive(Debug, Default)]
pub struct Reassembly {
    queues: HashMap<FragKey, FragQueue>,
    /// Each queue's `ipfrag_time` deadline, set when its first fragment came.
    timers: DeadlineSet<FragKey>,
    mem: usize,
}

impl Reassembly {
    /// Bytes charged for incomplete datagrams (truesize, as Linux counts them).
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// Incomplete datagrams held.
    pub fn queues(&self) -> usize {
        self.queues.len()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn remove(&mut self, key: &FragKey) -> Option<FragQueue> {
        let q = self.queues.remove(key)?;
        self.timers.remove(*key);
        self.mem -= q.bytes;
        Some(q)
    }

    fn kill(&mut self, key: &FragKey, mib: &mut IpMib) {
        mib.reasm_fails += 1;
        self.remove(key);
    }

    /// Add one fragment; returns the whole payload once every byte is there.
    pub fn insert(
        &mut self,
        now: Instant,
        limits: FragLimits,
        mib: &mut IpMib,
        hdr: &Ipv4Repr,
        packet: &[u8],
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        mib.reasm_reqds += 1;
        let key = FragKey {
            src: hdr.src,
            dst: hdr.dst,
            protocol: hdr.protocol,
            ident: hdr.ident,
        };
        let offset = usize::from(hdr.frag_offset);
        let end = offset + payload.len();
        // Non-final fragments carry a non-zero multiple of 8 bytes; nothing passes 64 KiB.
        if end > 65535 || (hdr.more_frags && (payload.len() % 8 != 0 || payload.is_empty())) {
            self.kill(&key, mib);
            return None;
        }
        let new_queue = !self.queues.contains_key(&key);
        let cost = payload.len() + FRAG_OVERHEAD + if new_queue { QUEUE_OVERHEAD } else { 0 };
        // inet_frag_find() refuses any fragment once the charge passes the limit.
        if self.mem + cost > limits.high_thresh {
            mib.reasm_fails += 1;
            return None;
        }
        if new_queue {
            self.timers.set(key, Some(now + limits.timeout));
            self.mem += QUEUE_OVERHEAD;
        }
        let q = self.queues.entry(key).or_insert_with(|| FragQueue {
            frags: Vec::new(),
            total: None,
            first: None,
            bytes: QUEUE_OVERHEAD,
        });
        let inconsistent = if hdr.more_frags {
            q.total.is_some_and(|t| end > t)
        } else {
            q.total.is_some_and(|t| t != end) || q.frags.iter().any(|(o, d)| o + d.len() > end)
        };
        if inconsistent {
            self.kill(&key, mib);
            return None;
        }
        if !hdr.more_frags {
            q.total = Some(end);
        }
        let pos = q.frags.partition_point(|(o, _)| *o < offset);
        if q.frags
            .get(pos)
            .is_some_and(|(o, d)| *o == offset && d.as_slice() == payload)
        {
            return None; // exact duplicate
        }
        let overlaps_prev = pos > 0 && q.frags[pos - 1].0 + q.frags[pos - 1].1.len() > offset;
        let overlaps_next = q.frags.get(pos).is_some_and(|(o, _)| *o < end);
        if overlaps_prev || overlaps_next {
            self.kill(&key, mib);
            return None;
        }
        if offset == 0 {
            let keep = (hdr.header_len + 8).min(packet.len());
            q.first = Some(packet[..keep].to_vec());
        }
        q.frags.insert(pos, (offset, payload.to_vec()));
        q.bytes += payload.len() + FRAG_OVERHEAD;
        self.mem += payload.len() + FRAG_OVERHEAD;
        let total = q.total?;
        let mut expect = 0;
        for (o, d) in &q.frags {
            if *o != expect {
                return None;
            }
            expect += d.len();
        }
        if expect != total {
            return None;
        }
        let q = self.remove(&key)?;
        let mut whole = Vec::with_capacity(total);
        for (_, d) in q.frags {
            whole.extend_from_slice(&d);
        }
        mib.reasm_oks += 1;
        Some(whole)
    }

    /// Drop queues older than `ipfrag_time` (ReasmTimeout and ReasmFails, as `ip_expire()`).
    pub fn expire(&mut self, now: Instant, mib: &mut IpMib) -> Vec<Expired> {
        let mut out = Vec::new();
        while let Some(key) = self.timers.pop_due(now) {
            if let Some(q) = self.remove(&key) {
                mib.reasm_timeout += 1;
                mib.reasm_fails += 1;
                out.push(Expired {
                    src: key.src,
                    first: q.first,
                });
            }
        }
        out
    }
}
