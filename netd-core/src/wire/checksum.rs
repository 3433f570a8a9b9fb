//! The Internet checksum (RFC 1071) and the IPv4 pseudo-header (RFC 9293 §3.1).

use std::net::Ipv4Addr;

/// One's-complement sum of `data` folded into 32 bits, added to `acc`.
///
/// Big-endian 32-bit words summed in a 64-bit accumulator give the same
/// one's-complement sum as 16-bit words (RFC 1071 §2(C), "parallel
/// summation"), at a quarter of the additions: this runs over every payload
/// byte that is not checksum-offloaded.
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut wide = u64::from(acc);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        wide += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for c in &mut pairs {
        wide += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = pairs.remainder() {
        wide += u64::from(*last) << 8;
    }
    // Fold 64 -> 32 -> 17 bits; the caller folds the rest.
    wide = (wide & 0xffff_ffff) + (wide >> 32);
    wide = (wide & 0xffff_ffff) + (wide >> 32);
    let w = wide as u32;
    (w & 0xffff) + (w >> 16)
}

pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `data` (complement of the folded sum).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(0, data))
}

/// Sum of the IPv4 pseudo-header used by TCP and UDP.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc += u32::from(proto);
    acc += len as u32;
    acc
}

/// True when a transport segment (checksum field included) sums to 0xffff.
pub fn verify_transport(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> bool {
    fold(sum(pseudo_header(src, dst, proto, segment.len()), segment)) == 0xffff
}

/// Checksum for a transport segment whose checksum field is zero.
pub fn transport(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    !fold(sum(pseudo_header(src, dst, proto, segment.len()), segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_sums_to_known_value() {
        // RFC 1071 §3 example: 0001 f203 f4f5 f6f7 -> sum ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    /// The word-wide sum must equal the textbook 16-bit sum for any input.
    #[test]
    fn wide_sum_matches_sixteen_bit_sum() {
        fn narrow(data: &[u8]) -> u16 {
            let mut acc: u32 = 0;
            let mut c = data.chunks_exact(2);
            for p in &mut c {
                acc += u32::from(u16::from_be_bytes([p[0], p[1]]));
                acc = (acc & 0xffff) + (acc >> 16);
            }
            if let [l] = c.remainder() {
                acc += u32::from(*l) << 8;
            }
            fold(acc)
        }
        let mut x: u32 = 0x1234_5678;
        let data: Vec<u8> = (0..4099)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for len in [0, 1, 2, 3, 5, 8, 63, 1500, 4099] {
            assert_eq!(
                fold(sum(0, &data[..len])),
                narrow(&data[..len]),
                "len {len}"
            );
        }
        assert_eq!(fold(sum(0, &[0xff; 64])), 0xffff);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(0, &[0xab])), 0xab00);
    }
}
