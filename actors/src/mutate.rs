//! The built-in proposer's operators: edits of a program's syntax tree (mutations of the parent,
//! crossover with a reference). Each operator either returns the edited program and a line that
//! says what it did, or `None` when it does not apply to this parent. Operators do not promise a
//! valid program: the engineer's checks and the debugger's repairs deal with what they break,
//! which is how a proposer without a model explores.

use lineage_arch::lang::ast::{Arg, BinOp, Expr, ExprKind, Program};
use lineage_arch::lang::printer;

use crate::syntax::{binary, call, expr, op_of, visit_program};
use lineage_arch::rng::Rng;

/// An operator: name, and the edit.
pub type Operator = fn(&Program, &[Program], &mut Rng) -> Option<(Program, String)>;

/// Every operator, by name. Crossover operators read the references; the rest only the parent.
pub const OPERATORS: &[(&str, Operator)] = &[
    ("swap-activation", swap_activation),
    ("toggle-conv", toggle_conv),
    ("conv-width", conv_width),
    ("toggle-key-norm", toggle_key_norm),
    ("add-decay", add_decay),
    ("remove-decay", remove_decay),
    ("add-delta-rule", add_delta_rule),
    ("remove-delta-rule", remove_delta_rule),
    ("widen-beta", widen_beta),
    ("toggle-output-gate", toggle_output_gate),
    ("add-skip", add_skip),
    ("fuse-conv-path", fuse_conv_path),
    ("crossover-binding", crossover_binding),
    ("crossover-recur-arg", crossover_recur_arg),
    ("crossover-fuse", crossover_fuse),
    ("mlp-ratio", mlp_ratio),
    ("token-shift", token_shift),
];

/// The range an operator's drawing weight is clamped to, whatever the evidence: the least
/// promising operator is still drawn a quarter as often as an untried one, so no edit is ever
/// ruled out by a few noisy results.
pub const OPERATOR_WEIGHT_MIN: f64 = 0.25;
/// See [`OPERATOR_WEIGHT_MIN`].
pub const OPERATOR_WEIGHT_MAX: f64 = 4.0;

/// Applies `edit` to one expression, drawn uniformly among those matching `pred`.
fn edit_one(
    parent: &Program,
    rng: &mut Rng,
    pred: impl Fn(&Expr) -> bool,
    edit: impl FnOnce(&mut Expr, &mut Rng) -> String,
) -> Option<(Program, String)> {
    let mut program = parent.clone();
    let mut count = 0;
    visit_program(&mut program, &mut |e| count += pred(e) as u64);
    if count == 0 {
        return None;
    }
    let target = rng.below(count);
    let (mut seen, mut edit, mut detail) = (0, Some(edit), None);
    visit_program(&mut program, &mut |e| {
        if pred(e) {
            if seen == target {
                detail = Some((edit.take().expect("edited once"))(e, rng));
            }
            seen += 1;
        }
    });
    detail.map(|d| (program, d))
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

fn show(e: &Expr) -> String {
    printer::expr(e)
}

/// Feature maps tried on projections. `exp` is the risky one (unbounded): the finiteness check
/// and the debugger deal with it when it blows the state up.
const FEATURE_ACTIVATIONS: &[&str] = &["silu", "gelu", "relu", "tanh", "exp"];

fn swap_activation(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    edit_one(
        parent,
        rng,
        |e| op_of(e).is_some_and(|op| FEATURE_ACTIVATIONS.contains(&op)),
        |e, rng| {
            let ExprKind::Call { op, .. } = &mut e.kind else { unreachable!() };
            let others: Vec<&str> = FEATURE_ACTIVATIONS.iter().copied().filter(|a| a != op).collect();
            let new = pick(rng, &others);
            let detail = format!("activation {op} → {new}");
            *op = new.into();
            detail
        },
    )
}

fn toggle_conv(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let wrap = rng.below(2) == 0;
    if wrap {
        // A projection of x that is not already convolved.
        let mut program = parent.clone();
        let mut candidates = 0;
        visit_program(&mut program, &mut |e| {
            if let ExprKind::Call { op, args, .. } = &e.kind
                && op != "conv"
            {
                candidates += args.iter().filter(|a| op_of(&a.value) == Some("proj")).count() as u64;
            }
        });
        if candidates > 0 {
            let target = rng.below(candidates);
            let mut seen = 0;
            let mut detail = String::new();
            visit_program(&mut program, &mut |e| {
                if let ExprKind::Call { op, args, .. } = &mut e.kind
                    && op != "conv"
                {
                    for arg in args.iter_mut().filter(|a| op_of(&a.value) == Some("proj")) {
                        if seen == target {
                            detail = format!("short convolution (4) on {}", show(&arg.value));
                            let inner = std::mem::replace(&mut arg.value, expr("0"));
                            arg.value = call("conv", vec![inner, expr("4")]);
                        }
                        seen += 1;
                    }
                }
            });
            return Some((program, detail));
        }
    }
    edit_one(
        parent,
        rng,
        |e| op_of(e) == Some("conv"),
        |e, _| {
            let ExprKind::Call { args, .. } = &mut e.kind else { unreachable!() };
            let inner = args[0].value.clone();
            let detail = format!("remove the short convolution on {}", show(&inner));
            *e = inner;
            detail
        },
    )
}

fn conv_width(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    edit_one(
        parent,
        rng,
        |e| op_of(e) == Some("conv"),
        |e, rng| {
            let ExprKind::Call { args, .. } = &mut e.kind else { unreachable!() };
            let old = show(&args[1].value);
            let new = pick(rng, &["2", "3", "4", "8"].into_iter().filter(|w| *w != old).collect::<Vec<_>>());
            args[1].value = expr(new);
            format!("convolution width {old} → {new}")
        },
    )
}

/// The `recur` call of the program, if it has one, as a mutable reference to edit.
fn with_recur(
    parent: &Program,
    edit: impl FnOnce(&mut Vec<Arg>) -> Option<String>,
) -> Option<(Program, String)> {
    let mut program = parent.clone();
    let mut edit = Some(edit);
    let mut detail = None;
    visit_program(&mut program, &mut |e| {
        if let ExprKind::Call { op, args, .. } = &mut e.kind
            && op == "recur"
            && let Some(edit) = edit.take()
        {
            detail = edit(args);
        }
    });
    detail.map(|d| (program, d))
}

fn named<'a>(args: &'a [Arg], name: &str) -> Option<&'a Expr> {
    args.iter().find(|a| a.name.as_ref().is_some_and(|(n, _)| n == name)).map(|a| &a.value)
}

