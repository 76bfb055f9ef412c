//! The learned weights of a compiled program, as burn modules, and their seeded initialisation.
//!
//! Weights are drawn on the host from [`Rng`] streams named after the block and the node, so
//! they depend only on the seed and the program — never on a backend's global generator — and
//! the reference implementations in the tests can read back exactly the same numbers.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use crate::lang::graph::Init;
use crate::lang::{Graph, MlpKind, NodeKind, NormKind, Unary};
use crate::rng::Rng;

/// Where a node's weights live in [`MixerWeights`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// `matrices[i]`: a `proj` (`[in, out]`) or a `route` router (`[in, paths·h]`).
    Matrix(usize),
    /// `kernels[i]`: a `conv` (`[width, kernel]`).
    Kernel(usize),
    /// `vectors[i]`: a `param`, or an `rmsnorm` scale.
    Vector(usize),
}

/// For every node of `graph`, where its weights are (`None` for weightless nodes).
pub fn slots(graph: &Graph) -> Vec<Option<Slot>> {
    let (mut matrices, mut kernels, mut vectors) = (0, 0, 0);
    let next = |counter: &mut usize, make: fn(usize) -> Slot| {
        *counter += 1;
        Some(make(*counter - 1))
    };
    graph
        .nodes
        .iter()
        .map(|node| match node.kind {
            NodeKind::Proj { .. } | NodeKind::Route { .. } => next(&mut matrices, Slot::Matrix),
            NodeKind::Conv { .. } => next(&mut kernels, Slot::Kernel),
            NodeKind::Param { .. } | NodeKind::Unary { op: Unary::RmsNorm, .. } => {
                next(&mut vectors, Slot::Vector)
            }
            _ => None,
        })
        .collect()
}

/// One mixer's weights.
#[derive(Module, Debug)]
pub struct MixerWeights {
    /// Projection and router matrices, in node order.
    pub matrices: Vec<Param<Tensor<2>>>,
    /// Convolution kernels `[width, kernel]`, in node order.
    pub kernels: Vec<Param<Tensor<2>>>,
    /// Learned vectors and RMSNorm scales, in node order.
    pub vectors: Vec<Param<Tensor<1>>>,
}

/// A norm's scale (and bias, for LayerNorm).
#[derive(Module, Debug)]
pub struct NormWeights {
    /// Per-channel scale.
    pub scale: Param<Tensor<1>>,
    /// Per-channel bias (LayerNorm only).
    pub bias: Option<Param<Tensor<1>>>,
}

/// One block: norm, mixer, norm, MLP.
#[derive(Module, Debug)]
pub struct BlockWeights {
    /// Norm before the mixer.
    pub mixer_norm: Option<NormWeights>,
    /// The mixer.
    pub mixer: MixerWeights,
    /// Norm before the MLP.
    pub mlp_norm: Option<NormWeights>,
    /// `[d, hidden]` (GELU) or `[d, 2·hidden]` (SwiGLU: gate and up side by side).
    pub mlp_in: Option<Param<Tensor<2>>>,
    /// `[hidden, d]`.
    pub mlp_out: Option<Param<Tensor<2>>>,
}

/// The whole language model: embedding, blocks, final norm, output head.
#[derive(Module, Debug)]
pub struct ModelWeights {
    /// `[vocab, d]`.
    pub embedding: Param<Tensor<2>>,
    /// The blocks, input to output.
    pub blocks: Vec<BlockWeights>,
    /// RMSNorm before the head.
    pub final_norm: NormWeights,
    /// `[d, vocab]`.
    pub head: Param<Tensor<2>>,
}

/// Draws weights; each tensor from its own named stream.
struct Initialiser<'a> {
    seed: u64,
    device: &'a Device,
}

