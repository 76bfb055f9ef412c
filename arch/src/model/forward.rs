//! Runs a checked [`Graph`] with burn tensors: the compiled mixer, the block around it and the
//! language model. Generic over the backend through `Device` (flex on CPU; tch on GPU).
//!
//! Values are `[batch, time, width]` tensors; a time-constant vector is `[1, 1, width]` and
//! broadcasts; numbers stay `f64` until they meet a tensor.

use burn::tensor::activation::{gelu, log_sigmoid, log_softmax, sigmoid, silu, softmax, softplus, tanh};
use burn::tensor::module::{embedding, linear};
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::recurrence::{Decay, RecurInputs, recur};
use super::weights::{BlockWeights, MixerWeights, ModelWeights, NormWeights, Slot, slots};
use crate::lang::ast::BinOp;
use crate::lang::{Graph, MlpKind, NodeKind, Unary};

const NORM_EPS: f64 = 1e-6;

/// A value during evaluation.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, one per node; boxing would only add allocations
enum Value {
    Scalar(f64),
    Tensor(Tensor<3>),
}

impl Value {
    fn tensor(&self) -> Tensor<3> {
        match self {
            Value::Tensor(t) => t.clone(),
            Value::Scalar(_) => panic!("the checker guarantees a tensor here"),
        }
    }
}

/// `[b, t, h·m]` → `[b, t, h, m]`.
fn heads(x: Tensor<3>, h: usize) -> Tensor<4> {
    let [b, t, w] = x.dims();
    x.reshape([b, t, h, w / h])
}

fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, t, h, m] = x.dims();
    x.reshape([b, t, h * m])
}

/// `a op b` for tensors, with per-head broadcasting when one side is `h` wide.
fn binary_tensors(op: BinOp, a: Tensor<3>, b: Tensor<3>, h: usize) -> Tensor<3> {
    let (wa, wb) = (a.dims()[2], b.dims()[2]);
    let apply = |x: Tensor<4>, y: Tensor<4>| match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
    };
    // Equal widths: one "head" spanning the width. Otherwise one side is h wide and broadcasts
    // over the channels of each head of the other (`[b, t, h, 1]` against `[b, t, h, m]`).
    let split = if wa == wb { 1 } else { h };
    debug_assert!(wa == wb || wa == h || wb == h, "the checker allows only per-head broadcasting");
    merge_heads(apply(heads(a, split), heads(b, split)))
}

fn binary(op: BinOp, a: &Value, b: &Value, h: usize) -> Value {
    match (a, b) {
        (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
        }),
        (Value::Tensor(t), Value::Scalar(s)) => Value::Tensor(match op {
            BinOp::Add => t.clone().add_scalar(*s),
            BinOp::Sub => t.clone().sub_scalar(*s),
            BinOp::Mul => t.clone().mul_scalar(*s),
            BinOp::Div => t.clone().div_scalar(*s),
        }),
        (Value::Scalar(s), Value::Tensor(t)) => Value::Tensor(match op {
            BinOp::Add => t.clone().add_scalar(*s),
            BinOp::Sub => t.clone().neg().add_scalar(*s),
            BinOp::Mul => t.clone().mul_scalar(*s),
            BinOp::Div => t.clone().recip().mul_scalar(*s),
        }),
        (Value::Tensor(x), Value::Tensor(y)) => Value::Tensor(binary_tensors(op, x.clone(), y.clone(), h)),
    }
}

pub(crate) fn unary_scalar(op: Unary, x: f64) -> f64 {
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    match op {
        Unary::Neg => -x,
        Unary::Silu => x * sigmoid(x),
        Unary::Sigmoid => sigmoid(x),
        Unary::Softplus => x.exp().ln_1p(),
        Unary::Exp => x.exp(),
        Unary::Relu => x.max(0.0),
        Unary::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        Unary::Tanh => x.tanh(),
        Unary::LogSigmoid => sigmoid(x).ln(),
        Unary::Pow2 => x.exp2(),
        Unary::L2Norm | Unary::RmsNorm => x.signum(),
    }
}

/// Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), for GELU of a constant.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

/// Per head: `x / sqrt(mean(x²) + eps)` (RMS) or `x / sqrt(sum(x²) + eps)` (L2).
fn head_norm(x: Tensor<3>, h: usize, mean: bool) -> Tensor<3> {
    let x4 = heads(x, h);
    let squares = x4.clone().square();
    let denominator = if mean { squares.mean_dim(3) } else { squares.sum_dim(3) };
    merge_heads(x4 / denominator.add_scalar(NORM_EPS).sqrt())
}

fn row(vector: Tensor<1>) -> Tensor<3> {
    let [w] = vector.dims();
    vector.reshape([1, 1, w])
}

