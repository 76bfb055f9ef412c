//! The checks a program passes before it is trained, each returning a verdict with the numbers
//! behind it and, on failure, a diagnostic pointing at the operation responsible.
//!
//! - **type-shape**: [`crate::lang::check`] at two different sizes;
//! - **causality**: perturb the input after position t; no output at or before t may move beyond
//!   float noise. The first operation whose value moves is named;
//! - **complexity**: forward time at growing sequence lengths, the fitted growth exponent, and the
//!   exponent of the analytic operation count and activation memory; quadratic is rejected
//!   (except for the declared quadratic reference baseline);
//! - **finite**: forward and backward of the whole model on random input of a long sequence:
//!   loss and every gradient finite (catches exploding states).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::lang::{self, Diagnostic, Dims, ErrorClass, Graph, NodeKind, Program, Span};
use crate::model::{ModelSize, init_weights, logits, masked_cross_entropy, node_values};
use crate::rng::Rng;

/// Sizes the run-time checks use: small, so that every check takes well under a second.
pub const CHECK_DIMS: Dims = Dims { d: 32, h: 4 };
/// Sequence length of the causality check.
const CAUSALITY_LEN: usize = 24;
/// Largest change at or before t that still counts as float noise, relative to the output scale.
const CAUSALITY_TOLERANCE: f64 = 1e-5;
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
}

