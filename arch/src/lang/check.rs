//! Type and shape checking: [`Program`] + [`Dims`] → [`Graph`], or diagnostics that say what is
//! wrong and how to fix it.
//!
//! Rules, in short: `x` is `seq[d]`; every width is a positive multiple of `h`; binary operations
//! need equal widths, or a number, or a per-head value (`h` wide) against a multi-head one; the
//! mixer returns `seq[d]`. Widths are written with `d`, `h`, whole numbers, `*` and `/`.

use std::collections::{HashMap, HashSet};

use super::ast::{Arg, BinOp, Expr, ExprKind, Program};
use super::diagnostic::{Diagnostic, ErrorClass, Span, closest};
use super::graph::{Dims, Graph, Init, Node, NodeId, NodeKind, Ty, Unary};
use crate::backend::Numerics;
use crate::limits::DIAGNOSTICS_MAX;

/// Widest value allowed, as a multiple of `d`: bounds parameter count and memory.
pub const WIDTH_MAX_FACTOR: u32 = 16;
/// Longest causal-convolution kernel.
pub const CONV_KERNEL_MAX: u32 = 8;
/// Largest shift, in positions.
pub const SHIFT_MAX: i32 = 16;
/// Most paths a `route` mixes.
pub const ROUTE_PATHS_MAX: usize = 4;
/// Most operations in one mixer.
pub const NODES_MAX: usize = 256;

/// The operations a program can call.
pub const OPS: &[&str] = &[
    "proj",
    "conv",
    "shift",
    "param",
    "head_index",
    "recur",
    "attention",
    "route",
    "silu",
    "sigmoid",
    "softplus",
    "exp",
    "relu",
    "gelu",
    "tanh",
    "logsigmoid",
    "pow2",
    "l2norm",
    "rmsnorm",
];

/// Names a binding may not take.
const RESERVED: &[&str] = &["x", "d", "h", "mixer", "return", "block"];

/// Result of checking: the graph when there are no errors, and every diagnostic (errors and
/// warnings).
#[derive(Clone, Debug)]
pub struct Checked {
    /// The typed graph, if the program has no errors.
    pub graph: Option<Graph>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks `program` at sizes `dims`.
pub fn check(program: &Program, dims: Dims) -> Checked {
    let mut checker = Checker {
        dims,
        nodes: Vec::new(),
        scope: HashMap::new(),
        failed: HashSet::new(),
        diagnostics: Vec::new(),
        errors: 0,
    };
    let input = checker.push(NodeKind::Input, Ty::Seq(dims.d), Span::default());
    checker.scope.insert("x".into(), input);
    if dims.h == 0 || dims.d == 0 || !dims.d.is_multiple_of(dims.h) {
        checker.diagnostics.push(Diagnostic::error(
            ErrorClass::WidthNotDivisible,
            Span::default(),
            format!("model width d = {} is not a positive multiple of h = {}", dims.d, dims.h),
        ));
        return Checked { graph: None, diagnostics: checker.diagnostics };
    }
    let mut bound: Vec<(&str, Span, Option<NodeId>)> = Vec::new();
    // Names bound so far: a set, so that finding a redefinition is not a walk over every binding.
    let mut names: HashSet<&str> = HashSet::new();
    for binding in &program.bindings {
        if checker.errors >= DIAGNOSTICS_MAX {
            break; // the first errors say what to fix; going on costs work and says little more
        }
        if RESERVED.contains(&binding.name.as_str()) || OPS.contains(&binding.name.as_str()) {
            checker.errors += 1;
            checker.diagnostics.push(
                Diagnostic::error(
                    ErrorClass::ReservedName,
                    binding.name_span,
                    format!("`{}` is reserved and cannot be bound", binding.name),
                )
                .with_suggestion(format!("rename it, e.g. `{}_`", binding.name)),
            );
            continue;
        }
        if !names.insert(binding.name.as_str()) {
            checker.errors += 1;
            checker.diagnostics.push(
                Diagnostic::error(
                    ErrorClass::Redefinition,
                    binding.name_span,
                    format!("`{}` is already bound; bindings cannot be reassigned", binding.name),
                )
                .with_suggestion(format!("give the new value its own name, e.g. `{}2`", binding.name)),
            );
            continue;
        }
        let node = checker.lower(&binding.value).ok();
        match node {
            Some(node) => {
                checker.scope.insert(binding.name.clone(), node);
            }
            // Already reported: later uses of the name fail quietly instead of cascading.
            None => {
                checker.failed.insert(binding.name.clone());
            }
        }
        bound.push((binding.name.as_str(), binding.name_span, node));
    }
    let output = checker.lower(&program.output).ok();
    if let Some(output) = output {
        checker.check_output(output, program.output.span);
    }
    let has_errors = checker.diagnostics.iter().any(Diagnostic::is_error);
    let Some(output) = output.filter(|_| !has_errors) else {
        return Checked { graph: None, diagnostics: checker.diagnostics };
    };
    let reachable = checker.reachable(output);
    for (name, span, node) in &bound {
        if node.is_some_and(|n| !reachable[n]) {
            checker.diagnostics.push(
                Diagnostic::warning(ErrorClass::UnusedBinding, *span, format!("`{name}` is never used"))
                    .with_suggestion("use it, or delete the line"),
            );
        }
    }
    checker.diagnostics.sort_by_key(|d| (d.span.line, d.span.column));
    let graph = checker.to_graph(output, &reachable, program);
    Checked { graph: Some(graph), diagnostics: checker.diagnostics }
}

struct Checker {
    dims: Dims,
    nodes: Vec<Node>,
    scope: HashMap<String, NodeId>,
    /// Bindings whose definition had errors.
    failed: HashSet<String>,
    diagnostics: Vec<Diagnostic>,
    /// Errors among the diagnostics: checking stops at [`DIAGNOSTICS_MAX`].
    errors: usize,
}

/// Lowering failed; the diagnostic is already recorded.
struct Reported;

type Lowered = Result<NodeId, Reported>;

impl Checker {
    fn push(&mut self, kind: NodeKind, ty: Ty, span: Span) -> NodeId {
        self.nodes.push(Node { kind, ty, span });
        self.nodes.len() - 1
    }

