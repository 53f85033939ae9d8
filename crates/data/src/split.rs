//! Seeded shuffling and the train/valid split. The generator is written out here (SplitMix64)
//! so that a seed gives the same split on every platform and with every version of any crate.

/// A small, fast, well-distributed 64-bit generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without modulo bias worth mentioning for n ≪ 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Indices of the training and validation parts of a set of `n` items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainValid {
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
}

/// Splits `0..n` at random (seeded): `round(n × valid_fraction)` items go to validation.
/// Both parts are returned in ascending order so that the split alone, not the shuffle,
/// decides what each part holds.
pub fn train_valid_split(n: usize, valid_fraction: f64, seed: u64) -> TrainValid {
    let mut order: Vec<u32> = (0..n as u32).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let n_valid = ((n as f64) * valid_fraction).round() as usize;
    let n_valid = n_valid.min(n);
    let (valid, train) = order.split_at(n_valid);
    let (mut train, mut valid) = (train.to_vec(), valid.to_vec());
    train.sort_unstable();
    valid.sort_unstable();
    TrainValid { train, valid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_seeded_partition() {
        let a = train_valid_split(1000, 0.1, 7);
        assert_eq!(a.valid.len(), 100);
        assert_eq!(a.train.len(), 900);
        let mut all: Vec<u32> = a.train.iter().chain(&a.valid).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, train_valid_split(1000, 0.1, 7));
        assert_ne!(a.valid, train_valid_split(1000, 0.1, 8).valid);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = rng.below(7);
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
