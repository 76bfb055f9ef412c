//! The syntax tree of a program, as written (names, spans), before checking.

use super::diagnostic::Span;

/// A whole program: the token mixer and the block around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Leading `#` comment lines (without the `#` and one following space), kept and printed.
    pub doc: Vec<String>,
    /// Name after `mixer`.
    pub name: String,
    /// `name = expr` lines, in order.
    pub bindings: Vec<Binding>,
    /// The expression after `return`: the mixer's output.
    pub output: Expr,
    /// The block around the mixer.
    pub block: BlockSpec,
}

/// `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// Bound name.
    pub name: String,
    /// Where the name is written.
    pub name_span: Span,
    /// The expression.
    pub value: Expr,
}

/// An expression with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal.
    Number(f64),
    /// A name: a binding, `x` (the mixer input), or a size (`d`, `h`).
    Name(String),
    /// `-e`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `op(args…)`.
    Call {
        /// Operation name.
        op: String,
        /// Where the operation name is written.
        op_span: Span,
        /// Arguments, positional first, then `name = value`.
        args: Vec<Arg>,
    },
}

/// One call argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for `name = value` arguments.
    pub name: Option<(String, Span)>,
    /// The value.
    pub value: Expr,
}

/// Binary operators, by increasing precedence: `+ -` then `* /`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinOp {
    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }

    /// `a op b == b op a`.
    pub fn is_commutative(self) -> bool {
        matches!(self, BinOp::Add | BinOp::Mul)
    }
}

/// The block around the mixer: pre-norm residual for the mixer, then an optional MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    /// Norm before the mixer and the MLP.
    pub norm: NormKind,
    /// The MLP after the mixer.
    pub mlp: MlpKind,
    /// MLP hidden width as a multiple of `d`.
    pub mlp_ratio: u32,
}

impl Default for BlockSpec {
    fn default() -> Self {
        Self { norm: NormKind::RmsNorm, mlp: MlpKind::SwiGlu, mlp_ratio: 4 }
    }
}

/// Block norms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm with a learned scale.
    RmsNorm,
    /// LayerNorm with learned scale and bias.
    LayerNorm,
    /// No norm.
    None,
}

/// Block MLPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlpKind {
    /// `W_down(silu(W_gate x) * W_up x)`.
    SwiGlu,
    /// `W_down(gelu(W_up x))`.
    Gelu,
    /// No MLP: the block is the mixer alone.
    None,
}

impl NormKind {
    /// Every option with its name in the language.
    pub const ALL: [(NormKind, &'static str); 3] =
        [(NormKind::RmsNorm, "rmsnorm"), (NormKind::LayerNorm, "layernorm"), (NormKind::None, "none")];
}

impl MlpKind {
    /// Every option with its name in the language.
    pub const ALL: [(MlpKind, &'static str); 3] =
        [(MlpKind::SwiGlu, "swiglu"), (MlpKind::Gelu, "gelu"), (MlpKind::None, "none")];
}

/// The name of an option in the language.
pub fn option_name<T: PartialEq + Copy>(all: &[(T, &'static str)], value: T) -> &'static str {
    all.iter().find(|(v, _)| *v == value).map(|(_, n)| *n).expect("every option has a name")
}
