//! The 256-bit circular keyspace: keys as unsigned integers (byte 0 most significant),
//! distance the shorter way round the ring, and the cache level a distance falls in.

use crate::wire::Key;

/// A 256-bit unsigned integer, limbs most significant first (so `Ord` is numeric order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct U256(pub [u64; 4]);

impl U256 {
    /// Zero.
    pub const ZERO: Self = Self([0; 4]);
    /// 2^256 - 1.
    pub const MAX: Self = Self([u64::MAX; 4]);
    /// 2^255: half the ring, the largest possible distance.
    pub const HALF: Self = Self([1 << 63, 0, 0, 0]);

    /// The integer a wire key denotes.
    pub fn from_key(key: &Key) -> Self {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(key.chunks_exact(8)) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(chunk);
            *limb = u64::from_be_bytes(bytes);
        }
        Self(limbs)
    }

    /// The wire key of this integer.
    pub fn to_key(self) -> Key {
        let mut key = [0u8; 32];
        for (chunk, limb) in key.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        key
    }

    /// `self - other` modulo 2^256.
    pub fn wrapping_sub(self, other: Self) -> Self {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for i in (0..4).rev() {
            let (d, b1) = self.0[i].overflowing_sub(other.0[i]);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            out[i] = d;
            borrow = b1 || b2;
        }
        Self(out)
    }

    /// `self + other` modulo 2^256.
    pub fn wrapping_add(self, other: Self) -> Self {
        let mut out = [0u64; 4];
        let mut carry = false;
        for i in (0..4).rev() {
            let (s, c1) = self.0[i].overflowing_add(other.0[i]);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            out[i] = s;
            carry = c1 || c2;
        }
        Self(out)
    }

    /// `self / divisor` for a small divisor.
    pub const fn div_small(self, divisor: u64) -> Self {
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        let mut i = 0;
        while i < 4 {
            let cur = (rem << 64) | self.0[i] as u128;
            out[i] = (cur / divisor as u128) as u64;
            rem = cur % divisor as u128;
            i += 1;
        }
        Self(out)
    }

    /// Number of leading zero bits.
    pub fn leading_zeros(self) -> u32 {
        let mut zeros = 0;
        for limb in self.0 {
            if limb != 0 {
                return zeros + limb.leading_zeros();
            }
            zeros += 64;
        }
        zeros
    }
}

/// Distance between two keys the shorter way round the ring (at most 2^255).
pub fn distance(a: &Key, b: &Key) -> U256 {
    let (a, b) = (U256::from_key(a), U256::from_key(b));
    let forward = a.wrapping_sub(b);
    let backward = b.wrapping_sub(a);
    forward.min(backward)
}

/// Whether `key` lies in the closed interval `[min, max]` (numeric, not wrapping).
pub fn in_range(key: &Key, min: &Key, max: &Key) -> bool {
    min <= key && key <= max
}

/// Leading bits `a` and `b` share: DRT_ADDRESS.nearness.
pub fn common_prefix_bits(a: &Key, b: &Key) -> u32 {
    let (x, y) = (U256::from_key(a), U256::from_key(b));
    U256([x.0[0] ^ y.0[0], x.0[1] ^ y.0[1], x.0[2] ^ y.0[2], x.0[3] ^ y.0[3]]).leading_zeros()
}

/// Levels of the multilevel cache: level `L` holds keys closer than 2^255 / 10^L to an anchor
/// (10^76 < 2^255 < 10^77, so level 76 is the last non-empty one).
pub const CACHE_LEVELS: usize = 77;

/// Upper bound (exclusive) of the distance at each level: `LEVEL_BOUNDS[L] = 2^255 / 10^L`.
pub struct LevelBounds([U256; CACHE_LEVELS]);

impl LevelBounds {
    /// Computes the bounds (once per node).
    pub const fn new() -> Self {
        let mut bounds = [U256::ZERO; CACHE_LEVELS];
        let mut bound = U256::HALF;
        let mut i = 0;
        while i < CACHE_LEVELS {
            bounds[i] = bound;
            bound = bound.div_small(10);
            i += 1;
        }
        Self(bounds)
    }

    /// The deepest level whose range contains `distance`.
    pub fn level(&self, distance: U256) -> usize {
        // Bounds decrease; find the last level with distance < bound (level 0 holds everything).
        self.0.iter().rposition(|bound| distance < *bound).unwrap_or(0)
    }
}

impl Default for LevelBounds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(last: u8) -> Key {
        let mut k = [0u8; 32];
        k[31] = last;
        k
    }

    #[test]
    fn distance_is_the_shorter_way_round() {
        assert_eq!(distance(&key(3), &key(10)), U256([0, 0, 0, 7]));
        let top = U256::MAX.to_key();
        assert_eq!(distance(&top, &key(1)), U256([0, 0, 0, 2]));
        assert_eq!(distance(&key(5), &key(5)), U256::ZERO);
        let half = U256::HALF.to_key();
        assert_eq!(distance(&half, &key(0)), U256::HALF);
    }

    #[test]
    fn levels_shrink_tenfold() {
        let bounds = LevelBounds::new();
        assert_eq!(bounds.level(U256::HALF), 0);
        assert_eq!(bounds.level(U256::HALF.div_small(10)), 0);
        assert_eq!(bounds.level(U256::HALF.div_small(11)), 1);
        assert_eq!(bounds.level(U256::HALF.div_small(1000)), 2);
        assert_eq!(bounds.level(U256::ZERO), CACHE_LEVELS - 1);
    }

    #[test]
    fn common_prefix_counts_leading_equal_bits() {
        assert_eq!(common_prefix_bits(&key(0), &key(0)), 256);
        assert_eq!(common_prefix_bits(&key(0), &key(1)), 255);
        let mut a = key(0);
        a[0] = 0x80;
        assert_eq!(common_prefix_bits(&a, &key(0)), 0);
    }
}
