//! Weight draws for the measured checks whose outcome depends on the weights (the causality
//! probe, finiteness). A program is measured at several draws, not only at its initial weights,
//! so that a path closed by a zero-initialised gate at the start (and opened by the first
//! optimiser step) is open in at least one draw.
//!
//! Draw 0 is the initial weights of the check's seed, exactly as training starts. Draw `k > 0`
//! takes fresh initial matrices and kernels from a seed drawn from the stream `draw{k}` of the
//! check's seed, and moves every learned vector of the mixers (`param`s of any `init`, `rmsnorm`
//! scales) by normal noise of standard deviation [`VECTOR_NOISE`] from the stream
//! `draw{k}/block{b}/vector{i}`: a zero-initialised parameter is nonzero there, and a structured
//! start (`range`, `one`) keeps its shape, like a model a few hundred optimiser steps in.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use crate::lang::Graph;
use crate::model::{ModelSize, ModelWeights, init_weights};
use crate::rng::Rng;

/// Weight draws per measured check.
pub const DRAWS: usize = 3;

/// Standard deviation of the noise added to the mixers' learned vectors in draws after the
/// first: the order of what AdamW moves a parameter in a few hundred steps at the default rate.
pub const VECTOR_NOISE: f64 = 0.1;

/// The weights of draw `draw` (`0..DRAWS`) of a check with `seed` (see the module docs).
pub fn weight_draw(graph: &Graph, size: ModelSize, seed: u64, draw: usize, device: &Device) -> ModelWeights {
    if draw == 0 {
        return init_weights(graph, size, seed, device);
    }
    let draw_seed = Rng::stream(seed, &format!("draw{draw}")).next_u64();
    let mut weights = init_weights(graph, size, draw_seed, device);
    for (b, block) in weights.blocks.iter_mut().enumerate() {
        for (i, vector) in block.mixer.vectors.iter_mut().enumerate() {
            let mut rng = Rng::stream(seed, &format!("draw{draw}/block{b}/vector{i}"));
            let values = vector.val().into_data().try_to_vec::<f32>().expect("an f32 vector");
            let n = values.len();
            let moved: Vec<f32> =
                values.into_iter().map(|v| (f64::from(v) + VECTOR_NOISE * rng.normal()) as f32).collect();
            *vector = Param::from_tensor(Tensor::from_data(TensorData::new(moved, [n]), device));
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{Dims, check, parse};

    fn vectors(weights: &ModelWeights) -> Vec<Vec<f32>> {
        let mixer = &weights.blocks[0].mixer;
        mixer.vectors.iter().map(|v| v.val().into_data().try_to_vec::<f32>().unwrap()).collect()
    }

    #[test]
    fn later_draws_open_zero_initialised_parameters_and_are_reproducible() {
        let source = "mixer m {\n  return proj(x * param(d, init = zero), d)\n}\n";
        let graph = check(&parse(source).unwrap(), Dims { d: 32, h: 4 }).graph.unwrap();
        let (size, device) = (ModelSize { layers: 1, vocab: 4 }, Device::flex());
        let first = vectors(&weight_draw(&graph, size, 7, 0, &device));
        assert!(first[0].iter().all(|v| *v == 0.0), "draw 0 is the initial weights");
        for draw in 1..DRAWS {
            let moved = vectors(&weight_draw(&graph, size, 7, draw, &device));
            assert!(moved[0].iter().all(|v| *v != 0.0), "draw {draw}: {:?}", moved[0]);
            assert_eq!(moved, vectors(&weight_draw(&graph, size, 7, draw, &device)));
        }
        assert_ne!(
            vectors(&weight_draw(&graph, size, 7, 1, &device)),
            vectors(&weight_draw(&graph, size, 7, 2, &device))
        );
    }
}
