//! The checks a program passes before it is trained, each returning a verdict with the numbers
//! behind it and, on failure, a diagnostic pointing at the operation responsible.
//!
//! Where a verdict could depend on the weights, it is decided from the graph first — by
//! construction, whatever the weights — and measured second, at several weight draws
//! ([`draws`]), not only at the initial weights:
//!
//! - **type-shape**: [`crate::lang::check()`] at three different sizes;
//! - **causality**: by construction, no path may carry a later position to the output
//!   ([`reach`]); then the probe: perturb the input after position t at every draw; no output at
//!   or before t may move beyond floating-point rounding. The first operation where the future
//!   enters (or whose value moves) is named;
//! - **complexity**: by construction, no operation whose cost is quadratic in sequence length
//!   (`attention`); then the exponents of the analytic operation count and activation memory
//!   ([`crate::cost`]) and, for the record, of the measured forward time. Quadratic is rejected
//!   except for the declared quadratic reference baseline;
//! - **finite**: forward and backward of the whole model on random input of a long sequence, at
//!   every draw: loss and every gradient finite (catches exploding states).
//!
//! Before all of them, [`run_all_within`] runs **resources**: the program's estimated training
//! memory and compute ([`crate::cost::training_memory`]) at every size it will be trained at must
//! fit a [`Budget`]; a program over it is checked no further.

pub mod draws;
pub mod reach;

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::cost::{TrainShape, training_memory};
use crate::lang::{self, Diagnostic, Dims, ErrorClass, Graph, NodeId, NodeKind, Program, Span};
use crate::limits;
use crate::model::{ModelSize, ModelWeights, logits, masked_cross_entropy, node_values};
use crate::rng::Rng;
use draws::{DRAWS, weight_draw};
use reach::Reach;

/// Sizes the run-time checks use: small, so that every check takes well under a second.
pub const CHECK_DIMS: Dims = Dims { d: 32, h: 4 };
/// Sequence length of the causality check.
const CAUSALITY_LEN: usize = 24;
/// Units in the last place of `f32` that rounding may move an output, per operation on the
/// longest path and per position summed over (see [`causality_tolerance`]).
const ROUNDING_ULPS_PER_STEP: f64 = 4.0;
/// How a reach into every later position is recorded in `future_reach_static` (numbers are
/// finite so that they serialise): more than any sequence the checks or training use.
const UNBOUNDED_REACH: f64 = 1e9;
/// Sequence lengths of the complexity check.
const COMPLEXITY_LENS: [usize; 4] = [128, 256, 512, 1024];
/// Growth exponent above which a program is rejected as super-linear.
pub const GROWTH_EXPONENT_MAX: f64 = 1.5;
/// Sequence length of the finiteness check: long enough for a state that grows by 1.5× per step
/// to overflow `f32`.
const FINITE_LEN: usize = 256;

/// One check's verdict.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// `type-shape`, `causality`, `complexity`, `finite`.
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Measurements behind the verdict.
    pub numbers: BTreeMap<String, f64>,
    /// What failed, and where.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether this check accepted quadratic cost: true only for the complexity check of a
    /// program with [`Allowances::quadratic`] (the quadratic reference baseline). The pool and
    /// the leaderboard's reference rules depend on it, so it is a field, not one of the numbers.
    pub quadratic_allowed: bool,
}

impl Verdict {
    fn new(check: &'static str) -> Self {
        Self {
            check,
            passed: true,
            numbers: BTreeMap::new(),
            diagnostics: Vec::new(),
            quadratic_allowed: false,
        }
    }

    fn fail(&mut self, diagnostic: Diagnostic) {
        self.passed = false;
        self.diagnostics.push(diagnostic);
    }
}

/// What may be relaxed for a program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allowances {
    /// Accept quadratic cost: only for the softmax-attention reference baseline.
    pub quadratic: bool,
}

/// Allowances for `program`: the quadratic reference baseline (by canonical hash) may be quadratic.
pub fn allowances(program: &Program) -> Allowances {
    let reference =
        crate::baselines::get(crate::baselines::QUADRATIC_REFERENCE).expect("reference baseline exists");
    Allowances { quadratic: lang::program_hash(program) == lang::program_hash(&reference.program()) }
}