/// `out_t = in_{t−by}`, zeros outside the sequence.
fn shift(x: Tensor<3>, by: i32) -> Tensor<3> {
    let [b, t, w] = x.dims();
    let n = by.unsigned_abs() as usize;
    if n >= t {
        return x.zeros_like();
    }
    let zeros = Tensor::<3>::zeros([b, n, w], &x.device());
    if by > 0 {
        Tensor::cat(vec![zeros, x.narrow(1, 0, t - n)], 1)
    } else {
        Tensor::cat(vec![x.narrow(1, n, t - n), zeros], 1)
    }
}

/// Depthwise causal convolution: `out_t = Σ_j kernel[:, j] · in_{t−j}`.
fn causal_conv(x: Tensor<3>, kernel: Tensor<2>) -> Tensor<3> {
    let [w, k] = kernel.dims();
    let mut out = x.clone() * kernel.clone().narrow(1, 0, 1).reshape([1, 1, w]);
    for j in 1..k {
        out = out + shift(x.clone(), j as i32) * kernel.clone().narrow(1, j, 1).reshape([1, 1, w]);
    }
    out
}

fn attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, h: usize, causal: bool) -> Tensor<3> {
    let t = q.dims()[1].max(k.dims()[1]);
    let (q, k, v) = (heads(q, h).swap_dims(1, 2), heads(k, h).swap_dims(1, 2), heads(v, h).swap_dims(1, 2));
    let dk = q.dims()[3];
    let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dk as f64).sqrt());
    if causal {
        // `tril_mask` is true strictly above the diagonal: the future positions to hide.
        let mask = Tensor::<2, Bool>::tril_mask([t, t], 0, &scores.device()).reshape([1, 1, t, t]);
        scores = scores.mask_fill(mask, -1e9);
    }
    merge_heads(softmax(scores, 3).matmul(v).swap_dims(1, 2))
}

fn route(router: Tensor<3>, matrix: Tensor<2>, paths: Vec<Tensor<3>>, h: usize) -> Tensor<3> {
    let n = paths.len();
    let logits = linear(router, matrix, None);
    let [b, t, _] = logits.dims();
    let weights = softmax(logits.reshape([b, t, n, h]), 2);
    let mut out: Option<Tensor<3>> = None;
    for (i, path) in paths.into_iter().enumerate() {
        let w = weights.clone().narrow(2, i, 1).reshape([b, t, h]);
        let term = binary_tensors(BinOp::Mul, w, path, h);
        out = Some(match out {
            Some(acc) => acc + term,
            None => term,
        });
    }
    out.expect("route has at least two paths")
}

/// The mixer of one block applied to `x` (`[batch, time, d]`).
pub fn mixer(graph: &Graph, weights: &MixerWeights, x: Tensor<3>) -> Tensor<3> {
    let (b, steps) = (x.dims()[0], x.dims()[1]);
    let values = node_values(graph, weights, x);
    let out = values[graph.output].clone().expect("the output is a tensor");
    let w = out.dims()[2];
    // A mixer whose output ignores time or batch (all from constants) still has the full shape.
    if out.dims()[0] != b || out.dims()[1] != steps {
        return out.expand([b, steps, w]);
    }
    out
}

