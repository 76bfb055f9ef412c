//! The seed architectures, each a short program in `baselines/` (shipped inside the binary).

use crate::lang::{Program, parse};

/// A baseline: its name, what it is, and its program text.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    /// Name, e.g. `deltanet` (also the mixer's name in the program).
    pub name: &'static str,
    /// One line: the paper and the state update.
    pub summary: &'static str,
    /// The program text.
    pub source: &'static str,
}

impl Baseline {
    /// The parsed program. Baselines are tested to parse and check.
    pub fn program(&self) -> Program {
        parse(self.source).unwrap_or_else(|d| panic!("baseline {} does not parse: {d:?}", self.name))
    }
}

macro_rules! baselines {
    ($($name:literal: $summary:literal),* $(,)?) => {
        /// Every baseline, in the order they are listed.
        pub const ALL: &[Baseline] = &[
            $(Baseline { name: $name, summary: $summary, source: include_str!(concat!("../baselines/", $name, ".arch")) },)*
        ];
    };
}

baselines! {
    "linear_attention": "Linear attention: S_t = S_{t-1} + k v^T",
    "retnet": "RetNet: fixed per-head decay gamma_h = 1 - 2^(-5-h)",
    "gla": "Gated linear attention: data-dependent decay per key channel",
    "mamba2": "Mamba2 as linear attention: scalar decay exp(dt A) per head",
    "deltanet": "DeltaNet: delta rule, beta in [0, 1]",
    "deltanet_negative": "DeltaNet with negative eigenvalues: beta in [0, 2]",
    "gated_deltanet": "Gated DeltaNet: decayed delta rule",
    "rwkv7": "RWKV-7-style generalised delta rule: diagonal plus rank one",
    "short_conv": "Short causal convolution with a gate, no recurrent state",
    "softmax_attention": "Causal softmax attention: the quadratic reference",
}

/// The one baseline allowed to be quadratic in sequence length: the non-linear reference.
pub const QUADRATIC_REFERENCE: &str = "softmax_attention";

/// The baseline called `name`.
pub fn get(name: &str) -> Option<&'static Baseline> {
    ALL.iter().find(|b| b.name == name)
}
