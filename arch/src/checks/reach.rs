//! Causality by construction: how far into the future each value of a graph can read, decided
//! from the operations alone, whatever the weights.
//!
//! A value's **future reach** is the largest `s − t` such that its value at position `t` can
//! depend on the mixer's input at position `s`. Every edge of the graph (an operation reading one
//! of its operands) moves reach by a fixed offset, from the operation's time semantics in
//! `model/forward.rs` and `model/recurrence.rs`:
//!
//! | operation | offset of each operand | why |
//! | --- | --- | --- |
//! | `proj`, unary functions, `l2norm`, `rmsnorm`, `+ - * /`, `route` | 0 | per position (norms are per head, within a position) |
//! | `conv(a, K)` | 0 | taps at `t, t−1, …, t−K+1` |
//! | `recur` (every operand) | 0 | the state at `t` is built from positions `≤ t` |
//! | `attention(…, mask = causal)` | 0 | keys and values at positions `≤ t` |
//! | `shift(a, n)` | `−n` | `out_t = a_(t−n)`; the zero fill only removes dependencies |
//! | `attention(…, mask = none)` | unbounded | every position sees every other |
//!
//! A value's reach is the maximum over its operands of operand reach plus offset; the input `x`
//! has reach 0, numbers, `param` and `head_index` have none (they do not depend on the input).
//! The mixer is causal when its output's reach is at most 0. This is reachability, not
//! magnitude: a path from a later position to the output is a leak even when its weights are
//! zero, it is scaled by 1e-7, or it is added and subtracted back out (`a + f − f` is rejected:
//! the analysis does no algebra, so the conservative answer is the only one that cannot be
//! fooled). Offsets along a path add up exactly, so `shift(shift(x, −1), 1)` — which is `x`
//! with a zero at the first position — has reach 0 and is causal, while `shift(shift(x, −2), 1)`
//! is not. (`shift(shift(x, 1), −1)` is `x` with a zero at the last position: that zero depends on
//! where the sequence ends, never on the value of a later token, so it is causal too.)
//!
//! Both passes visit each node and edge once: linear in the size of the graph.

use crate::lang::{Graph, NodeId, NodeKind};

/// How far into the future a value can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// The value does not depend on the input at all (numbers, parameters, `head_index`).
    Constant,
    /// At position `t` it can depend on the input up to position `t + n` (`n ≤ 0`: only the
    /// present and past).
    Offset(i64),
    /// It can depend on every position, however late.
    Unbounded,
}

impl Reach {
    /// Whether the value can read a later position than its own.
    pub fn reads_future(self) -> bool {
        self > Reach::Offset(0)
    }

    /// Later positions read, as a number for a verdict: 0 when causal, `unbounded` for
    /// [`Reach::Unbounded`].
    pub fn positions(self, unbounded: f64) -> f64 {
        match self {
            Reach::Constant => 0.0,
            Reach::Offset(n) => n.max(0) as f64,
            Reach::Unbounded => unbounded,
        }
    }

    /// This reach seen through an edge with `offset`.
    fn through(self, offset: Offset) -> Reach {
        match (self, offset) {
            (Reach::Constant, _) => Reach::Constant,
            (Reach::Unbounded, _) | (_, Offset::Unbounded) => Reach::Unbounded,
            (Reach::Offset(n), Offset::By(by)) => Reach::Offset(n.saturating_add(by)),
        }
    }

    /// Whether this reach exceeds `limit` (an edge-adjusted allowance; see [`analyse`]).
    fn exceeds(self, limit: i64) -> bool {
        match self {
            Reach::Constant => false,
            Reach::Offset(n) => n > limit,
            Reach::Unbounded => true,
        }
    }
}

/// The time offset of one edge: how much later than its own position an operation reads this
/// operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offset {
    /// By this many positions (negative: earlier).
    By(i64),
    /// Any position.
    Unbounded,
}

impl Offset {
    fn is_forward(self) -> bool {
        match self {
            Offset::By(n) => n > 0,
            Offset::Unbounded => true,
        }
    }
}

/// The operands of a node with the offset at which the node reads each. The match lists every
/// operation, so a new one cannot be added without deciding its time semantics here.
fn edges(kind: &NodeKind) -> Vec<(NodeId, Offset)> {
    let uniform = |offset: Offset| kind.inputs().into_iter().map(|id| (id, offset)).collect();
    match kind {
        NodeKind::Input | NodeKind::Const(_) | NodeKind::HeadIndex | NodeKind::Param { .. } => Vec::new(),
        NodeKind::Shift { input, by } => vec![(*input, Offset::By(-i64::from(*by)))],
        NodeKind::Attention { causal: false, .. } => uniform(Offset::Unbounded),
        NodeKind::Proj { .. }
        | NodeKind::Conv { .. }
        | NodeKind::Unary { .. }
        | NodeKind::Binary { .. }
        | NodeKind::Recur { .. }
        | NodeKind::Attention { causal: true, .. }
        | NodeKind::Route { .. } => uniform(Offset::By(0)),
    }
}