    fn report(&mut self, diagnostic: Diagnostic) -> Reported {
        self.errors += usize::from(diagnostic.is_error());
        self.diagnostics.push(diagnostic);
        Reported
    }

    fn ty(&self, id: NodeId) -> Ty {
        self.nodes[id].ty
    }

    fn lower(&mut self, expr: &Expr) -> Lowered {
        if self.errors >= DIAGNOSTICS_MAX {
            return Err(Reported);
        }
        if self.nodes.len() >= NODES_MAX {
            return Err(self.report(
                Diagnostic::error(
                    ErrorClass::BadArgument,
                    expr.span,
                    format!("more than {NODES_MAX} operations"),
                )
                .with_suggestion("simplify the mixer"),
            ));
        }
        match &expr.kind {
            ExprKind::Number(value) => Ok(self.push(NodeKind::Const(*value), Ty::Scalar, expr.span)),
            ExprKind::Name(name) => self.name(name, expr.span),
            ExprKind::Neg(inner) => {
                let input = self.lower(inner)?;
                let ty = self.ty(input);
                Ok(self.push(NodeKind::Unary { op: Unary::Neg, input }, ty, expr.span))
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let (lhs, rhs) = (self.lower(lhs), self.lower(rhs));
                let (lhs, rhs) = (lhs?, rhs?);
                let ty = self.broadcast(*op, lhs, rhs, expr.span)?;
                Ok(self.push(NodeKind::Binary { op: *op, lhs, rhs }, ty, expr.span))
            }
            ExprKind::Call { op, op_span, args } => self.call(op, *op_span, args, expr.span),
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Lowered {
        if let Some(&id) = self.scope.get(name) {
            return Ok(id);
        }
        if self.failed.contains(name) {
            return Err(Reported);
        }
        match name {
            "d" => Ok(self.push(NodeKind::Const(self.dims.d as f64), Ty::Scalar, span)),
            "h" => Ok(self.push(NodeKind::Const(self.dims.h as f64), Ty::Scalar, span)),
            _ => {
                let mut d =
                    Diagnostic::error(ErrorClass::UnknownName, span, format!("`{name}` is not defined"));
                let names: Vec<&str> = self.scope.keys().map(String::as_str).collect();
                if let Some(near) = closest(name, names.iter().copied()) {
                    d = d.with_suggestion(format!("did you mean `{near}`?"));
                } else if OPS.contains(&name) {
                    d = d.with_suggestion(format!("`{name}` is an operation: call it, `{name}(…)`"));
                } else {
                    d = d.with_suggestion("bind it first: `NAME = expression`");
                }
                Err(self.report(d))
            }
        }
    }

    /// The type of `lhs op rhs`, or a width-mismatch diagnostic.
    fn broadcast(&mut self, op: BinOp, lhs: NodeId, rhs: NodeId, span: Span) -> Result<Ty, Reported> {
        let (a, b) = (self.ty(lhs), self.ty(rhs));
        if op == BinOp::Div && b != Ty::Scalar {
            return Err(self.report(
                Diagnostic::error(ErrorClass::BadArgument, span, "division is only by a number")
                    .with_suggestion("multiply by a gate such as sigmoid(…) instead of dividing by a tensor"),
            ));
        }
        let h = self.dims.h;
        let width = match (a, b) {
            (Ty::Scalar, other) | (other, Ty::Scalar) => return Ok(other),
            _ if a.width() == b.width() => a.width(),
            _ if a.width() == h && b.width() % h == 0 => b.width(),
            _ if b.width() == h && a.width() % h == 0 => a.width(),
            _ => {
                return Err(self.report(
                    Diagnostic::error(
                        ErrorClass::WidthMismatch,
                        span,
                        format!(
                            "`{}` combines widths {} and {}, which do not fit",
                            op.symbol(),
                            a.width(),
                            b.width()
                        ),
                    )
                    .with_suggestion(format!(
                        "make the widths equal (e.g. proj(…, {})), or use a per-head value of width h = {h}",
                        a.width()
                    )),
                ));
            }
        };
        Ok(if matches!(a, Ty::Seq(_)) || matches!(b, Ty::Seq(_)) {
            Ty::Seq(width)
        } else {
            Ty::Vector(width)
        })
    }

    fn call(&mut self, op: &str, op_span: Span, args: &[Arg], span: Span) -> Lowered {
        if let Some((unary, _)) = Unary::ALL.iter().find(|(_, name)| *name == op) {
            let [input] = self.args::<1>(op, op_span, args, &[])?.0;
            let input = self.tensor(input)?;
            let ty = self.ty(input);
            return Ok(self.push(NodeKind::Unary { op: *unary, input }, ty, span));
        }
        match op {
            "proj" => {
                let [input, width] = self.args::<2>(op, op_span, args, &[])?.0;
                let input = self.tensor(input)?;
                let width = self.width(width)?;
                let ty = match self.ty(input) {
                    Ty::Seq(_) => Ty::Seq(width),
                    _ => Ty::Vector(width),
                };
                Ok(self.push(NodeKind::Proj { input, width }, ty, span))
            }
            "conv" => {
                let [input, kernel] = self.args::<2>(op, op_span, args, &[])?.0;
                let input = self.sequence(input, "conv")?;
                let kernel = self.integer(kernel, 1, CONV_KERNEL_MAX as i64, "a kernel length")? as u32;
                let ty = self.ty(input);
                Ok(self.push(NodeKind::Conv { input, kernel }, ty, span))
            }
            "shift" => {
                let [input, by] = self.args::<2>(op, op_span, args, &[])?.0;
                let input = self.sequence(input, "shift")?;
                let by = self.integer(by, -(SHIFT_MAX as i64), SHIFT_MAX as i64, "a shift")? as i32;
                let ty = self.ty(input);
                Ok(self.push(NodeKind::Shift { input, by }, ty, span))
            }
            "param" => {
                let ([width], named) = self.args::<1>(op, op_span, args, &["init"])?;
                let width = self.width(width)?;
                let init = match named.get("init") {
                    Some(expr) => self.init(expr)?,
                    None => Init::Normal,
                };
                Ok(self.push(NodeKind::Param { width, init }, Ty::Vector(width), span))
            }
            "head_index" => {
                self.args::<0>(op, op_span, args, &[])?;
                Ok(self.push(NodeKind::HeadIndex, Ty::Vector(self.dims.h), span))
            }
            "recur" => self.recur(op_span, args, span),
            "attention" => {
                let ([q, k, v], named) = self.args::<3>(op, op_span, args, &["mask"])?;
                let (q, k, v) = (self.tensor(q)?, self.tensor(k)?, self.tensor(v)?);
                self.same_width(k, q, "attention's key", "its query")?;
                let causal = match named.get("mask") {
                    None => true,
                    Some(Expr { kind: ExprKind::Name(mask), .. }) if mask == "causal" => true,
                    Some(Expr { kind: ExprKind::Name(mask), .. }) if mask == "none" => false,
                    Some(other) => {
                        return Err(self.report(
                            Diagnostic::error(ErrorClass::BadArgument, other.span, "unknown mask")
                                .with_suggestion("use `mask = causal` or `mask = none`"),
                        ));
                    }
                };
                let ty = Ty::Seq(self.ty(v).width());
                Ok(self.push(NodeKind::Attention { q, k, v, causal }, ty, span))
            }
            "route" => {
                if args.len() < 3 || args.len() > ROUTE_PATHS_MAX + 1 || args.iter().any(|a| a.name.is_some())
                {
                    return Err(self.report(
                        Diagnostic::error(
                            ErrorClass::Arity,
                            op_span,
                            format!(
                                "`route` takes a router and 2 to {ROUTE_PATHS_MAX} paths, all positional"
                            ),
                        )
                        .with_suggestion("route(x, path1, path2)"),
                    ));
                }
                let router = self.sequence(&args[0].value, "route")?;
                let paths = args[1..].iter().map(|a| self.tensor(&a.value)).collect::<Result<Vec<_>, _>>()?;
                for &path in &paths[1..] {
                    self.same_width(path, paths[0], "this path", "the first path")?;
                }
                let ty = Ty::Seq(self.ty(paths[0]).width());
                Ok(self.push(NodeKind::Route { router, paths }, ty, span))
            }
            _ => {
                let mut d =
                    Diagnostic::error(ErrorClass::UnknownOp, op_span, format!("unknown operation `{op}`"));
                d = match closest(op, OPS.iter().copied()) {
                    Some(near) => d.with_suggestion(format!("did you mean `{near}`?")),
                    None => d.with_suggestion(format!("operations: {}", OPS.join(", "))),
                };
                Err(self.report(d))
            }
        }
    }

    fn recur(&mut self, op_span: Span, args: &[Arg], span: Span) -> Lowered {
        let ([q, k, v], named) = self.args::<3>("recur", op_span, args, &["decay", "erase", "along"])?;
        let (q, k, v) = (self.tensor(q)?, self.tensor(k)?, self.tensor(v)?);
        self.same_width(k, q, "recur's key", "its query")?;
        let key_width = self.ty(q).width();
        let decay = match named.get("decay") {
            Some(expr) => {
                let decay = self.lower(expr)?;
                let width = self.ty(decay);
                if width != Ty::Scalar && width.width() != self.dims.h && width.width() != key_width {
                    return Err(self.report(
                        Diagnostic::error(
                            ErrorClass::WidthMismatch,
                            expr.span,
                            format!(
                                "decay has width {}, but must be per head (h = {}) or per key channel ({key_width})",
                                width.width(),
                                self.dims.h
                            ),
                        )
                        .with_suggestion(format!("e.g. decay = sigmoid(proj(x, h)) or proj(x, {key_width})")),
                    ));
                }
                Some(decay)
            }
            None => None,
        };
        let (erase, along) = match (named.get("erase"), named.get("along")) {
            (None, None) => (None, None),
            (Some(erase), Some(along)) => {
                let (erase_id, along_id) = (self.tensor(erase)?, self.tensor(along)?);
                self.same_width(erase_id, q, "erase", "the key")?;
                self.same_width(along_id, q, "along", "the key")?;
                (Some(erase_id), Some(along_id))
            }
            (Some(one), None) | (None, Some(one)) => {
                return Err(self.report(
                    Diagnostic::error(ErrorClass::BadArgument, one.span, "`erase` and `along` go together")
                        .with_suggestion("the delta rule is `erase = beta * k, along = k`"),
                ));
            }
        };
        let ty = Ty::Seq(self.ty(v).width());
        Ok(self.push(NodeKind::Recur { q, k, v, decay, erase, along }, ty, span))
    }

    /// Splits and counts arguments: exactly `N` positional, then named ones from `allowed`.
    fn args<'a, const N: usize>(
        &mut self,
        op: &str,
        op_span: Span,
        args: &'a [Arg],
        allowed: &[&str],
    ) -> Result<([&'a Expr; N], HashMap<&'a str, &'a Expr>), Reported> {
        let positional: Vec<&Expr> = args.iter().filter(|a| a.name.is_none()).map(|a| &a.value).collect();
        let first_named = args.iter().position(|a| a.name.is_some()).unwrap_or(args.len());
        if let Some(late) = args[first_named..].iter().find(|a| a.name.is_none()) {
            return Err(self.report(Diagnostic::error(
                ErrorClass::Syntax,
                late.value.span,
                "positional arguments must come before named ones",
            )));
        }
        let Ok(positional) = <[&Expr; N]>::try_from(positional) else {
            let named = if allowed.is_empty() {
                String::new()
            } else {
                format!(" (and optionally {})", allowed.join(", "))
            };
            return Err(self.report(Diagnostic::error(
                ErrorClass::Arity,
                op_span,
                format!("`{op}` takes {N} argument{}{named}", if N == 1 { "" } else { "s" }),
            )));
        };
        let mut named = HashMap::new();
        for arg in &args[first_named..] {
            let (name, span) = arg.name.as_ref().expect("named after first_named");
            if !allowed.contains(&name.as_str()) {
                let mut d = Diagnostic::error(
                    ErrorClass::BadArgument,
                    *span,
                    format!("`{op}` has no argument `{name}`"),
                );
                if let Some(near) = closest(name, allowed.iter().copied()) {
                    d = d.with_suggestion(format!("did you mean `{near}`?"));
                }
                return Err(self.report(d));
            }
            if named.insert(name.as_str(), &arg.value).is_some() {
                return Err(self.report(Diagnostic::error(
                    ErrorClass::BadArgument,
                    *span,
                    format!("`{name}` given twice"),
                )));
            }
        }
        Ok((positional, named))
    }

    /// A value that is a vector or sequence (not a bare number).
    fn tensor(&mut self, expr: &Expr) -> Lowered {
        let id = self.lower(expr)?;
        if self.ty(id) == Ty::Scalar {
            return Err(self.report(
                Diagnostic::error(ErrorClass::BadArgument, expr.span, "expected a tensor, found a number")
                    .with_suggestion("use a learned vector: param(h)"),
            ));
        }
        Ok(id)
    }

    /// A value that varies over time.
    fn sequence(&mut self, expr: &Expr, op: &str) -> Lowered {
        let id = self.tensor(expr)?;
        if !matches!(self.ty(id), Ty::Seq(_)) {
            return Err(self.report(Diagnostic::error(
                ErrorClass::BadArgument,
                expr.span,
                format!("`{op}` needs a sequence, found {}", self.ty(id).describe()),
            )));
        }
        Ok(id)
    }

    fn same_width(&mut self, a: NodeId, b: NodeId, what: &str, other: &str) -> Result<(), Reported> {
        let (wa, wb) = (self.ty(a).width(), self.ty(b).width());
        if wa == wb {
            return Ok(());
        }
        let span = self.nodes[a].span;
        Err(self.report(
            Diagnostic::error(
                ErrorClass::WidthMismatch,
                span,
                format!("{what} has width {wa}, but {other} has width {wb}"),
            )
            .with_suggestion(format!("project it to the same width: proj(…, {wb})")),
        ))
    }

    /// A width expression (`d`, `h`, whole numbers, `*`, `/`) → a positive multiple of `h`.
    fn width(&mut self, expr: &Expr) -> Result<u32, Reported> {
        let value = self.dim(expr).ok_or(()).map_err(|_| {
            self.report(
                Diagnostic::error(ErrorClass::BadArgument, expr.span, "expected a width").with_suggestion(
                    "write widths with d, h and whole numbers, e.g. `d`, `h`, `2 * d`, `d / 2`",
                ),
            )
        })?;
        let max = WIDTH_MAX_FACTOR as i64 * self.dims.d as i64;
        if value < 1 || value > max {
            return Err(self.report(Diagnostic::error(
                ErrorClass::BadArgument,
                expr.span,
                format!("width {value} is out of range 1..={max}"),
            )));
        }
        let h = self.dims.h as i64;
        if value % h != 0 {
            return Err(self.report(
                Diagnostic::error(
                    ErrorClass::WidthNotDivisible,
                    expr.span,
                    format!("width {value} is not a multiple of the head count h = {h}"),
                )
                .with_suggestion(format!("use {}", (value / h).max(1) * h)),
            ));
        }
        Ok(value as u32)
    }

    fn dim(&self, expr: &Expr) -> Option<i64> {
        match &expr.kind {
            ExprKind::Number(n) if n.fract() == 0.0 && n.abs() < 1e9 => Some(*n as i64),
            ExprKind::Name(name) if name == "d" => Some(self.dims.d as i64),
            ExprKind::Name(name) if name == "h" => Some(self.dims.h as i64),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.dim(a)?, self.dim(b)?);
                match op {
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Div if b != 0 && a % b == 0 => Some(a / b),
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    BinOp::Div => None,
                }
            }
            _ => None,
        }
    }

