//! Analytic cost of a program: operations and activation memory of a forward pass, from the
//! graph alone. Used by the complexity check (growth with sequence length) and by the training
//! benchmark (achieved FLOP/s).

use crate::lang::{Graph, NodeKind};

/// Cost of one forward pass over one sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// Floating-point operations (multiply-adds count as two).
    pub ops: f64,
    /// Activation floats held for the backward pass.
    pub activations: f64,
}

/// One mixer on a sequence of `len` tokens.
pub fn mixer_cost(graph: &Graph, len: f64) -> Cost {
    let (mut ops, mut activations) = (0.0, 0.0);
    let width = |id: usize| graph.nodes[id].ty.width() as f64;
    let h = graph.dims.h as f64;
    for node in &graph.nodes {
        let w = node.ty.width() as f64;
        let (node_ops, node_memory) = match &node.kind {
            NodeKind::Proj { input, .. } => (2.0 * len * width(*input) * w, len * w),
            NodeKind::Route { router, paths } => {
                (2.0 * len * width(*router) * paths.len() as f64 * h, len * w)
            }
            NodeKind::Conv { kernel, .. } => (2.0 * len * w * *kernel as f64, len * w),
            NodeKind::Recur { q, v, erase, .. } => {
                let (dk, dv) = (width(*q) / h, width(*v) / h);
                // decay, write, read out; the delta rule adds a read and a rank-one update.
                let passes = if erase.is_some() { 5.0 } else { 3.0 };
                (2.0 * passes * len * h * dk * dv, len * h * dk * dv)
            }
            NodeKind::Attention { q, v, .. } => {
                (2.0 * len * len * (width(*q) + width(*v)) + 5.0 * h * len * len, h * len * len + len * w)
            }
            _ => (len * w, len * w),
        };
        ops += node_ops;
        activations += node_memory;
    }
    Cost { ops, activations }
}

/// Operations of one training step (forward and backward ≈ 3 × forward) of a model with
/// `layers` blocks, on `batch` sequences of `len` tokens.
pub fn training_step_ops(graph: &Graph, layers: u32, vocab: u32, batch: u32, len: u32) -> f64 {
    let (len_f, d) = (len as f64, graph.dims.d as f64);
    let mixer = mixer_cost(graph, len_f).ops;
    let hidden = d * graph.block.mlp_ratio as f64;
    let mlp = match graph.block.mlp {
        crate::lang::MlpKind::SwiGlu => 2.0 * len_f * 3.0 * d * hidden,
        crate::lang::MlpKind::Gelu => 2.0 * len_f * 2.0 * d * hidden,
        crate::lang::MlpKind::None => 0.0,
    };
    let head = 2.0 * len_f * d * vocab as f64;
    3.0 * batch as f64 * (layers as f64 * (mixer + mlp) + head)
}
