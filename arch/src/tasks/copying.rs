//! Selective copying (Gu & Dao, 2023; MAD): a few content tokens scattered among blanks must be
//! reproduced, in order, after a separator. Content-aware skipping of the blanks is what a
//! fixed-decay recurrence finds hard.

use super::{Batch, Split, Task};
use crate::rng::Rng;

const BLANK: i64 = 1;
const SEPARATOR: i64 = 2;
const FIRST_CONTENT: i64 = 3;

/// Selective-copying settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectiveCopy {
    /// Vocabulary, including blank, separator and padding.
    pub vocab: u32,
    /// Length of the region holding content and blanks.
    pub region: u32,
    /// Content tokens to copy.
    pub copies: u32,
}

impl Default for SelectiveCopy {
    fn default() -> Self {
        Self { vocab: 16, region: 48, copies: 8 }
    }
}

impl Task for SelectiveCopy {
    fn name(&self) -> &str {
        "selective-copy"
    }

    fn vocab(&self) -> u32 {
        self.vocab
    }

    fn max_len(&self) -> u32 {
        self.region + self.copies
    }

    fn batch(&self, rng: &mut Rng, batch: usize, _split: Split) -> Batch {
        let (region, copies) = (self.region as usize, self.copies as usize);
        let mut out = Batch::new(batch, region + copies);
        for row in 0..batch {
            let mut positions: Vec<usize> = (0..region).collect();
            rng.shuffle(&mut positions);
            let mut chosen = positions[..copies].to_vec();
            chosen.sort_unstable();
            let content: Vec<i64> = (0..copies)
                .map(|_| FIRST_CONTENT + rng.below(self.vocab as u64 - FIRST_CONTENT as u64) as i64)
                .collect();
            for t in 0..region {
                out.set(row, t, BLANK, None);
            }
            for (token, &t) in content.iter().zip(&chosen) {
                out.set(row, t, *token, None);
            }
            out.set(row, region, SEPARATOR, Some(content[0]));
            for i in 1..copies {
                // Teacher forcing: the previous answer is the next input.
                out.set(row, region + i, content[i - 1], Some(content[i]));
            }
        }
        out
    }
}