/// The value of every node of the mixer for input `x` (`None` for numbers), in node order: what
/// the checks inspect to find which operation breaks causality or overflows.
pub fn node_values(graph: &Graph, weights: &MixerWeights, x: Tensor<3>) -> Vec<Option<Tensor<3>>> {
    let h = graph.dims.h as usize;
    let steps = x.dims()[1];
    let slots = slots(graph);
    let matrix = |id: usize| match slots[id] {
        Some(Slot::Matrix(i)) => weights.matrices[i].val(),
        other => panic!("node {id} has no matrix ({other:?})"),
    };
    let mut values: Vec<Value> = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let value = |i: usize| values[i].clone();
        let tensor = |i: usize| values[i].tensor();
        let result = match &node.kind {
            NodeKind::Input => Value::Tensor(x.clone()),
            NodeKind::Const(c) => Value::Scalar(*c),
            NodeKind::HeadIndex => {
                let data: Vec<f32> = (0..h).map(|i| i as f32).collect();
                Value::Tensor(
                    Tensor::<1>::from_data(TensorData::new(data, [h]), &x.device()).reshape([1, 1, h]),
                )
            }
            NodeKind::Param { .. } => match slots[id] {
                Some(Slot::Vector(i)) => Value::Tensor(row(weights.vectors[i].val())),
                other => panic!("param node {id} has slot {other:?}"),
            },
            NodeKind::Proj { input, .. } => Value::Tensor(linear(tensor(*input), matrix(id), None)),
            NodeKind::Conv { input, .. } => match slots[id] {
                Some(Slot::Kernel(i)) => Value::Tensor(causal_conv(tensor(*input), weights.kernels[i].val())),
                other => panic!("conv node {id} has slot {other:?}"),
            },
            NodeKind::Shift { input, by } => Value::Tensor(shift(tensor(*input), *by)),
            NodeKind::Unary { op, input } => match value(*input) {
                Value::Scalar(s) => Value::Scalar(unary_scalar(*op, s)),
                Value::Tensor(t) => Value::Tensor(match op {
                    Unary::Neg => t.neg(),
                    Unary::Silu => silu(t),
                    Unary::Sigmoid => sigmoid(t),
                    Unary::Softplus => softplus(t, 1.0),
                    Unary::Exp => t.exp(),
                    Unary::Relu => burn::tensor::activation::relu(t),
                    Unary::Gelu => gelu(t),
                    Unary::Tanh => tanh(t),
                    Unary::LogSigmoid => log_sigmoid(t),
                    Unary::Pow2 => t.mul_scalar(std::f64::consts::LN_2).exp(),
                    Unary::L2Norm => head_norm(t, h, false),
                    Unary::RmsNorm => match slots[id] {
                        Some(Slot::Vector(i)) => head_norm(t, h, true) * row(weights.vectors[i].val()),
                        other => panic!("rmsnorm node {id} has slot {other:?}"),
                    },
                }),
            },
            NodeKind::Binary { op, lhs, rhs } => binary(*op, &value(*lhs), &value(*rhs), h),
            NodeKind::Recur { q, k, v, decay, erase, along } => Value::Tensor(recur(
                RecurInputs {
                    q: tensor(*q),
                    k: tensor(*k),
                    v: tensor(*v),
                    decay: decay.map(|d| match &values[d] {
                        Value::Scalar(s) => Decay::Number(*s),
                        Value::Tensor(t) => Decay::Tensor(t.clone()),
                    }),
                    erase: erase.zip(*along).map(|(e, a)| (tensor(e), tensor(a))),
                    h,
                    steps,
                },
                graph.numerics,
            )),
            NodeKind::Attention { q, k, v, causal } => {
                Value::Tensor(attention(tensor(*q), tensor(*k), tensor(*v), h, *causal))
            }
            NodeKind::Route { router, paths } => {
                let paths = paths.iter().map(|p| tensor(*p)).collect();
                Value::Tensor(route(tensor(*router), matrix(id), paths, h))
            }
        };
        values.push(result);
    }
    values
        .into_iter()
        .map(|v| match v {
            Value::Tensor(t) => Some(t),
            Value::Scalar(_) => None,
        })
        .collect()
}

fn norm(weights: &Option<NormWeights>, x: Tensor<3>) -> Tensor<3> {
    let Some(weights) = weights else { return x };
    let scale = row(weights.scale.val());
    match &weights.bias {
        None => head_norm(x, 1, true) * scale,
        Some(bias) => {
            let mean = x.clone().mean_dim(2);
            let centred = x - mean;
            head_norm(centred, 1, true) * scale + row(bias.val())
        }
    }
}

fn block(graph: &Graph, weights: &BlockWeights, x: Tensor<3>) -> Tensor<3> {
    let x = x.clone() + mixer(graph, &weights.mixer, norm(&weights.mixer_norm, x));
    let (Some(w_in), Some(w_out)) = (&weights.mlp_in, &weights.mlp_out) else { return x };
    let hidden = norm(&weights.mlp_norm, x.clone());
    let up = linear(hidden, w_in.val(), None);
    let activated = match graph.block.mlp {
        MlpKind::SwiGlu => {
            let half = up.dims()[2] / 2;
            silu(up.clone().narrow(2, 0, half)) * up.narrow(2, half, half)
        }
        MlpKind::Gelu => gelu(up),
        MlpKind::None => unreachable!("no MLP weights without an MLP"),
    };
    x + linear(activated, w_out.val(), None)
}

/// Next-token logits `[batch, time, vocab]` for `tokens` (`[batch, time]`).
pub fn logits(graph: &Graph, weights: &ModelWeights, tokens: Tensor<2, Int>) -> Tensor<3> {
    let mut x = embedding(weights.embedding.val(), tokens);
    for block_weights in &weights.blocks {
        x = block(graph, block_weights, x);
    }
    let x = norm(&Some(weights.final_norm.clone()), x);
    linear(x, weights.head.val(), None)
}

/// Mean cross-entropy over the positions where `mask` is 1.
pub fn masked_cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<1> {
    let [b, t, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    let picked = log_probs.gather(2, targets.reshape([b, t, 1])).reshape([b, t]);
    let total = mask.clone().sum();
    (picked * mask).sum().neg() / total.clamp_min(1.0)
}