/// Runs every check; the run-time checks only if types and shapes are right.
pub fn run_all(program: &Program, device: &Device) -> Vec<Verdict> {
    let mut shape = Verdict::new("type-shape");
    let mut graph = None;
    // Each error once, in first-seen order; a set keeps this linear in the number of errors.
    let mut seen = HashSet::new();
    for dims in [Dims::DEFAULT, CHECK_DIMS, Dims { d: 96, h: 3 }] {
        let checked = lang::check(program, dims);
        for d in checked.diagnostics.into_iter().filter(Diagnostic::is_error) {
            if seen.insert(d.clone()) {
                shape.fail(d);
            }
        }
        if dims == CHECK_DIMS {
            graph = checked.graph;
        }
    }
    let Some(graph) = graph.filter(|_| shape.passed) else { return vec![shape] };
    shape.numbers.insert("params_per_block".into(), graph.block_params() as f64);
    vec![
        shape,
        causality(&graph, device),
        complexity(&graph, allowances(program), device),
        finite(&graph, device),
    ]
}

/// The training runs a program must fit before it is checked, and the memory one run may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Every size the program will be trained at: a label for messages (`exploration`), the
    /// model's dims and the run.
    pub runs: Vec<(String, Dims, TrainShape)>,
    /// Memory one training run may use, bytes.
    pub memory_bytes: u64,
}

const GIB: f64 = (1u64 << 30) as f64;

/// The resources check: the estimated memory and compute of training `program` at each of
/// `budget`'s runs, against the budget and [`limits::TRAIN_OPS_MAX`]. `None` when the program
/// does not type-check at one of the sizes (the type-shape check says why).
pub fn resources(program: &Program, budget: &Budget) -> Option<Verdict> {
    let mut verdict = Verdict::new("resources");
    verdict.numbers.insert("memory_budget_bytes".into(), budget.memory_bytes as f64);
    for (label, dims, shape) in &budget.runs {
        let graph = lang::check(program, *dims).graph?;
        let cost = training_memory(&graph, shape);
        verdict.numbers.insert(format!("{label}_memory_bytes"), cost.total_bytes);
        verdict.numbers.insert(format!("{label}_params"), cost.params as f64);
        verdict.numbers.insert(format!("{label}_ops"), cost.ops);
        if !verdict.passed {
            continue; // one diagnostic says what to change; the numbers of every size are kept
        }
        let span = cost.largest_node.map_or(Span::default(), |id| graph.nodes[id].span);
        let size = format!(
            "training at {label} size (d = {}, {} layers, batch {} × {} tokens, vocabulary {})",
            dims.d, shape.layers, shape.batch, shape.len, shape.vocab
        );
        if cost.total_bytes > budget.memory_bytes as f64 {
            let message = format!(
                "{size} needs an estimated {:.2} GiB ({:.2} GiB weights, gradients and optimiser state for \
                 {} parameters, {:.2} GiB activations), over the memory budget of {:.2} GiB",
                cost.total_bytes / GIB,
                cost.parameter_bytes / GIB,
                cost.params,
                cost.activation_bytes / GIB,
                budget.memory_bytes as f64 / GIB
            );
            verdict.fail(Diagnostic::error(ErrorClass::OverBudget, span, message).with_suggestion(
                "narrow the widest values (this operation holds the most activations), or train at a smaller size",
            ));
        } else if cost.ops > limits::TRAIN_OPS_MAX {
            let message = format!(
                "{size} needs an estimated {:.2e} operations over {} steps, over the limit of {:.0e}",
                cost.ops,
                shape.steps,
                limits::TRAIN_OPS_MAX
            );
            verdict.fail(
                Diagnostic::error(ErrorClass::OverBudget, span, message)
                    .with_suggestion("narrow the widest values, or train fewer steps"),
            );
        }
    }
    Some(verdict)
}

