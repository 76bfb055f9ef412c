//! The compiler from a checked program to a burn model: seeded weights ([`weights`]) and the
//! forward pass ([`forward`], with `recur` in [`recurrence`]).

pub mod forward;
pub mod recurrence;
pub mod weights;

pub use forward::{logits, masked_cross_entropy, mixer, node_values};
pub use weights::{ModelSize, ModelWeights, init_weights};
