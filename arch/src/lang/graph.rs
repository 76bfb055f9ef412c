//! The checked program: a typed graph of tensor operations with concrete widths. This is what
//! the compiler and the reference interpreter execute.

use super::ast::{BinOp, BlockSpec};
use super::diagnostic::Span;
use crate::backend::Numerics;

/// Model sizes a program is instantiated at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Model width `d`.
    pub d: u32,
    /// Heads `h` of the token mixer; every width is a multiple of it.
    pub h: u32,
}

impl Dims {
    /// Sizes used when none are given (the exploration stage's).
    pub const DEFAULT: Dims = Dims { d: 64, h: 4 };
}

/// The type of a value: its width and whether it varies over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A number.
    Scalar,
    /// A learned or constant vector of this width, the same at every position.
    Vector(u32),
    /// A vector of this width per position: `[batch, time, width]`.
    Seq(u32),
}

impl Ty {
    /// The width (1 for scalars).
    pub fn width(self) -> u32 {
        match self {
            Ty::Scalar => 1,
            Ty::Vector(w) | Ty::Seq(w) => w,
        }
    }

    /// How the language writes it, e.g. `seq[64]`.
    pub fn describe(self) -> String {
        match self {
            Ty::Scalar => "a number".into(),
            Ty::Vector(w) => format!("a constant vector of width {w}"),
            Ty::Seq(w) => format!("a sequence of width {w}"),
        }
    }
}

/// Index of a node in [`Graph::nodes`]; nodes only refer to earlier nodes.
pub type NodeId = usize;

/// Elementwise (or per-head) functions of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unary {
    /// `-a`
    Neg,
    /// `a · σ(a)`
    Silu,
    /// `σ(a)`
    Sigmoid,
    /// `log(1 + e^a)`
    Softplus,
    /// `e^a`
    Exp,
    /// `max(a, 0)`
    Relu,
    /// Gaussian error linear unit (exact, with erf).
    Gelu,
    /// `tanh(a)`
    Tanh,
    /// `log σ(a)`
    LogSigmoid,
    /// `2^a`
    Pow2,
    /// Per head: `a / ‖a‖₂`.
    L2Norm,
    /// Per head: `a / rms(a)`, times a learned scale per channel.
    RmsNorm,
}

impl Unary {
    /// Every unary operation with its name in the language (`Neg` is written `-a`).
    pub const ALL: [(Unary, &'static str); 11] = [
        (Unary::Silu, "silu"),
        (Unary::Sigmoid, "sigmoid"),
        (Unary::Softplus, "softplus"),
        (Unary::Exp, "exp"),
        (Unary::Relu, "relu"),
        (Unary::Gelu, "gelu"),
        (Unary::Tanh, "tanh"),
        (Unary::LogSigmoid, "logsigmoid"),
        (Unary::Pow2, "pow2"),
        (Unary::L2Norm, "l2norm"),
        (Unary::RmsNorm, "rmsnorm"),
    ];
}

/// How a learned vector starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zero,
    /// All ones.
    One,
    /// Normal, standard deviation 0.02.
    Normal,
    /// Evenly spaced from `lo` to `hi` across the entries.
    Range(f64, f64),
}

/// One operation.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `x`, the mixer's input (`seq[d]`).
    Input,
    /// A number.
    Const(f64),
    /// `head_index()`: the vector `0, 1, …, h−1`.
    HeadIndex,
    /// `param(width, init = …)`: a learned vector.
    Param {
        /// Width.
        width: u32,
        /// Initial values.
        init: Init,
    },
    /// `proj(input, width)`: a learned linear map without bias.
    Proj {
        /// Input.
        input: NodeId,
        /// Output width.
        width: u32,
    },
    /// `conv(input, kernel)`: depthwise causal convolution over time, learned weights.
    Conv {
        /// Input.
        input: NodeId,
        /// Kernel length (taps at t, t−1, …).
        kernel: u32,
    },
    /// `shift(input, by)`: `out_t = in_{t−by}` (zeros outside); `by < 0` reads the future.
    Shift {
        /// Input.
        input: NodeId,
        /// Positions into the past (negative: into the future).
        by: i32,
    },
    /// A unary function.
    Unary {
        /// Which.
        op: Unary,
        /// Input.
        input: NodeId,
    },
    /// `lhs op rhs`, broadcasting scalars and per-head values.
    Binary {
        /// Which.
        op: BinOp,
        /// Left operand.
        lhs: NodeId,
        /// Right operand.
        rhs: NodeId,
    },
    /// `recur(q, k, v, decay =, erase =, along =)`: per head, with state `S` (`dk × dv`),
    /// `S_t = Diag(decay_t) S_{t−1} − erase_t (along_tᵀ S_{t−1}) + k_t v_tᵀ`, output `S_tᵀ q_t`.
    Recur {
        /// Query (`h·dk`).
        q: NodeId,
        /// Key written (`h·dk`).
        k: NodeId,
        /// Value written (`h·dv`).
        v: NodeId,
        /// Decay: per head (`h`) or per key channel (`h·dk`); none means 1.
        decay: Option<NodeId>,
        /// Erase vector (`h·dk`), with `along`: the rank-one removal `erase (alongᵀ S)`.
        erase: Option<NodeId>,
        /// The direction read for erasing (`h·dk`).
        along: Option<NodeId>,
    },
    /// `attention(q, k, v, mask = causal | none)`: softmax attention per head.
    Attention {
        /// Query.
        q: NodeId,
        /// Key.
        k: NodeId,
        /// Value.
        v: NodeId,
        /// Whether position t only sees positions ≤ t.
        causal: bool,
    },
    /// `route(router, p1, …, pn)`: per head, a softmax over the paths computed from a learned
    /// projection of `router`, mixing the paths.
    Route {
        /// What the routing weights are computed from.
        router: NodeId,
        /// The paths (same width).
        paths: Vec<NodeId>,
    },
}