impl Initialiser<'_> {
    fn values(&self, stream: &str, n: usize, f: impl Fn(&mut Rng, usize) -> f64) -> Vec<f32> {
        let mut rng = Rng::stream(self.seed, stream);
        (0..n).map(|i| f(&mut rng, i) as f32).collect()
    }

    fn matrix(&self, stream: &str, rows: usize, cols: usize, std: f64) -> Param<Tensor<2>> {
        let data = self.values(stream, rows * cols, |r, _| r.normal() * std);
        Param::from_tensor(Tensor::from_data(TensorData::new(data, [rows, cols]), self.device))
    }

    fn vector(&self, stream: &str, n: usize, f: impl Fn(&mut Rng, usize) -> f64) -> Param<Tensor<1>> {
        Param::from_tensor(Tensor::from_data(TensorData::new(self.values(stream, n, f), [n]), self.device))
    }

    fn norm(&self, kind: NormKind, d: usize) -> Option<NormWeights> {
        match kind {
            NormKind::None => None,
            NormKind::RmsNorm => Some(NormWeights { scale: self.vector("ones", d, |_, _| 1.0), bias: None }),
            NormKind::LayerNorm => Some(NormWeights {
                scale: self.vector("ones", d, |_, _| 1.0),
                bias: Some(self.vector("zeros", d, |_, _| 0.0)),
            }),
        }
    }

    fn mixer(&self, graph: &Graph, block: usize) -> MixerWeights {
        let mut weights = MixerWeights { matrices: Vec::new(), kernels: Vec::new(), vectors: Vec::new() };
        let width = |id: usize| graph.nodes[id].ty.width() as usize;
        for (id, node) in graph.nodes.iter().enumerate() {
            let stream = format!("block{block}/node{id}");
            match &node.kind {
                NodeKind::Proj { input, width: out } => {
                    let fan_in = width(*input);
                    weights.matrices.push(self.matrix(
                        &stream,
                        fan_in,
                        *out as usize,
                        (fan_in as f64).powf(-0.5),
                    ));
                }
                NodeKind::Route { router, paths } => {
                    let fan_in = width(*router);
                    let cols = paths.len() * graph.dims.h as usize;
                    weights.matrices.push(self.matrix(
                        &stream,
                        fan_in,
                        cols,
                        0.1 * (fan_in as f64).powf(-0.5),
                    ));
                }
                NodeKind::Conv { input, kernel } => {
                    let (w, k) = (width(*input), *kernel as usize);
                    // Identity-leaning start: the current token's tap begins near 1.
                    let data = self.values(&stream, w * k, |r, i| {
                        let tap = i % k;
                        r.normal() * (k as f64).powf(-0.5) * 0.5 + if tap == 0 { 1.0 } else { 0.0 }
                    });
                    weights.kernels.push(Param::from_tensor(Tensor::from_data(
                        TensorData::new(data, [w, k]),
                        self.device,
                    )));
                }
                NodeKind::Param { width: n, init } => {
                    let n = *n as usize;
                    let param = match *init {
                        Init::Zero => self.vector(&stream, n, |_, _| 0.0),
                        Init::One => self.vector(&stream, n, |_, _| 1.0),
                        Init::Normal => self.vector(&stream, n, |r, _| r.normal() * 0.02),
                        Init::Range(lo, hi) => self.vector(&stream, n, move |_, i| {
                            if n == 1 { lo } else { lo + (hi - lo) * i as f64 / (n - 1) as f64 }
                        }),
                    };
                    weights.vectors.push(param);
                }
                NodeKind::Unary { op: Unary::RmsNorm, input } => {
                    weights.vectors.push(self.vector(&stream, width(*input), |_, _| 1.0));
                }
                _ => {}
            }
        }
        weights
    }
}

/// Sizes of a model beyond the mixer's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSize {
    /// Blocks.
    pub layers: u32,
    /// Vocabulary (input and output tokens).
    pub vocab: u32,
}

/// Fresh weights for `graph` at `size`, determined by `seed`.
pub fn init_weights(graph: &Graph, size: ModelSize, seed: u64, device: &Device) -> ModelWeights {
    let init = Initialiser { seed, device };
    let d = graph.dims.d as usize;
    let vocab = size.vocab as usize;
    let hidden = d * graph.block.mlp_ratio as usize;
    let blocks = (0..size.layers as usize)
        .map(|layer| {
            let stream = |name: &str| format!("block{layer}/{name}");
            let (mlp_in, mlp_out) = match graph.block.mlp {
                MlpKind::None => (None, None),
                MlpKind::Gelu => (
                    Some(init.matrix(&stream("mlp_in"), d, hidden, (d as f64).powf(-0.5))),
                    Some(init.matrix(
                        &stream("mlp_out"),
                        hidden,
                        d,
                        (hidden as f64).powf(-0.5) / (2.0 * size.layers as f64).sqrt(),
                    )),
                ),
                MlpKind::SwiGlu => (
                    Some(init.matrix(&stream("mlp_in"), d, 2 * hidden, (d as f64).powf(-0.5))),
                    Some(init.matrix(
                        &stream("mlp_out"),
                        hidden,
                        d,
                        (hidden as f64).powf(-0.5) / (2.0 * size.layers as f64).sqrt(),
                    )),
                ),
            };
            BlockWeights {
                mixer_norm: init.norm(graph.block.norm, d),
                mixer: init.mixer(graph, layer),
                mlp_norm: if graph.block.mlp == MlpKind::None {
                    None
                } else {
                    init.norm(graph.block.norm, d)
                },
                mlp_in,
                mlp_out,
            }
        })
        .collect();
    ModelWeights {
        embedding: init.matrix("embedding", vocab, d, 1.0),
        blocks,
        final_norm: NormWeights { scale: init.vector("final_norm", d, |_, _| 1.0), bias: None },
        head: init.matrix("head", d, vocab, (d as f64).powf(-0.5)),
    }
}
