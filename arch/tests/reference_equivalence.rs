//! Every baseline's compiled mixer against a hand-written reference of its paper's equations:
//! plain f64 loops over time, per head, with the same weights, on odd shapes (T = 37, d = 24,
//! h = 3), compared by relative error (‖a − b‖ / ‖b‖ < 1e-4), NaN checked explicitly.
//!
//! The references are written from the equations, not from the compiler: the delta rule as
//! `S += β k (v − Sᵀk)ᵀ`, the decays as explicit per-head or per-channel factors, attention as
//! an explicit causal softmax. Which weight is which follows the order the program mentions them.

use burn::tensor::{Device, Tensor, TensorData};
use lineage_arch::baselines;
use lineage_arch::lang::{Dims, check};
use lineage_arch::model::mixer;
use lineage_arch::model::weights::{MixerWeights, ModelSize, init_weights};
use lineage_arch::rng::Rng;

const T: usize = 37; // more than two chunks of the chunked `recur`
const D: usize = 24;
const H: usize = 3;
const DH: usize = D / H;
const EPS: f64 = 1e-6;

/// A `rows × cols` matrix, row-major.
#[derive(Clone, Debug)]
struct M {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl M {
    fn zeros(rows: usize, cols: usize) -> M {
        M { rows, cols, v: vec![0.0; rows * cols] }
    }
    fn at(&self, r: usize, c: usize) -> f64 {
        self.v[r * self.cols + c]
    }
    fn set(&mut self, r: usize, c: usize, x: f64) {
        self.v[r * self.cols + c] = x;
    }
    fn map(&self, f: impl Fn(f64) -> f64) -> M {
        M { v: self.v.iter().map(|x| f(*x)).collect(), ..*self }
    }
    fn zip(&self, other: &M, f: impl Fn(f64, f64) -> f64) -> M {
        assert_eq!((self.rows, self.cols), (other.rows, other.cols));
        M { v: self.v.iter().zip(&other.v).map(|(a, b)| f(*a, *b)).collect(), ..*self }
    }
    /// `self · w`, `w` being `[in, out]`.
    fn mm(&self, w: &M) -> M {
        let mut out = M::zeros(self.rows, w.cols);
        for r in 0..self.rows {
            for c in 0..w.cols {
                out.set(r, c, (0..self.cols).map(|i| self.at(r, i) * w.at(i, c)).sum());
            }
        }
        out
    }
    /// Head `head`'s slice of row `t`.
    fn head(&self, t: usize, head: usize) -> Vec<f64> {
        let w = self.cols / H;
        (0..w).map(|j| self.at(t, head * w + j)).collect()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}
fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

/// Depthwise causal convolution, kernel `[width, taps]`, tap j reading t − j.
fn conv(x: &M, k: &M) -> M {
    let mut out = M::zeros(x.rows, x.cols);
    for t in 0..x.rows {
        for c in 0..x.cols {
            out.set(t, c, (0..k.cols).filter(|j| *j <= t).map(|j| k.at(c, j) * x.at(t - j, c)).sum());
        }
    }
    out
}

/// Per-head normalisation: RMS (with scale) or L2.
fn head_norm(x: &M, scale: Option<&[f64]>, mean: bool) -> M {
    let w = x.cols / H;
    let mut out = x.clone();
    for t in 0..x.rows {
        for head in 0..H {
            let slice = x.head(t, head);
            let sum: f64 = slice.iter().map(|a| a * a).sum();
            let denominator = (if mean { sum / w as f64 } else { sum } + EPS).sqrt();
            for j in 0..w {
                let c = head * w + j;
                out.set(t, c, x.at(t, c) / denominator * scale.map_or(1.0, |s| s[c]));
            }
        }
    }
    out
}

fn rmsnorm(x: &M, scale: &[f64]) -> M {
    head_norm(x, Some(scale), true)
}
fn l2norm(x: &M) -> M {
    head_norm(x, None, false)
}

/// The weights of a compiled mixer as f64 matrices, in the order the program mentions them.
struct W {
    mats: Vec<M>,
    kers: Vec<M>,
    vecs: Vec<Vec<f64>>,
}

fn to_m(t: Tensor<2>) -> M {
    let [rows, cols] = t.dims();
    M { rows, cols, v: t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect() }
}

fn extract(w: &MixerWeights) -> W {
    W {
        mats: w.matrices.iter().map(|p| to_m(p.val())).collect(),
        kers: w.kernels.iter().map(|p| to_m(p.val())).collect(),
        vecs: w
            .vectors
            .iter()
            .map(|p| p.val().into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect())
            .collect(),
    }
}

/// Per head, a recurrence driven by `step(head, t, S)` that updates the `DH × DH` state in
/// place and returns that head's output at t.
fn per_head(mut step: impl FnMut(usize, usize, &mut Vec<Vec<f64>>) -> Vec<f64>) -> M {
    let mut out = M::zeros(T, D);
    for head in 0..H {
        let mut state = vec![vec![0.0; DH]; DH];
        for t in 0..T {
            let o = step(head, t, &mut state);
            for (j, value) in o.iter().enumerate() {
                out.set(t, head * DH + j, *value);
            }
        }
    }
    out
}

/// `Sᵀ q`.
fn read(state: &[Vec<f64>], q: &[f64]) -> Vec<f64> {
    (0..DH).map(|j| (0..DH).map(|i| q[i] * state[i][j]).sum()).collect()
}

fn gate_out(o: &M, w: &W, rms: usize, gate: usize, out: usize, x: &M) -> M {
    rmsnorm(o, &w.vecs[rms]).zip(&x.mm(&w.mats[gate]).map(silu), |a, b| a * b).mm(&w.mats[out])
}

fn linear_attention(x: &M, w: &W) -> M {
    let (q, k, v) = (l2norm(&x.mm(&w.mats[0])), l2norm(&x.mm(&w.mats[1])), x.mm(&w.mats[2]));
    let o = per_head(|h, t, s| {
        let (k, v) = (k.head(t, h), v.head(t, h));
        for i in 0..DH {
            for j in 0..DH {
                s[i][j] += k[i] * v[j];
            }
        }
        read(s, &q.head(t, h))
    });
    rmsnorm(&o, &w.vecs[0]).mm(&w.mats[3])
}

/// `silu(conv(x W, K))` for the i-th projection and kernel: fla's short convolution.
fn short_convolved(x: &M, w: &W, i: usize) -> M {
    conv(&x.mm(&w.mats[i]), &w.kers[i]).map(silu)
}

fn retnet(x: &M, w: &W) -> M {
    let (q, k, v) = (short_convolved(x, w, 0), short_convolved(x, w, 1), short_convolved(x, w, 2));
    let o = per_head(|h, t, s| {
        let gamma = 1.0 - 2f64.powi(-5 - h as i32);
        let (k, v) = (k.head(t, h), v.head(t, h));
        for i in 0..DH {
            for j in 0..DH {
                s[i][j] = gamma * s[i][j] + k[i] * v[j];
            }
        }
        read(s, &q.head(t, h))
    });
    gate_out(&o, w, 0, 3, 4, x)
}

fn gla(x: &M, w: &W) -> M {
    let (q, k, v) = (short_convolved(x, w, 0), short_convolved(x, w, 1), short_convolved(x, w, 2));
    let bias = per_channel(&w.vecs[0]);
    let alpha = x.mm(&w.mats[3]).mm(&w.mats[4]).zip(&bias, |z, b| (sigmoid(z + b).ln() / 16.0).exp());
    let o = per_head(|h, t, s| {
        let (k, v, a) = (k.head(t, h), v.head(t, h), alpha.head(t, h));
        for i in 0..DH {
            for j in 0..DH {
                s[i][j] = a[i] * s[i][j] + k[i] * v[j];
            }
        }
        read(s, &q.head(t, h))
    });
    gate_out(&o, w, 1, 5, 6, x)
}

fn mamba2(x: &M, w: &W) -> M {
    let u = conv(&x.mm(&w.mats[0]), &w.kers[0]).map(silu);
    let b = conv(&x.mm(&w.mats[1]), &w.kers[1]).map(silu);
    let c = conv(&x.mm(&w.mats[2]), &w.kers[2]).map(silu);
    let dt_raw = x.mm(&w.mats[3]);
    let dt = |t: usize, h: usize| softplus(dt_raw.at(t, h) + w.vecs[0][h]);
    let a = |h: usize| -w.vecs[1][h].exp();
    let o = per_head(|h, t, s| {
        let decay = (dt(t, h) * a(h)).exp();
        let (b, u_t) = (b.head(t, h), u.head(t, h));
        for i in 0..DH {
            for j in 0..DH {
                s[i][j] = decay * s[i][j] + b[i] * dt(t, h) * u_t[j];
            }
        }
        let mut o = read(s, &c.head(t, h));
        for (j, value) in o.iter_mut().enumerate() {
            *value += w.vecs[2][h] * u_t[j];
        }
        o
    });
    gate_out(&o, w, 3, 4, 5, x)
}

/// DeltaNet family: `S ← α (S + β k (v − Sᵀk)ᵀ)` rewritten as in the papers:
/// `S ← α S − α β k (kᵀ S) + β k vᵀ`.
fn delta(x: &M, w: &W, beta_scale: f64, gated: bool) -> M {
    let q = l2norm(&conv(&x.mm(&w.mats[0]), &w.kers[0]).map(silu));
    let k = l2norm(&conv(&x.mm(&w.mats[1]), &w.kers[1]).map(silu));
    let v = conv(&x.mm(&w.mats[2]), &w.kers[2]).map(silu);
    let beta = x.mm(&w.mats[3]).map(|z| beta_scale * sigmoid(z));
    let alpha_raw = if gated { Some(x.mm(&w.mats[4])) } else { None };
    let o = per_head(|h, t, s| {
        let alpha = alpha_raw
            .as_ref()
            .map_or(1.0, |raw| (-w.vecs[0][h].exp() * softplus(raw.at(t, h) + w.vecs[1][h])).exp());
        let (k, v, b) = (k.head(t, h), v.head(t, h), beta.at(t, h));
        let kts: Vec<f64> = (0..DH).map(|j| (0..DH).map(|i| k[i] * s[i][j]).sum()).collect();
        for i in 0..DH {
            for j in 0..DH {
                s[i][j] = alpha * (s[i][j] - b * k[i] * kts[j]) + b * k[i] * v[j];
            }
        }
        read(s, &q.head(t, h))
    });
    if gated { gate_out(&o, w, 2, 5, 6, x) } else { rmsnorm(&o, &w.vecs[0]).mm(&w.mats[4]) }
}

/// A per-channel parameter repeated over time, to combine with a `T × D` matrix.
fn per_channel(values: &[f64]) -> M {
    M { rows: T, cols: D, v: (0..T).flat_map(|_| values.to_vec()).collect() }
}

/// RWKV-7 after fla's RWKV7Attention: token shift per branch (`x + (x_{t−1} − x) μ`),
/// `w = exp(−0.606531 σ(tanh(x W) W' + w0))`, `a = σ(x W W' + a0)`, `kk = L2norm(k k_k)`,
/// the written key `k (1 + (a − 1) k_a)`, `S ← (diag(w) − (a kk) kkᵀ) S + k vᵀ`, the bonus
/// `(Σ r r_k k) v` per head, and the output `((rmsnorm(o) + bonus) ⊙ (σ(x W) W')) W_o`.
fn rwkv7(x: &M, w: &W) -> M {
    let shifted =
        M { rows: T, cols: D, v: (0..T * D).map(|n| if n < D { 0.0 } else { x.v[n - D] }).collect() };
    let mix = |i: usize| {
        let mu = per_channel(&w.vecs[i]);
        x.zip(&shifted, |a, b| b - a).zip(&mu, |dx, m| dx * m).zip(x, |a, b| a + b)
    };
    let (xr, xw, xk, xv, xa, xg) = (mix(0), mix(1), mix(2), mix(3), mix(4), mix(5));
    let (r, k0, v) = (xr.mm(&w.mats[0]), xk.mm(&w.mats[1]), xv.mm(&w.mats[2]));
    let decay = xw
        .mm(&w.mats[3])
        .map(f64::tanh)
        .mm(&w.mats[4])
        .zip(&per_channel(&w.vecs[6]), |z, b| (-0.606531 * sigmoid(z + b)).exp());
    let a = xa.mm(&w.mats[5]).mm(&w.mats[6]).zip(&per_channel(&w.vecs[7]), |z, b| sigmoid(z + b));
    let kk = l2norm(&k0.zip(&per_channel(&w.vecs[8]), |a, b| a * b));
    let k_a = per_channel(&w.vecs[9]);
    let k = k0.zip(&a.zip(&k_a, |a, ka| 1.0 + (a - 1.0) * ka), |k, scale| k * scale);
    let o = per_head(|h, t, s| {
        let (k, v, wd, a, kk) = (k.head(t, h), v.head(t, h), decay.head(t, h), a.head(t, h), kk.head(t, h));
        let kks: Vec<f64> = (0..DH).map(|j| (0..DH).map(|i| kk[i] * s[i][j]).sum()).collect();
        for i in 0..DH {
            for j in 0..DH {
                s[i][j] = wd[i] * s[i][j] - a[i] * kk[i] * kks[j] + k[i] * v[j];
            }
        }
        read(s, &r.head(t, h))
    });
    let mut bonus = M::zeros(T, D);
    for t in 0..T {
        for h in 0..H {
            let (r, k, v) = (r.head(t, h), k.head(t, h), v.head(t, h));
            let dot: f64 = (0..DH).map(|i| r[i] * w.vecs[10][h * DH + i] * k[i]).sum();
            for (j, value) in v.iter().enumerate() {
                bonus.set(t, h * DH + j, dot * value);
            }
        }
    }
    let gate = xg.mm(&w.mats[7]).map(sigmoid).mm(&w.mats[8]);
    rmsnorm(&o, &w.vecs[11]).zip(&bonus, |a, b| a + b).zip(&gate, |a, b| a * b).mm(&w.mats[9])
}

fn short_conv(x: &M, w: &W) -> M {
    let u = conv(&x.mm(&w.mats[0]), &w.kers[0]);
    let g = x.mm(&w.mats[1]).map(sigmoid);
    u.map(silu).zip(&g, |a, b| a * b).mm(&w.mats[2])
}

fn softmax_attention(x: &M, w: &W) -> M {
    let q = x.mm(&w.mats[0]);
    let (k, v) = (conv(&x.mm(&w.mats[1]), &w.kers[0]), conv(&x.mm(&w.mats[2]), &w.kers[1]));
    let mut o = M::zeros(T, D);
    for h in 0..H {
        for t in 0..T {
            let qt = q.head(t, h);
            let scores: Vec<f64> = (0..=t)
                .map(|s| k.head(s, h).iter().zip(&qt).map(|(a, b)| a * b).sum::<f64>() / (DH as f64).sqrt())
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            for j in 0..DH {
                let value: f64 = (0..=t).map(|s| weights[s] / total * v.at(s, h * DH + j)).sum();
                o.set(t, h * DH + j, value);
            }
        }
    }
    o.mm(&w.mats[3])
}

fn reference(name: &str) -> fn(&M, &W) -> M {
    match name {
        "linear_attention" => linear_attention,
        "retnet" => retnet,
        "gla" => gla,
        "mamba2" => mamba2,
        "deltanet" => |x, w| delta(x, w, 1.0, false),
        "deltanet_negative" => |x, w| delta(x, w, 2.0, false),
        "gated_deltanet" => |x, w| delta(x, w, 1.0, true),
        "rwkv7" => rwkv7,
        "short_conv" => short_conv,
        "softmax_attention" => softmax_attention,
        other => panic!("no reference for {other}"),
    }
}

#[test]
fn every_baseline_matches_its_hand_written_reference() {
    let device = Device::flex();
    for baseline in baselines::ALL {
        let graph = check(&baseline.program(), Dims { d: D as u32, h: H as u32 }).graph.unwrap();
        let weights = init_weights(&graph, ModelSize { layers: 1, vocab: 8 }, 17, &device);
        let mixer_weights = &weights.blocks[0].mixer;
        let mut rng = Rng::new(99);
        let x: Vec<f32> = (0..T * D).map(|_| rng.normal() as f32).collect();
        let input = Tensor::<3>::from_data(TensorData::new(x.clone(), [1, T, D]), &device);
        let compiled: Vec<f64> = mixer(&graph, mixer_weights, input)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let x = M { rows: T, cols: D, v: x.into_iter().map(f64::from).collect() };
        let expected = reference(baseline.name)(&x, &extract(mixer_weights));
        assert!(compiled.iter().all(|v| v.is_finite()), "{}: compiled output has NaN/inf", baseline.name);
        assert!(expected.v.iter().all(|v| v.is_finite()), "{}: reference output has NaN/inf", baseline.name);
        let diff: f64 = compiled.iter().zip(&expected.v).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = expected.v.iter().map(|b| b * b).sum::<f64>().sqrt();
        assert!(norm > 1e-3, "{}: reference output is degenerate (norm {norm})", baseline.name);
        let relative = diff / norm;
        assert!(
            relative < 1e-4,
            "{}: mixer output differs from the reference: relative error {relative:.2e}",
            baseline.name
        );
    }
}