fn set_named(args: &mut Vec<Arg>, name: &str, value: Expr) {
    args.retain(|a| a.name.as_ref().is_none_or(|(n, _)| n != name));
    args.push(Arg { name: Some((name.into(), Default::default())), value });
}

fn remove_named(args: &mut Vec<Arg>, name: &str) {
    args.retain(|a| a.name.as_ref().is_none_or(|(n, _)| n != name));
}

fn toggle_key_norm(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let which = rng.below(2) as usize; // query or key
    with_recur(parent, |args| {
        let arg = &mut args[which];
        let role = ["query", "key"][which];
        if op_of(&arg.value) == Some("l2norm") {
            let ExprKind::Call { args: inner, .. } = &arg.value.kind else { unreachable!() };
            arg.value = inner[0].value.clone();
            Some(format!("drop the l2norm of the {role}"))
        } else {
            arg.value = call("l2norm", vec![arg.value.clone()]);
            Some(format!("l2-normalise the {role}"))
        }
    })
}

const DECAYS: &[(&str, &str)] = &[
    ("sigmoid(proj(x, h) + 3)", "a data-dependent per-head forget gate"),
    ("1 - pow2(-5 - head_index())", "RetNet's fixed per-head decay"),
    ("exp(-softplus(proj(x, h) - 4))", "a Mamba-style per-head decay exp(-Δ)"),
    ("sigmoid(proj(x, d) + 3)", "a per-channel forget gate (GLA-style)"),
];

fn add_decay(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let (text, what) = DECAYS[rng.below(DECAYS.len() as u64) as usize];
    with_recur(parent, |args| {
        let had = named(args, "decay").map(show);
        set_named(args, "decay", expr(text));
        Some(match had {
            Some(old) => format!("decay {old} → {text} ({what})"),
            None => format!("add {what}: decay = {text}"),
        })
    })
}

fn remove_decay(parent: &Program, _: &[Program], _: &mut Rng) -> Option<(Program, String)> {
    with_recur(parent, |args| {
        let old = named(args, "decay").map(show)?;
        remove_named(args, "decay");
        Some(format!("remove the decay {old}"))
    })
}

fn add_delta_rule(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let beta = pick(rng, &["sigmoid(proj(x, h))", "2 * sigmoid(proj(x, h))"]);
    with_recur(parent, |args| {
        if named(args, "erase").is_some() {
            return None;
        }
        let key = args[1].value.clone();
        set_named(args, "erase", binary(BinOp::Mul, expr(beta), key.clone()));
        set_named(args, "along", key);
        Some(format!("add the delta rule: erase = {beta} · key along the key"))
    })
}