    fn integer(&mut self, expr: &Expr, lo: i64, hi: i64, what: &str) -> Result<i64, Reported> {
        let written = literal(expr);
        match written.filter(|n| n.fract() == 0.0).map(|n| n as i64) {
            Some(v) if (lo..=hi).contains(&v) && v != 0 => Ok(v),
            _ => {
                // The literal as written (the cast to i64 saturates a huge one).
                let not = match written {
                    Some(n) if n.abs() >= 1e15 => format!(", not {n:e}"),
                    Some(n) => format!(", not {n}"),
                    None => String::new(),
                };
                let zero = if (lo..=hi).contains(&0) { " other than 0" } else { "" };
                Err(self.report(Diagnostic::error(
                    ErrorClass::BadArgument,
                    expr.span,
                    format!("expected {what}: a whole number from {lo} to {hi}{zero}{not}"),
                )))
            }
        }
    }

    fn init(&mut self, expr: &Expr) -> Result<Init, Reported> {
        let init = match &expr.kind {
            ExprKind::Name(name) if name == "zero" => Some(Init::Zero),
            ExprKind::Name(name) if name == "one" => Some(Init::One),
            ExprKind::Name(name) if name == "normal" => Some(Init::Normal),
            ExprKind::Call { op, args, .. } if op == "range" && args.len() == 2 => {
                match (literal(&args[0].value), literal(&args[1].value)) {
                    (Some(lo), Some(hi)) => Some(Init::Range(lo, hi)),
                    _ => None,
                }
            }
            _ => None,
        };
        init.ok_or_else(|| {
            self.report(
                Diagnostic::error(ErrorClass::BadArgument, expr.span, "unknown initialisation")
                    .with_suggestion("use `zero`, `one`, `normal` or `range(LO, HI)`"),
            )
        })
    }

