//! State tracking: parity and addition modulo `m` of a running sequence. The target at each
//! position is the running result so far. Trained on lengths 3-40, tested on 40-256: a model
//! that learned the rule rather than the lengths generalises. A transition with only
//! non-negative eigenvalues cannot represent parity at any length (Grazzi et al., 2024).

use super::{Batch, Split, Task};
use crate::rng::Rng;

/// Parity (`modulus = 2`) or modular addition.
#[derive(Clone, Debug, PartialEq)]
pub struct StateTracking {
    /// The modulus; inputs are digits `0..modulus`, written as tokens `1..=modulus`.
    pub modulus: u32,
    /// Training lengths (inclusive).
    pub train_len: (u32, u32),
    /// Held-out lengths (inclusive).
    pub test_len: (u32, u32),
}

impl StateTracking {
    /// Parity of a bit string.
    pub fn parity() -> Self {
        Self { modulus: 2, train_len: (3, 40), test_len: (40, 256) }
    }

    /// Running sum modulo `modulus`.
    pub fn modular(modulus: u32) -> Self {
        Self { modulus, ..Self::parity() }
    }
}

impl Task for StateTracking {
    fn name(&self) -> &str {
        if self.modulus == 2 { "parity" } else { "modular" }
    }

    fn vocab(&self) -> u32 {
        self.modulus + 1
    }

    fn max_len(&self) -> u32 {
        self.train_len.1.max(self.test_len.1)
    }

    fn batch(&self, rng: &mut Rng, batch: usize, split: Split) -> Batch {
        let (lo, hi) = match split {
            Split::Train => self.train_len,
            Split::Test => self.test_len,
        };
        let lengths: Vec<usize> =
            (0..batch).map(|_| (lo as u64 + rng.below((hi - lo + 1) as u64)) as usize).collect();
        let mut out = Batch::new(batch, *lengths.iter().max().expect("batch ≥ 1"));
        for (row, &len) in lengths.iter().enumerate() {
            let mut sum = 0u64;
            for t in 0..len {
                let digit = rng.below(self.modulus as u64);
                sum = (sum + digit) % self.modulus as u64;
                out.set(row, t, digit as i64 + 1, Some(sum as i64 + 1));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_running_parity_and_test_sequences_are_longer() {
        let task = StateTracking::parity();
        let train = task.batch(&mut Rng::new(5), 16, Split::Train);
        assert!(train.len <= 40);
        for row in 0..16 {
            let mut parity = 0;
            for t in 0..train.len {
                let i = row * train.len + t;
                if train.mask[i] == 0.0 {
                    assert_eq!(train.tokens[i], 0, "padding after the end");
                    continue;
                }
                parity ^= train.tokens[i] - 1;
                assert_eq!(train.targets[i] - 1, parity);
            }
        }
        let test = task.batch(&mut Rng::new(5), 16, Split::Test);
        assert!(test.len >= 40 && test.len <= 256);
    }
}
