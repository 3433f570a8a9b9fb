//! TCP sequence numbers: arithmetic wraps mod 2^32, comparisons are
//! RFC 1982 serial-number style (Linux's `before()`/`after()`).

use core::cmp::Ordering;
use core::ops::{Add, AddAssign, Sub};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self` comes strictly before `other` in sequence space.
    pub fn before(self, other: SeqNum) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }
    pub fn after(self, other: SeqNum) -> bool {
        other.before(self)
    }
    pub fn before_eq(self, other: SeqNum) -> bool {
        !self.after(other)
    }
    pub fn after_eq(self, other: SeqNum) -> bool {
        !self.before(other)
    }
    /// `lo <= self < hi` in sequence space.
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.after_eq(lo) && self.before(hi)
    }
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.after(other) {
            self
        } else {
            other
        }
    }
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.before(other) {
            self
        } else {
            other
        }
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

/// Distance `self - other`; callers ensure `other` is not after `self`.
impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    fn sub(self, other: SeqNum) -> u32 {
        self.0.wrapping_sub(other.0)
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(if self == other {
            Ordering::Equal
        } else if self.before(*other) {
            Ordering::Less
        } else {
            Ordering::Greater
        })
    }
}

impl core::fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap_around_zero() {
        let near_top = SeqNum(u32::MAX - 10);
        let wrapped = near_top + 20;
        assert_eq!(wrapped.0, 9);
        assert!(near_top.before(wrapped));
        assert!(wrapped.after(near_top));
        assert_eq!(wrapped - near_top, 20);
        assert!(SeqNum(5).in_range(near_top, wrapped));
    }

    #[test]
    fn equal_is_neither_before_nor_after() {
        assert!(!SeqNum(7).before(SeqNum(7)));
        assert!(SeqNum(7).before_eq(SeqNum(7)));
        assert!(SeqNum(7).after_eq(SeqNum(7)));
    }
}