    fn check_output(&mut self, output: NodeId, span: Span) {
        let d = self.dims.d;
        match self.ty(output) {
            Ty::Seq(w) if w == d => {}
            other => {
                let fix = match other {
                    Ty::Seq(_) => "project it: return proj(…, d)".to_owned(),
                    _ => "the output must depend on x".to_owned(),
                };
                self.diagnostics.push(
                    Diagnostic::error(
                        ErrorClass::OutputWidth,
                        span,
                        format!(
                            "the mixer must return a sequence of width d = {d}, but returns {}",
                            other.describe()
                        ),
                    )
                    .with_suggestion(fix),
                );
            }
        }
    }

    fn reachable(&self, output: NodeId) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![output];
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut seen[id], true) {
                stack.extend(self.nodes[id].kind.inputs());
            }
        }
        seen
    }

    /// Keeps the reachable nodes, renumbered in order.
    fn to_graph(&self, output: NodeId, reachable: &[bool], program: &Program) -> Graph {
        let mut remap = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        for (id, node) in self.nodes.iter().enumerate() {
            if reachable[id] {
                remap[id] = nodes.len();
                let mut node = node.clone();
                renumber(&mut node.kind, &remap);
                nodes.push(node);
            }
        }
        Graph {
            nodes,
            output: remap[output],
            block: program.block,
            dims: self.dims,
            numerics: Numerics::CURRENT,
        }
    }
}