fn remove_delta_rule(parent: &Program, _: &[Program], _: &mut Rng) -> Option<(Program, String)> {
    with_recur(parent, |args| {
        named(args, "erase")?;
        remove_named(args, "erase");
        remove_named(args, "along");
        Some("remove the delta rule (no erase)".into())
    })
}

fn widen_beta(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let is_gate = |e: &Expr| op_of(e) == Some("sigmoid");
    edit_one(parent, rng, is_gate, |e, _| {
        let old = show(e);
        *e = binary(BinOp::Mul, expr("2"), e.clone());
        format!("widen the gate {old} to (0, 2)")
    })
}

fn toggle_output_gate(parent: &Program, _: &[Program], _: &mut Rng) -> Option<(Program, String)> {
    let mut program = parent.clone();
    let ExprKind::Call { op, args, .. } = &mut program.output.kind else { return None };
    if op != "proj" {
        return None;
    }
    let inner = &mut args[0].value;
    if let ExprKind::Binary(BinOp::Mul, a, b) = &inner.kind
        && op_of(b) == Some("silu")
    {
        *inner = (**a).clone();
        return Some((program, "remove the output gate".into()));
    }
    *inner = binary(BinOp::Mul, inner.clone(), expr("silu(proj(x, d))"));
    Some((program, "gate the mixer output with silu(proj(x, d))".into()))
}

fn add_skip(parent: &Program, _: &[Program], _: &mut Rng) -> Option<(Program, String)> {
    let mut program = parent.clone();
    let index = program.bindings.iter().position(|b| op_of(&b.value) == Some("recur"))?;
    let ExprKind::Call { args, .. } = &program.bindings[index].value.kind else { unreachable!() };
    let value = args[2].value.clone();
    let old = program.bindings[index].value.clone();
    program.bindings[index].value =
        binary(BinOp::Add, old, binary(BinOp::Mul, expr("param(h, init = one)"), value.clone()));
    Some((
        program,
        format!("add a learned per-head skip of the value {} around the recurrence", show(&value)),
    ))
}

fn fuse_conv_path(parent: &Program, _: &[Program], _: &mut Rng) -> Option<(Program, String)> {
    let mut program = parent.clone();
    let ExprKind::Call { op, args, .. } = &mut program.output.kind else { return None };
    if op != "proj" || op_of(&args[0].value) == Some("route") {
        return None;
    }
    let inner = args[0].value.clone();
    args[0].value = call("route", vec![expr("x"), inner, expr("silu(conv(proj(x, d), 4))")]);
    Some((program, "fuse the mixer with a short-convolution path through a learned per-head router".into()))
}

/// Names an expression refers to.
fn names(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Name(n) => out.push(n.clone()),
        ExprKind::Neg(inner) => names(inner, out),
        ExprKind::Binary(_, a, b) => {
            names(a, out);
            names(b, out);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| names(&a.value, out)),
        ExprKind::Number(_) => {}
    }
}

/// Whether `e` only uses names bound before binding `before` of `program` (or built in).
fn resolvable(program: &Program, before: usize, e: &Expr) -> bool {
    let mut used = Vec::new();
    names(e, &mut used);
    used.iter().all(|n| {
        ["x", "d", "h"].contains(&n.as_str()) || program.bindings[..before].iter().any(|b| &b.name == n)
    })
}

fn pick_reference<'a>(references: &'a [Program], rng: &mut Rng) -> Option<&'a Program> {
    (!references.is_empty()).then(|| &references[rng.below(references.len() as u64) as usize])
}

fn crossover_binding(parent: &Program, references: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let reference = pick_reference(references, rng)?;
    let mut options = Vec::new();
    for (i, binding) in parent.bindings.iter().enumerate() {
        if let Some(theirs) = reference.bindings.iter().find(|b| b.name == binding.name)
            && show(&theirs.value) != show(&binding.value)
            && resolvable(parent, i, &theirs.value)
        {
            options.push((i, theirs.value.clone()));
        }
    }
    let (i, value) = options.get(rng.below(options.len().max(1) as u64) as usize)?.clone();
    let mut program = parent.clone();
    let name = program.bindings[i].name.clone();
    program.bindings[i].value = value.clone();
    Some((program, format!("take `{name} = {}` from {}", show(&value), reference.name)))
}

fn crossover_recur_arg(parent: &Program, references: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let reference = pick_reference(references, rng)?;
    let mut theirs = None;
    let mut reference = reference.clone();
    visit_program(&mut reference, &mut |e| {
        if let ExprKind::Call { op, args, .. } = &e.kind
            && op == "recur"
        {
            theirs = Some(args.clone());
        }
    });
    let theirs = theirs?;
    let arg = pick(rng, &["decay", "erase"]);
    let value = named(&theirs, arg)?.clone();
    let along = named(&theirs, "along").cloned();
    let end = parent.bindings.len();
    if !resolvable(parent, end, &value) || along.as_ref().is_some_and(|a| !resolvable(parent, end, a)) {
        return None;
    }
    let detail = format!("take {arg} = {} from {}", show(&value), reference.name);
    with_recur(parent, move |args| {
        set_named(args, arg, value);
        if arg == "erase" {
            set_named(args, "along", along?);
        }
        Some(detail)
    })
}