impl Verdict {
    fn new(check: &'static str) -> Self {
        Self { check, passed: true, numbers: BTreeMap::new(), diagnostics: Vec::new() }
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
    for dims in [Dims::DEFAULT, CHECK_DIMS, Dims { d: 96, h: 3 }] {
        let checked = lang::check(program, dims);
        for d in checked.diagnostics.into_iter().filter(Diagnostic::is_error) {
            if !shape.diagnostics.contains(&d) {
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

fn to_vec(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

fn random_input(rng: &mut Rng, len: usize, d: usize, device: &Device) -> (Vec<f32>, Tensor<3>) {
    let x: Vec<f32> = (0..len * d).map(|_| rng.normal() as f32).collect();
    let t = Tensor::from_data(TensorData::new(x.clone(), [1, len, d]), device);
    (x, t)
}

/// Perturbs the input after each cut point and checks that nothing at or before it moves.
pub fn causality(graph: &Graph, device: &Device) -> Verdict {
    let mut verdict = Verdict::new("causality");
    let d = graph.dims.d as usize;
    let weights = init_weights(graph, ModelSize { layers: 1, vocab: 4 }, 7, device);
    let mixer = &weights.blocks[0].mixer;
    let mut rng = Rng::stream(7, "causality");
    let (x, input) = random_input(&mut rng, CAUSALITY_LEN, d, device);
    let base: Vec<Option<Vec<f32>>> =
        node_values(graph, mixer, input).into_iter().map(|v| v.map(to_vec)).collect();
    let out_scale = base[graph.output]
        .as_ref()
        .map_or(1.0, |o| o.iter().fold(0f32, |m, v| m.max(v.abs())) as f64)
        .max(1e-6);
    let mut worst = 0f64;
    let mut culprit: Option<(usize, usize)> = None;
    for cut in [0, CAUSALITY_LEN / 3, 2 * CAUSALITY_LEN / 3, CAUSALITY_LEN - 2] {
        let mut perturbed = x.clone();
        for value in &mut perturbed[(cut + 1) * d..] {
            *value += rng.normal() as f32;
        }
        let input = Tensor::from_data(TensorData::new(perturbed, [1, CAUSALITY_LEN, d]), device);
        let values = node_values(graph, mixer, input);
        for (id, (value, reference)) in values.into_iter().zip(&base).enumerate() {
            let (Some(value), Some(reference)) = (value.map(to_vec), reference) else { continue };
            let width = reference.len() / CAUSALITY_LEN.max(1);
            if reference.len() != CAUSALITY_LEN * width {
                continue; // a time-constant value
            }
            let past = (cut + 1) * width;
            let change = value[..past]
                .iter()
                .zip(&reference[..past])
                .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
            if id == graph.output {
                worst = worst.max(change / out_scale);
            }
            if change / out_scale > CAUSALITY_TOLERANCE && culprit.is_none_or(|(c, _)| id < c) {
                culprit = Some((id, cut));
            }
        }
    }
    verdict.numbers.insert("max_past_change_relative".into(), worst);
    verdict.numbers.insert("tolerance".into(), CAUSALITY_TOLERANCE);
    if worst > CAUSALITY_TOLERANCE {
        let (node, cut) = culprit.unwrap_or((graph.output, 0));
        let span = graph.nodes[node].span;
        let what = match &graph.nodes[node].kind {
            NodeKind::Shift { by, .. } if *by < 0 => "this shift reads later tokens".to_owned(),
            NodeKind::Attention { causal: false, .. } => {
                "this attention sees every position, later ones included".to_owned()
            }
            _ => "this operation's output depends on later tokens".to_owned(),
        };
        let fix = match &graph.nodes[node].kind {
            NodeKind::Shift { .. } => "shift into the past: use a positive amount, e.g. shift(x, 1)",
            NodeKind::Attention { .. } => "mask the future: attention(q, k, v, mask = causal)",
            _ => "make position t use only positions up to t",
        };
        verdict.numbers.insert("first_leaking_cut".into(), cut as f64);
        verdict.fail(
            Diagnostic::error(
                ErrorClass::NonCausal,
                span,
                format!(
                    "non-causal: {what} (outputs up to position {cut} changed by {worst:.2e} of their scale)"
                ),
            )
            .with_suggestion(fix),
        );
    }
    verdict
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

/// Forward time (median of three) and analytic cost at growing lengths; fits the exponents.
pub fn complexity(graph: &Graph, allow: Allowances, device: &Device) -> Verdict {
    let mut verdict = Verdict::new("complexity");
    let d = graph.dims.d as usize;
    let weights = init_weights(graph, ModelSize { layers: 1, vocab: 4 }, 11, device);
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
    let quadratic = ops_exponent > GROWTH_EXPONENT_MAX || memory_exponent > GROWTH_EXPONENT_MAX;
    if quadratic && !allow.quadratic {
        let span = graph
            .nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::Attention { .. }))
            .map_or(Span::default(), |n| n.span);
        verdict.fail(
            Diagnostic::error(
                ErrorClass::SuperLinear,
                span,
                format!(
                    "cost grows as T^{ops_exponent:.2} (memory T^{memory_exponent:.2}, measured time T^{time_exponent:.2}); \
                     candidates must stay linear in sequence length"
                ),
            )
            .with_suggestion("replace attention with a recurrence: recur(q, k, v, …)"),
        );
    }
    verdict.numbers.insert("quadratic_allowed".into(), if allow.quadratic { 1.0 } else { 0.0 });
    verdict
}

/// Forward and backward of the whole model on a long random sequence: everything finite.
pub fn finite(graph: &Graph, device: &Device) -> Verdict {
    let mut verdict = Verdict::new("finite");
    let device = device.clone().autodiff();
    let vocab = 16;
    let weights = init_weights(graph, ModelSize { layers: 2, vocab }, 13, &device);
    let mut rng = Rng::stream(13, "finite");
    let tokens: Vec<i64> = (0..2 * FINITE_LEN).map(|_| rng.below(vocab as u64) as i64).collect();
    let targets: Vec<i64> = (0..2 * FINITE_LEN).map(|_| rng.below(vocab as u64) as i64).collect();
    let shape = [2, FINITE_LEN];
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(tokens, shape), &device);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, shape), &device);
    let mask = Tensor::<2>::ones(shape, &device);
    let loss = masked_cross_entropy(logits(graph, &weights, tokens), targets, mask);
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    verdict.numbers.insert("loss".into(), if loss_value.is_finite() { loss_value } else { -1.0 });
    let grads = loss.backward();
    let mut bad_params = 0usize;
    let mut total = 0usize;
    let mixer = &weights.blocks[0].mixer;
    let params = mixer
        .matrices
        .iter()
        .map(|p| p.val().grad(&grads).map(|g| g.is_finite().all().into_scalar::<bool>()));
    let params = params
        .chain(
            mixer
                .kernels
                .iter()
                .map(|p| p.val().grad(&grads).map(|g| g.is_finite().all().into_scalar::<bool>())),
        )
        .chain(
            mixer
                .vectors
                .iter()
                .map(|p| p.val().grad(&grads).map(|g| g.is_finite().all().into_scalar::<bool>())),
        )
        .chain(std::iter::once(
            weights.embedding.val().grad(&grads).map(|g| g.is_finite().all().into_scalar::<bool>()),
        ));
    for finite in params.flatten() {
        total += 1;
        if !finite {
            bad_params += 1;
        }
    }
    verdict.numbers.insert("params_with_nonfinite_grad".into(), bad_params as f64);
    verdict.numbers.insert("params_checked".into(), total as f64);
    verdict.numbers.insert("sequence_length".into(), FINITE_LEN as f64);
    if !loss_value.is_finite() || bad_params > 0 {
        let span = graph
            .nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::Recur { .. }))
            .map_or(Span::default(), |n| n.span);
        let what = if loss_value.is_finite() { "the backward pass" } else { "the forward pass" };
        verdict.fail(
            Diagnostic::error(
                ErrorClass::NonFinite,
                span,
                format!(
                    "{what} produces NaN or infinity on a {FINITE_LEN}-token sequence ({bad_params} of {total} parameter gradients non-finite)"
                ),
            )
            .with_suggestion("keep the state bounded: a decay in (0, 1), e.g. decay = sigmoid(proj(x, h))"),
        );
    }
    verdict
}