/// [`resources`] first, then — only if the program fits — [`run_all`]: a program over the budget
/// is refused before any check runs a model.
pub fn run_all_within(program: &Program, device: &Device, budget: &Budget) -> Vec<Verdict> {
    match resources(program, budget) {
        Some(verdict) if !verdict.passed => vec![verdict],
        Some(verdict) => std::iter::once(verdict).chain(run_all(program, device)).collect(),
        None => run_all(program, device),
    }
}

fn to_vec(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

fn random_input(rng: &mut Rng, len: usize, d: usize, device: &Device) -> (Vec<f32>, Tensor<3>) {
    let x: Vec<f32> = (0..len * d).map(|_| rng.normal() as f32).collect();
    let t = Tensor::from_data(TensorData::new(x.clone(), [1, len, d]), device);
    (x, t)
}

/// Seed of the causality probe's weights and inputs.
const CAUSALITY_SEED: u64 = 7;

/// The probe's tolerance for `graph`, relative to a value's scale: `f32` epsilon times
/// `ROUNDING_ULPS_PER_STEP` for each operation on the longest path from the input to the
/// output and each position a reduction over time (a recurrence, attention) may sum. It bounds
/// the rounding difference between two evaluations of the same function of the past: a causal
/// program computes its past bit for bit the same whatever follows, except where an operation
/// picks one of two exactly equal forms from all its values (`recur` chooses chunked or stepwise
/// by the sign of every decay). Anything larger is a real dependence on later positions.
pub fn causality_tolerance(graph: &Graph) -> f64 {
    let mut depth = vec![0usize; graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        depth[id] = node.kind.inputs().iter().map(|i| depth[*i] + 1).max().unwrap_or(0);
    }
    f64::from(f32::EPSILON) * ROUNDING_ULPS_PER_STEP * (depth[graph.output] + CAUSALITY_LEN) as f64
}

/// Decides causality from the graph ([`reach`]), then probes it at [`DRAWS`] weight draws: the
/// input after each cut point is perturbed and nothing at or before it may move beyond rounding.
/// The static analysis decides first; the probe is the second line (a leak it finds that the
/// analysis missed fails the check too).
pub fn causality(graph: &Graph, device: &Device) -> Verdict {
    let mut verdict = Verdict::new("causality");
    let analysis = reach::analyse(graph);
    let tolerance = causality_tolerance(graph);
    let mut worst = 0f64;
    // The first draw at which the probe saw a leak: draw, node, cut, change.
    let mut leak: Option<(usize, NodeId, usize, f64)> = None;
    for draw in 0..DRAWS {
        let weights = weight_draw(graph, ModelSize { layers: 1, vocab: 4 }, CAUSALITY_SEED, draw, device);
        // Draw 0 keeps the stream the probe has always used, so its measurement is unchanged.
        let stream = if draw == 0 { "causality".to_owned() } else { format!("causality/draw{draw}") };
        let mut rng = Rng::stream(CAUSALITY_SEED, &stream);
        let probe = probe(graph, &weights, &mut rng, tolerance, device);
        if probe.worst > tolerance && leak.is_none() {
            let (node, cut) = probe.culprit.unwrap_or((graph.output, 0));
            leak = Some((draw, node, cut, probe.worst));
        }
        worst = worst.max(probe.worst);
    }
    verdict.numbers.insert("future_reach_static".into(), analysis.output.positions(UNBOUNDED_REACH));
    verdict.numbers.insert("max_past_change_relative".into(), worst);
    verdict.numbers.insert("tolerance".into(), tolerance);
    verdict.numbers.insert("draws".into(), DRAWS as f64);
    if let Some((draw, _, cut, _)) = leak {
        verdict.numbers.insert("first_leaking_draw".into(), draw as f64);
        verdict.numbers.insert("first_leaking_cut".into(), cut as f64);
    }
    if analysis.output.reads_future() {
        let node = analysis.origin.unwrap_or(graph.output);
        let reach = match analysis.output {
            Reach::Offset(n) => format!("the input at position t + {n}"),
            _ => "every later position".to_owned(),
        };
        let detail = format!("by construction, whatever the weights: the output at t depends on {reach}");
        verdict.fail(non_causal(graph, node, &detail));
    } else if let Some((draw, node, cut, change)) = leak {
        let detail = format!(
            "measured at weight draw {draw}: outputs up to position {cut} changed by {change:.2e} of their scale"
        );
        verdict.fail(non_causal(graph, node, &detail));
    }
    verdict
}

/// What the probe measured at one weight draw.
struct Probe {
    /// Largest change of the output at or before a cut, relative to the output's scale.
    worst: f64,
    /// The first node whose past moved beyond the tolerance (relative to its own scale), and the
    /// cut at which it did.
    culprit: Option<(NodeId, usize)>,
}

/// Largest absolute value, at least a tiny floor so that an all-zero value has a scale.
fn scale(values: &[f32]) -> f64 {
    (values.iter().fold(0f32, |m, v| m.max(v.abs())) as f64).max(1e-6)
}

/// Perturbs the input after each of four cut points and measures how far every node's values at
/// or before the cut move.
fn probe(graph: &Graph, weights: &ModelWeights, rng: &mut Rng, tolerance: f64, device: &Device) -> Probe {
    let d = graph.dims.d as usize;
    let mixer = &weights.blocks[0].mixer;
    let (x, input) = random_input(rng, CAUSALITY_LEN, d, device);
    let base: Vec<Option<Vec<f32>>> =
        node_values(graph, mixer, input).into_iter().map(|v| v.map(to_vec)).collect();
    let mut worst = 0f64;
    let mut culprit: Option<(NodeId, usize)> = None;
    for cut in [0, CAUSALITY_LEN / 3, 2 * CAUSALITY_LEN / 3, CAUSALITY_LEN - 2] {
        let mut perturbed = x.clone();
        for value in &mut perturbed[(cut + 1) * d..] {
            *value += rng.normal() as f32;
        }
        let input = Tensor::from_data(TensorData::new(perturbed, [1, CAUSALITY_LEN, d]), device);
        let values = node_values(graph, mixer, input);
        for (id, (value, reference)) in values.into_iter().zip(&base).enumerate() {
            let (Some(value), Some(reference)) = (value.map(to_vec), reference) else { continue };
            let width = reference.len() / CAUSALITY_LEN;
            if reference.len() != CAUSALITY_LEN * width {
                continue; // a time-constant value
            }
            let past = (cut + 1) * width;
            let change = value[..past]
                .iter()
                .zip(&reference[..past])
                .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
            if id == graph.output {
                worst = worst.max(change / scale(reference));
            }
            if change / scale(reference) > tolerance && culprit.is_none_or(|(c, _)| id < c) {
                culprit = Some((id, cut));
            }
        }
    }
    Probe { worst, culprit }
}

/// A `non-causal` diagnostic at `node`, with what it does wrong and how to fix it.
fn non_causal(graph: &Graph, node: NodeId, detail: &str) -> Diagnostic {
    let what = match &graph.nodes[node].kind {
        NodeKind::Shift { by, .. } if *by < 0 => "this shift reads later tokens",
        NodeKind::Attention { causal: false, .. } => {
            "this attention sees every position, later ones included"
        }
        _ => "this operation's output depends on later tokens",
    };
    let fix = match &graph.nodes[node].kind {
        NodeKind::Shift { .. } => "shift into the past: use a positive amount, e.g. shift(x, 1)",
        NodeKind::Attention { .. } => "mask the future: attention(q, k, v, mask = causal)",
        _ => "make position t use only positions up to t",
    };
    Diagnostic::error(ErrorClass::NonCausal, graph.nodes[node].span, format!("non-causal: {what} ({detail})"))
        .with_suggestion(fix)
}

/// Least-squares slope of log(y) against log(x).
fn growth_exponent(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) =
        (xs.iter().map(|x| x.ln()).collect(), ys.iter().map(|y| y.max(1e-12).ln()).collect());
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let cov: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    cov / var
}

