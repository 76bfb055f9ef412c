//! Analytic cost of a program: operations and activation memory of a forward pass, from the
//! graph alone. Used by the complexity check (growth with sequence length), by the training
//! benchmark (achieved FLOP/s) and by the memory budget every program must fit before it is
//! checked or trained ([`training_memory`]).

use crate::lang::{Graph, MlpKind, NodeId, NodeKind, NormKind};

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
    for id in 0..graph.nodes.len() {
        let cost = node_cost(graph, id, len);
        ops += cost.ops;
        activations += cost.activations;
    }
    Cost { ops, activations }
}

/// One operation of a mixer on a sequence of `len` tokens.
pub fn node_cost(graph: &Graph, id: NodeId, len: f64) -> Cost {
    let width = |id: usize| graph.nodes[id].ty.width() as f64;
    let h = graph.dims.h as f64;
    let node = &graph.nodes[id];
    let w = node.ty.width() as f64;
    let (ops, activations) = match &node.kind {
        NodeKind::Proj { input, .. } => (2.0 * len * width(*input) * w, len * w),
        NodeKind::Route { router, paths } => (2.0 * len * width(*router) * paths.len() as f64 * h, len * w),
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

/// Bytes of one `f32`: weights, activations and optimiser state are all `f32`.
const FLOAT_BYTES: f64 = 4.0;
/// Copies of every parameter alive during an optimiser step: the weights, their gradients,
/// AdamW's two moments, and the updated weights before the old ones are dropped.
pub const PARAMETER_COPIES: f64 = 5.0;
/// Activation memory as a multiple of the values the graph names: composite operations keep
/// intermediates for the backward pass that are not nodes of the graph (a norm's squares and
/// scale, a gate's sigmoid, the chunked recurrence's decays and within-chunk products, the
/// gradients of the values themselves while backward runs). Measured peak use of the baselines
/// stays under it (see the crate's memory test).
pub const ACTIVATION_FACTOR: f64 = 4.0;
/// Bytes per token of a batch held as data: tokens, targets (`i64`) and the mask.
const DATA_BYTES_PER_TOKEN: f64 = 8.0 + 8.0 + 4.0;

/// The training run an estimate is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainShape {
    /// Blocks.
    pub layers: u32,
    /// Sequences per step (also per held-out batch).
    pub batch: u32,
    /// Longest sequence of any batch, training or held-out.
    pub len: u32,
    /// Largest vocabulary of the tasks.
    pub vocab: u32,
    /// Optimiser steps.
    pub steps: u32,
}

impl TrainShape {
    /// Training on `tasks` with these sizes: the longest sequence and the largest vocabulary
    /// of any of them.
    pub fn of(tasks: &[Box<dyn crate::tasks::Task>], layers: u32, batch: u32, steps: u32) -> Self {
        let len = tasks.iter().map(|t| t.max_len()).max().unwrap_or(1);
        let vocab = tasks.iter().map(|t| t.vocab()).max().unwrap_or(1);
        Self { layers, batch, len, vocab, steps }
    }
}

/// Estimated peak memory and total compute of one training run: an upper bound on memory by
/// construction (see [`training_memory`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainingCost {
    /// Trainable parameters: every block, the embedding, the final norm and the output head.
    pub params: u64,
    /// Weights, gradients and optimiser state, bytes ([`PARAMETER_COPIES`] per parameter).
    pub parameter_bytes: f64,
    /// Activations kept for the backward pass of one batch through every block, bytes.
    pub activation_bytes: f64,
    /// The batch itself, bytes.
    pub data_bytes: f64,
    /// Everything: the estimate a budget is compared with.
    pub total_bytes: f64,
    /// Operations of the whole run (every step, forward and backward).
    pub ops: f64,
    /// The operation holding the most activation memory: where a diagnostic points.
    pub largest_node: Option<NodeId>,
}

/// Activation floats of one block around the mixer, per sequence: the residual stream and its
/// sums, the norms' outputs, the MLP's hidden values (SwiGLU: gate, up, activated gate and
/// product; GELU: pre- and post-activation) and its output.
fn block_activations(graph: &Graph, len: f64) -> f64 {
    let d = graph.dims.d as f64;
    let hidden = d * graph.block.mlp_ratio as f64;
    let norms = match graph.block.norm {
        NormKind::None => 0.0,
        _ => 2.0,
    };
    let (mlp_hidden, mlp_out) = match graph.block.mlp {
        MlpKind::SwiGlu => (4.0 * hidden, d),
        MlpKind::Gelu => (2.0 * hidden, d),
        MlpKind::None => (0.0, 0.0),
    };
    len * (3.0 * d + norms * d + mlp_hidden + mlp_out)
}

/// Estimates the memory and compute of training `graph` at `shape`:
///
/// - parameters `P = layers × block_params + 2 × vocab × d + d` (embedding, head, final norm),
///   held [`PARAMETER_COPIES`] times;
/// - activations `batch × ACTIVATION_FACTOR × (layers × (mixer + block) + head)` floats, where
///   `mixer` is [`mixer_cost`]'s activation count at `len`, `block` the residual stream, norms and
///   MLP (`block_activations`) and `head` the embedding, final norm, logits and their
///   log-softmax (`len × (2d + 3 × vocab)`);
/// - the batch's tokens, targets and mask;
///
/// all at `f32`. Held-out evaluation runs without gradients on batches of the same size, so
/// its use is below training's at the same `len` (which is the longest of either split).
pub fn training_memory(graph: &Graph, shape: &TrainShape) -> TrainingCost {
    let (len, d, vocab) = (shape.len as f64, graph.dims.d as f64, shape.vocab as f64);
    let params = u64::from(shape.layers) * graph.block_params()
        + 2 * u64::from(shape.vocab) * u64::from(graph.dims.d)
        + u64::from(graph.dims.d);
    let mixer = mixer_cost(graph, len).activations;
    let head = len * (2.0 * d + 3.0 * vocab);
    let per_sequence = shape.layers as f64 * (mixer + block_activations(graph, len)) + head;
    let parameter_bytes = PARAMETER_COPIES * params as f64 * FLOAT_BYTES;
    let activation_bytes = shape.batch as f64 * ACTIVATION_FACTOR * per_sequence * FLOAT_BYTES;
    let data_bytes = shape.batch as f64 * len * DATA_BYTES_PER_TOKEN;
    let ops =
        shape.steps as f64 * training_step_ops(graph, shape.layers, shape.vocab, shape.batch, shape.len);
    TrainingCost {
        params,
        parameter_bytes,
        activation_bytes,
        data_bytes,
        total_bytes: parameter_bytes + activation_bytes + data_bytes,
        ops,
        largest_node: largest_node(graph, len),
    }
}

/// The node whose own activation memory at `len` is the largest (the first of equals).
fn largest_node(graph: &Graph, len: f64) -> Option<NodeId> {
    let mut best: Option<(NodeId, f64)> = None;
    for id in 0..graph.nodes.len() {
        let memory = node_cost(graph, id, len).activations;
        if best.is_none_or(|(_, m)| memory > m) {
            best = Some((id, memory));
        }
    }
    best.map(|(id, _)| id)
}
