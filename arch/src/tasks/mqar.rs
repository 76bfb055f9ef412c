//! Multi-query associative recall (Arora et al., 2023, "Zoology"), and noisy recall (MAD).
//!
//! An example is `N` key-value pairs, then a query region in which every key appears once,
//! followed by its value; only the value after each queried key is supervised (the model must
//! predict it at the key's position). Keys come from `[1, V/2)`, values from `[V/2, V)`, distinct
//! within an example. Query slots are drawn with `p(gap) ∝ gap^(α−1)`, α = 0.01, so queries
//! cluster early, as in Zoology. With `noise > 0`, that many noise tokens (from a separate
//! range above the values) are scattered through the key-value region (MAD's noisy recall).

use super::{Batch, Split, Task};
use crate::rng::Rng;

/// MQAR settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Mqar {
    /// Vocabulary for keys and values (`V`); noise tokens use `[V, V + 8)`.
    pub vocab: u32,
    /// Sequence length (`L`, even).
    pub len: u32,
    /// Key-value pairs (`N`, with `4N ≤ L`).
    pub pairs: u32,
    /// Noise tokens inserted among the pairs (0: plain MQAR).
    pub noise: u32,
    /// Power-law exponent α of the query gaps.
    pub alpha: f64,
}

impl Default for Mqar {
    fn default() -> Self {
        Self { vocab: 64, len: 64, pairs: 8, noise: 0, alpha: 0.01 }
    }
}

impl Mqar {
    fn example(&self, rng: &mut Rng, batch: &mut Batch, row: usize) {
        let (v, n) = (self.vocab as u64, self.pairs as usize);
        let mut keys: Vec<i64> = (1..v / 2).map(|k| k as i64).collect();
        let mut values: Vec<i64> = (v / 2..v).map(|k| k as i64).collect();
        rng.shuffle(&mut keys);
        rng.shuffle(&mut values);
        // Key-value region, with noise tokens at random places.
        let mut region: Vec<i64> = Vec::with_capacity(2 * n + self.noise as usize);
        for i in 0..n {
            region.extend([keys[i], values[i]]);
        }
        for _ in 0..self.noise {
            let at = 2 * rng.below(region.len() as u64 / 2 + 1) as usize;
            region.insert(at, (v + rng.below(8)) as i64);
        }
        for (t, token) in region.iter().enumerate() {
            batch.set(row, t, *token, None);
        }
        // Query slots: pairs of positions after the region, chosen by power-law gaps.
        let start = region.len();
        let slots = (self.len as usize - start) / 2;
        let mut weights: Vec<f64> = (1..=slots).map(|i| (i as f64).powf(self.alpha - 1.0)).collect();
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        for &pair in &order {
            let slot = rng.weighted(&weights);
            weights[slot] = 0.0;
            let t = start + 2 * slot;
            batch.set(row, t, keys[pair], Some(values[pair]));
            batch.set(row, t + 1, values[pair], None);
        }
    }
}

impl Task for Mqar {
    fn name(&self) -> &str {
        if self.noise > 0 { "noisy-recall" } else { "mqar" }
    }

    fn vocab(&self) -> u32 {
        self.vocab + if self.noise > 0 { 8 } else { 0 }
    }

    fn max_len(&self) -> u32 {
        self.len
    }

    fn batch(&self, rng: &mut Rng, batch: usize, _split: Split) -> Batch {
        assert!(
            self.len.is_multiple_of(2) && 4 * self.pairs + 2 * self.noise <= self.len,
            "MQAR needs 4N + 2·noise ≤ L"
        );
        assert!(self.pairs < self.vocab / 2, "MQAR needs more keys than pairs");
        let mut out = Batch::new(batch, self.len as usize);
        for row in 0..batch {
            self.example(rng, &mut out, row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_queried_once_and_only_values_are_supervised() {
        let task = Mqar::default();
        let batch = task.batch(&mut Rng::new(3), 4, Split::Train);
        assert_eq!(batch.supervised(), 4 * 8);
        for row in 0..4 {
            let tokens = &batch.tokens[row * 64..(row + 1) * 64];
            let targets = &batch.targets[row * 64..(row + 1) * 64];
            let mask = &batch.mask[row * 64..(row + 1) * 64];
            for t in 0..64 {
                if mask[t] > 0.0 {
                    let key = tokens[t];
                    assert!((1..32).contains(&key), "queried token is a key");
                    // The answer is the value that followed the key in the pair region.
                    let at = tokens[..16].iter().position(|k| *k == key).expect("key was stored");
                    assert_eq!(targets[t], tokens[at + 1]);
                    assert!((32..64).contains(&targets[t]));
                }
            }
        }
    }

    #[test]
    fn queries_cluster_early_and_batches_are_seeded() {
        let task = Mqar { len: 128, ..Mqar::default() };
        let a = task.batch(&mut Rng::new(1), 8, Split::Train);
        assert_eq!(a, task.batch(&mut Rng::new(1), 8, Split::Train));
        let positions: Vec<usize> = (0..a.mask.len()).filter(|i| a.mask[*i] > 0.0).map(|i| i % 128).collect();
        let early = positions.iter().filter(|p| **p < 16 + 56).count();
        assert!(early * 3 > positions.len() * 2, "most queries in the first half of the query region");
    }
}