fn crossover_fuse(parent: &Program, references: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let reference = pick_reference(references, rng)?;
    let (ExprKind::Call { op: op_a, args: mine, .. }, ExprKind::Call { op: op_b, args: theirs, .. }) =
        (&parent.output.kind, &reference.output.kind)
    else {
        return None;
    };
    if op_a != "proj" || op_b != "proj" {
        return None;
    }
    // Bring the reference's bindings over under a prefix, so names cannot collide. Only its
    // binding names are renamed: `x`, `d`, `h` and option values (`init = one`) stay.
    let bound: Vec<&str> = reference.bindings.iter().map(|b| b.name.as_str()).collect();
    let rename = |e: &Expr| {
        let mut program = Program { bindings: Vec::new(), output: e.clone(), ..parent.clone() };
        visit_program(&mut program, &mut |e| {
            if let ExprKind::Name(n) = &mut e.kind
                && bound.contains(&n.as_str())
            {
                *n = format!("r_{n}");
            }
        });
        program.output
    };
    let mut program = parent.clone();
    for binding in &reference.bindings {
        let mut b = binding.clone();
        b.name = format!("r_{}", b.name);
        b.value = rename(&binding.value);
        program.bindings.push(b);
    }
    let ours = mine[0].value.clone();
    let their_inner = rename(&theirs[0].value);
    let ExprKind::Call { args, .. } = &mut program.output.kind else { unreachable!() };
    args[0].value = call("route", vec![expr("x"), ours, their_inner]);
    Some((program, format!("fuse with {}'s mixer as a second path, routed per head", reference.name)))
}

/// RWKV-style token shift: mix each projection's input with an earlier token. The offset is
/// drawn blindly from {1, 2, −1}; −1 reads the next token, which the causality check rejects and
/// the debugger repairs (as an LLM proposer's off-by-one would be).
fn token_shift(parent: &Program, _: &[Program], rng: &mut Rng) -> Option<(Program, String)> {
    let offset = pick(rng, &["1", "2", "-1"]);
    edit_one(
        parent,
        rng,
        |e| op_of(e) == Some("proj"),
        |e, _| {
            let ExprKind::Call { args, .. } = &mut e.kind else { unreachable!() };
            let input = args[0].value.clone();
            let shifted = call("shift", vec![input.clone(), expr(offset)]);
            args[0].value = binary(BinOp::Add, input.clone(), shifted);
            format!("token shift: {} + shift({}, {offset})", show(&input), show(&input))
        },
    )
}

fn mlp_ratio(parent: &Program, _: &[Program], _: &mut Rng) -> Option<(Program, String)> {
    let mut program = parent.clone();
    let old = program.block.mlp_ratio;
    let new = if old == 4 { 2 } else { 4 };
    program.block.mlp_ratio = new;
    Some((program, format!("MLP ratio {old} → {new}")))
}

#[cfg(test)]
mod tests {
    use lineage_arch::baselines;
    use lineage_arch::lang::{Dims, check, parse};

    use super::*;

    /// Every operator applies somewhere, and over many draws most results still check: the
    /// operators explore, they do not just break programs.
    #[test]
    fn operators_apply_and_mostly_produce_valid_programs() {
        let all: Vec<Program> = baselines::ALL.iter().map(|b| b.program()).collect();
        let (mut applied, mut valid) = (vec![0u32; OPERATORS.len()], 0u32);
        let mut rng = Rng::new(5);
        for round in 0..400 {
            let parent = &all[round % all.len()];
            let (i, (_, op)) = (round % OPERATORS.len(), OPERATORS[round % OPERATORS.len()]);
            if let Some((program, detail)) = op(parent, &all, &mut rng) {
                assert!(!detail.is_empty());
                applied[i] += 1;
                let text = lineage_arch::lang::print(&program);
                let reparsed = parse(&text).unwrap_or_else(|e| panic!("{text}\n{e:?}"));
                valid += check(&reparsed, Dims::DEFAULT).graph.is_some() as u32;
            }
        }
        for ((name, _), n) in OPERATORS.iter().zip(&applied) {
            assert!(*n > 0, "operator {name} never applied");
        }
        let total: u32 = applied.iter().sum();
        assert!(valid * 2 > total, "only {valid} of {total} edited programs type-check");
    }
}