/// The operations whose cost is quadratic in sequence length by construction, whatever their
/// widths and weights: every `attention` (each position scores every earlier one, or every one).
/// The only such operation in the language; a width-`h` attention among wide projections is
/// still quadratic, even where the fitted exponent over the checked lengths stays under the
/// limit.
pub fn quadratic_nodes(graph: &Graph) -> Vec<NodeId> {
    let quadratic = |kind: &NodeKind| match kind {
        NodeKind::Attention { .. } => true,
        NodeKind::Input
        | NodeKind::Const(_)
        | NodeKind::HeadIndex
        | NodeKind::Param { .. }
        | NodeKind::Proj { .. }
        | NodeKind::Conv { .. }
        | NodeKind::Shift { .. }
        | NodeKind::Unary { .. }
        | NodeKind::Binary { .. }
        | NodeKind::Recur { .. }
        | NodeKind::Route { .. } => false,
    };
    graph.nodes.iter().enumerate().filter(|(_, n)| quadratic(&n.kind)).map(|(id, _)| id).collect()
}

/// Quadratic operations by construction ([`quadratic_nodes`]), then the growth exponents of the
/// analytic cost; forward time (median of three) at growing lengths is measured for the record.
pub fn complexity(graph: &Graph, allow: Allowances, device: &Device) -> Verdict {
    let mut verdict = Verdict::new("complexity");
    let d = graph.dims.d as usize;
    // Only the measured time, which is for the record, runs the weights.
    let weights = crate::model::init_weights(graph, ModelSize { layers: 1, vocab: 4 }, 11, device);
    let mixer = &weights.blocks[0].mixer;
    let mut rng = Rng::stream(11, "complexity");
    let lens: Vec<f64> = COMPLEXITY_LENS.iter().map(|l| *l as f64).collect();
    let mut times = Vec::new();
    for &len in &COMPLEXITY_LENS {
        let (_, input) = random_input(&mut rng, len, d, device);
        let mut samples: Vec<f64> = (0..3)
            .map(|_| {
                let start = Instant::now();
                let out = crate::model::mixer(graph, mixer, input.clone());
                let _ = to_vec(out); // wait for the result
                start.elapsed().as_secs_f64()
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        times.push(samples[1]);
        verdict.numbers.insert(format!("forward_ms_at_{len}"), samples[1] * 1000.0);
    }
    let (ops, memory): (Vec<f64>, Vec<f64>) =
        lens.iter().map(|l| crate::cost::mixer_cost(graph, *l)).map(|c| (c.ops, c.activations)).unzip();
    let time_exponent = growth_exponent(&lens, &times);
    let ops_exponent = growth_exponent(&lens, &ops);
    let memory_exponent = growth_exponent(&lens, &memory);
    verdict.numbers.insert("time_growth_exponent".into(), time_exponent);
    verdict.numbers.insert("ops_growth_exponent".into(), ops_exponent);
    verdict.numbers.insert("memory_growth_exponent".into(), memory_exponent);
    let by_construction = quadratic_nodes(graph);
    verdict.numbers.insert("quadratic_ops_static".into(), by_construction.len() as f64);
    let quadratic = !by_construction.is_empty()
        || ops_exponent > GROWTH_EXPONENT_MAX
        || memory_exponent > GROWTH_EXPONENT_MAX;
    if quadratic && !allow.quadratic {
        let span = by_construction.first().map_or(Span::default(), |id| graph.nodes[*id].span);
        let cause = if by_construction.is_empty() {
            String::new()
        } else {
            "attention scores every pair of positions, so its cost is quadratic by construction; ".to_owned()
        };
        verdict.fail(
            Diagnostic::error(
                ErrorClass::SuperLinear,
                span,
                format!(
                    "{cause}cost grows as T^{ops_exponent:.2} (memory T^{memory_exponent:.2}, measured time T^{time_exponent:.2}); \
                     candidates must stay linear in sequence length"
                ),
            )
            .with_suggestion("replace attention with a recurrence: recur(q, k, v, …)"),
        );
    }
    verdict.quadratic_allowed = allow.quadratic;
    verdict
}

/// Seed of the finiteness check's weights and tokens.
const FINITE_SEED: u64 = 13;

/// What one forward and backward pass of the finiteness check produced.
struct Pass {
    /// The loss (possibly NaN or infinite).
    loss: f64,
    /// Parameters (of the first mixer, and the embedding) with a non-finite gradient.
    bad_params: usize,
    /// Parameters checked.
    total: usize,
}

impl Pass {
    fn is_finite(&self) -> bool {
        self.loss.is_finite() && self.bad_params == 0
    }
}

/// Forward and backward of the model with `weights` on `tokens`; counts non-finite gradients.
fn forward_backward(
    graph: &Graph,
    weights: &ModelWeights,
    tokens: Tensor<2, Int>,
    targets: Tensor<2, Int>,
) -> Pass {
    let mask = Tensor::<2>::ones(tokens.dims(), &tokens.device());
    let loss = masked_cross_entropy(logits(graph, weights, tokens), targets, mask);
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    let grads = loss.backward();
    let finite = |p: &burn::module::Param<Tensor<2>>| {
        p.val().grad(&grads).map(|g| g.is_finite().all().into_scalar::<bool>())
    };
    let mixer = &weights.blocks[0].mixer;
    let vectors =
        mixer.vectors.iter().map(|p| p.val().grad(&grads).map(|g| g.is_finite().all().into_scalar::<bool>()));
    let checked: Vec<bool> = mixer
        .matrices
        .iter()
        .chain(&mixer.kernels)
        .map(finite)
        .chain(vectors)
        .chain(std::iter::once(finite(&weights.embedding)))
        .flatten()
        .collect();
    Pass { loss: loss_value, bad_params: checked.iter().filter(|f| !**f).count(), total: checked.len() }
}

/// Forward and backward of the whole model on a long random sequence, at [`DRAWS`] weight
/// draws: the loss and every gradient finite at each.
pub fn finite(graph: &Graph, device: &Device) -> Verdict {
    let mut verdict = Verdict::new("finite");
    let device = device.clone().autodiff();
    let vocab = 16;
    let mut rng = Rng::stream(FINITE_SEED, "finite");
    let tokens: Vec<i64> = (0..2 * FINITE_LEN).map(|_| rng.below(vocab as u64) as i64).collect();
    let targets: Vec<i64> = (0..2 * FINITE_LEN).map(|_| rng.below(vocab as u64) as i64).collect();
    let shape = [2, FINITE_LEN];
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(tokens, shape), &device);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, shape), &device);
    let passes: Vec<Pass> = (0..DRAWS)
        .map(|draw| {
            let weights = weight_draw(graph, ModelSize { layers: 2, vocab }, FINITE_SEED, draw, &device);
            forward_backward(graph, &weights, tokens.clone(), targets.clone())
        })
        .collect();
    let loss = passes[0].loss;
    let bad_params = passes.iter().map(|p| p.bad_params).max().unwrap_or(0);
    let failing = passes.iter().position(|p| !p.is_finite());
    verdict.numbers.insert("loss".into(), if loss.is_finite() { loss } else { -1.0 });
    verdict.numbers.insert("params_with_nonfinite_grad".into(), bad_params as f64);
    verdict.numbers.insert("params_checked".into(), passes[0].total as f64);
    verdict.numbers.insert("sequence_length".into(), FINITE_LEN as f64);
    verdict.numbers.insert("draws".into(), DRAWS as f64);
    verdict.numbers.insert("nonfinite_draws".into(), passes.iter().filter(|p| !p.is_finite()).count() as f64);
    let Some(draw) = failing else { return verdict };
    let Pass { loss, bad_params, total } = passes[draw];
    verdict.numbers.insert("first_nonfinite_draw".into(), draw as f64);
    let span = graph
        .nodes
        .iter()
        .find(|n| matches!(n.kind, NodeKind::Recur { .. }))
        .map_or(Span::default(), |n| n.span);
    let what = if loss.is_finite() { "the backward pass" } else { "the forward pass" };
    verdict.fail(
        Diagnostic::error(
            ErrorClass::NonFinite,
            span,
            format!(
                "{what} produces NaN or infinity on a {FINITE_LEN}-token sequence at weight draw {draw} \
                 ({bad_params} of {total} parameter gradients non-finite)"
            ),
        )
        .with_suggestion("keep the state bounded: a decay in (0, 1), e.g. decay = sigmoid(proj(x, h))"),
    );
    verdict
}