fn renumber(kind: &mut NodeKind, remap: &[usize]) {
    let map = |id: &mut NodeId| {
        *id = remap[*id];
        assert_ne!(*id, usize::MAX, "an input of a reachable node is reachable");
    };
    match kind {
        NodeKind::Input | NodeKind::Const(_) | NodeKind::HeadIndex | NodeKind::Param { .. } => {}
        NodeKind::Proj { input, .. }
        | NodeKind::Conv { input, .. }
        | NodeKind::Shift { input, .. }
        | NodeKind::Unary { input, .. } => map(input),
        NodeKind::Binary { lhs, rhs, .. } => {
            map(lhs);
            map(rhs);
        }
        NodeKind::Recur { q, k, v, decay, erase, along } => {
            for id in [q, k, v] {
                map(id);
            }
            for id in [decay, erase, along].into_iter().flatten() {
                map(id);
            }
        }
        NodeKind::Attention { q, k, v, .. } => {
            for id in [q, k, v] {
                map(id);
            }
        }
        NodeKind::Route { router, paths } => {
            map(router);
            paths.iter_mut().for_each(map);
        }
    }
}

/// The number a literal argument writes (`3`, `-0.5`), if it is one.
fn literal(expr: &Expr) -> Option<f64> {
    match &expr.kind {
        ExprKind::Number(n) => Some(*n),
        ExprKind::Neg(inner) => match inner.kind {
            ExprKind::Number(n) => Some(-n),
            _ => None,
        },
        _ => None,
    }
}