/// A node: operation, type and where the program wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operation.
    pub kind: NodeKind,
    /// Its result type.
    pub ty: Ty,
    /// Source location.
    pub span: Span,
}

/// A checked program at concrete sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Operations in evaluation order; each refers only to earlier ones. Every node contributes
    /// to the output (unused code is removed).
    pub nodes: Vec<Node>,
    /// The mixer's output node (`seq[d]`).
    pub output: NodeId,
    /// The block around the mixer.
    pub block: BlockSpec,
    /// Sizes.
    pub dims: Dims,
    /// The arrangement of the arithmetic to train with: the current one, or a recorded run's
    /// when it is trained again.
    pub numerics: Numerics,
}

impl NodeKind {
    /// The nodes this one reads.
    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            NodeKind::Input | NodeKind::Const(_) | NodeKind::HeadIndex | NodeKind::Param { .. } => vec![],
            NodeKind::Proj { input, .. }
            | NodeKind::Conv { input, .. }
            | NodeKind::Shift { input, .. }
            | NodeKind::Unary { input, .. } => vec![*input],
            NodeKind::Binary { lhs, rhs, .. } => vec![*lhs, *rhs],
            NodeKind::Recur { q, k, v, decay, erase, along } => {
                let mut ids = vec![*q, *k, *v];
                ids.extend(decay.iter().chain(erase).chain(along));
                ids
            }
            NodeKind::Attention { q, k, v, .. } => vec![*q, *k, *v],
            NodeKind::Route { router, paths } => {
                std::iter::once(*router).chain(paths.iter().copied()).collect()
            }
        }
    }
}

impl Graph {
    /// Learned parameters of one mixer (excluding the block's norms and MLP).
    pub fn mixer_params(&self) -> u64 {
        self.nodes
            .iter()
            .map(|node| {
                let width_of = |id: NodeId| self.nodes[id].ty.width() as u64;
                match &node.kind {
                    NodeKind::Param { width, .. } => *width as u64,
                    NodeKind::Proj { input, width } => width_of(*input) * *width as u64,
                    NodeKind::Conv { input, kernel } => width_of(*input) * *kernel as u64,
                    NodeKind::Unary { op: Unary::RmsNorm, input } => width_of(*input),
                    NodeKind::Route { router, paths } => {
                        width_of(*router) * (paths.len() as u64 * self.dims.h as u64)
                    }
                    _ => 0,
                }
            })
            .sum()
    }

    /// Learned parameters of one block: mixer, norms and MLP.
    pub fn block_params(&self) -> u64 {
        let d = self.dims.d as u64;
        let norm = match self.block.norm {
            super::ast::NormKind::RmsNorm => d,
            super::ast::NormKind::LayerNorm => 2 * d,
            super::ast::NormKind::None => 0,
        };
        let hidden = d * self.block.mlp_ratio as u64;
        let mlp = match self.block.mlp {
            super::ast::MlpKind::SwiGlu => 3 * d * hidden,
            super::ast::MlpKind::Gelu => 2 * d * hidden,
            super::ast::MlpKind::None => 0,
        };
        let norms = if self.block.mlp == super::ast::MlpKind::None { norm } else { 2 * norm };
        self.mixer_params() + norms + mlp
    }
}