/// The static causality analysis of a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// The reach of every node, in node order.
    pub reach: Vec<Reach>,
    /// The reach of the mixer's output.
    pub output: Reach,
    /// Where the future first enters a path to the output: the earliest node (in evaluation
    /// order) on such a path that reads its operand at a later position — a `shift` by a negative
    /// amount or an `attention` with `mask = none`. `None` when the output is causal.
    pub origin: Option<NodeId>,
}

/// Computes every node's reach (forward) and, when the output reads the future, the nodes on a
/// leaking path and the earliest one where the future enters (backward).
pub fn analyse(graph: &Graph) -> Analysis {
    let mut reach: Vec<Reach> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let value = match node.kind {
            NodeKind::Input => Reach::Offset(0),
            _ => edges(&node.kind)
                .into_iter()
                .map(|(id, offset)| reach[id].through(offset))
                .max()
                .unwrap_or(Reach::Constant),
        };
        reach.push(value);
    }
    let output = reach[graph.output];
    let origin = if output.reads_future() { leak_origin(graph, &reach) } else { None };
    Analysis { reach, output, origin }
}

/// Backward from the output, `limit[n]`: the reach at `n` beyond which the output reads the
/// future through `n` (the most permissive over `n`'s consumers; `None`: `n` is on no leaking
/// path). A node on a leaking path with a forward edge to an operand on it is where the future
/// enters; the earliest such node is returned.
fn leak_origin(graph: &Graph, reach: &[Reach]) -> Option<NodeId> {
    let mut limit: Vec<Option<i64>> = vec![None; graph.nodes.len()];
    limit[graph.output] = Some(0);
    let mut origin = None;
    for id in (0..=graph.output).rev() {
        let Some(own) = limit[id].filter(|l| reach[id].exceeds(*l)) else { continue };
        for (operand, offset) in edges(&graph.nodes[id].kind) {
            let allowed = match offset {
                Offset::By(n) => own.saturating_sub(n),
                Offset::Unbounded => i64::MIN,
            };
            if !reach[operand].exceeds(allowed) {
                continue;
            }
            if offset.is_forward() {
                origin = Some(id);
            }
            limit[operand] = Some(limit[operand].map_or(allowed, |l| l.min(allowed)));
        }
    }
    origin
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{Dims, check, parse};

    fn analysis(body: &str) -> (Graph, Analysis) {
        let source = format!("mixer m {{\n{body}\n}}\n");
        let graph = check(&parse(&source).unwrap(), Dims::DEFAULT).graph.expect("a valid program");
        let analysis = analyse(&graph);
        (graph, analysis)
    }

    #[test]
    fn offsets_add_up_along_a_path() {
        assert_eq!(analysis("return proj(x, d)").1.output, Reach::Offset(0));
        assert_eq!(analysis("return shift(x, 2)").1.output, Reach::Offset(-2));
        assert_eq!(analysis("return shift(x, -3)").1.output, Reach::Offset(3));
        assert_eq!(analysis("return shift(shift(x, -1), 1)").1.output, Reach::Offset(0));
        assert_eq!(analysis("return shift(shift(x, -2), 1)").1.output, Reach::Offset(1));
        assert_eq!(analysis("return conv(shift(x, -1), 4) + x").1.output, Reach::Offset(1));
        assert_eq!(analysis("return x + 0 * proj(param(d), d)").1.output, Reach::Offset(0));
    }

    #[test]
    fn bidirectional_attention_reaches_everything_and_a_shift_cannot_bring_it_back() {
        let (_, a) = analysis("return shift(attention(x, x, x, mask = none), 8)");
        assert_eq!(a.output, Reach::Unbounded);
        assert!(a.origin.is_some());
        let (_, a) = analysis("return shift(attention(x, x, x), 8)");
        assert_eq!(a.output, Reach::Offset(-8));
        assert_eq!(a.origin, None);
    }

    #[test]
    fn the_origin_is_the_earliest_future_read_on_a_leaking_path() {
        // The first shift is cancelled by the shift after it; only the second one leaks.
        let (graph, a) =
            analysis("  a = shift(shift(x, -1), 1)\n  b = shift(x, -1)\n  return proj(a + b, d)");
        let origin = a.origin.expect("a leak");
        assert_eq!(graph.nodes[origin].span.line, 3);
        assert!(matches!(graph.nodes[origin].kind, NodeKind::Shift { by: -1, .. }));
        // A shift that reads further ahead than a later shift undoes is the origin.
        let (graph, a) = analysis("  a = shift(x, -2)\n  return shift(a, 1)");
        assert_eq!(graph.nodes[a.origin.unwrap()].span.line, 2);
    }

    #[test]
    fn a_path_through_another_operand_does_not_leak_when_it_is_shifted_back() {
        // The future read is shifted two positions back, the other operand reads the present.
        let (_, a) = analysis("  f = shift(x, -1)\n  return shift(f + x, 2)");
        assert_eq!(a.output, Reach::Offset(-1));
        assert_eq!(a.origin, None);
    }
}
