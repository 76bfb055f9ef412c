//! The debugger's repair rules: each reads a failing check's diagnostic (its machine class) and
//! the program, and proposes a patched program with a one-line reason — or does not apply.
//! Rules are tried in order; the debugger keeps the first whose patch it has not tried before.

use lineage_arch::lang::ast::{Arg, BinOp, Expr, ExprKind, Program};
use lineage_events::payload::Diagnostic;

use crate::syntax::{binary, call, expr, op_of, visit, visit_program};

/// A rule: name, the diagnostic classes it answers, the patch.
pub struct Rule {
    /// Name recorded in `RepairAttempted`.
    pub name: &'static str,
    /// Diagnostic classes (`ErrorClass::name`) it applies to.
    pub classes: &'static [&'static str],
    /// The patch, or `None` when this program offers nothing to patch.
    pub patch: fn(&Program, &Diagnostic) -> Option<(Program, String)>,
}

/// Every rule, in the order they are tried.
pub const RULES: &[Rule] = &[
    Rule { name: "causal-shift", classes: &["non-causal"], patch: causal_shift },
    Rule { name: "causal-mask", classes: &["non-causal"], patch: causal_mask },
    Rule { name: "attention-to-recurrence", classes: &["super-linear"], patch: attention_to_recurrence },
    Rule { name: "normalise-erase-key", classes: &["non-finite"], patch: normalise_erase_key },
    Rule { name: "bound-decay", classes: &["non-finite"], patch: bound_decay },
    Rule { name: "normalise-keys", classes: &["non-finite"], patch: normalise_keys },
    Rule { name: "per-head-width", classes: &["width-mismatch"], patch: per_head_width },
    Rule { name: "project-output", classes: &["output-width", "width-mismatch"], patch: project_output },
    Rule {
        name: "rename-to-suggestion",
        classes: &["unknown-name", "unknown-op"],
        patch: rename_to_suggestion,
    },
];

/// Edits every call to `op` with `edit`; returns the program if anything changed.
fn edit_calls(program: &Program, op: &str, edit: &mut dyn FnMut(&mut Vec<Arg>) -> bool) -> Option<Program> {
    let mut program = program.clone();
    let mut changed = false;
    visit_program(&mut program, &mut |e| {
        if let ExprKind::Call { op: name, args, .. } = &mut e.kind
            && name == op
        {
            changed |= edit(args);
        }
    });
    changed.then_some(program)
}

fn wrap(op: &str, inner: Expr) -> Expr {
    call(op, vec![inner])
}

fn is_call(e: &Expr, op: &str) -> bool {
    op_of(e) == Some(op)
}

fn named_mut<'a>(args: &'a mut [Arg], name: &str) -> Option<&'a mut Expr> {
    args.iter_mut().find(|a| a.name.as_ref().is_some_and(|(n, _)| n == name)).map(|a| &mut a.value)
}

fn causal_shift(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let patched = edit_calls(program, "shift", &mut |args| match args.get(1).map(|a| &a.value.kind) {
        Some(ExprKind::Neg(inner)) => {
            args[1].value = (**inner).clone();
            true
        }
        Some(ExprKind::Number(n)) if *n < 0.0 => {
            args[1].value = expr(&format!("{}", -n));
            true
        }
        _ => false,
    })?;
    Some((patched, "shift into the past instead of the future".into()))
}

fn causal_mask(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let patched = edit_calls(program, "attention", &mut |args| match named_mut(args, "mask") {
        Some(mask) if !matches!(&mask.kind, ExprKind::Name(n) if n == "causal") => {
            *mask = expr("causal");
            true
        }
        _ => false,
    })?;
    Some((patched, "mask the future in attention".into()))
}

fn attention_to_recurrence(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let mut program = program.clone();
    let mut changed = false;
    let mut replace = |e: &mut Expr| {
        if let ExprKind::Call { op, args, .. } = &mut e.kind
            && op == "attention"
        {
            let positional: Vec<Arg> = args.iter().filter(|a| a.name.is_none()).cloned().collect();
            if positional.len() == 3 {
                *op = "recur".into();
                *args = positional;
                args[0].value = wrap("l2norm", args[0].value.clone());
                args[1].value = wrap("l2norm", args[1].value.clone());
                changed = true;
            }
        }
    };
    visit_program(&mut program, &mut replace);
    changed
        .then(|| (program, "replace quadratic attention by linear attention over l2-normalised q, k".into()))
}

fn normalise_erase_key(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let patched = edit_calls(program, "recur", &mut |args| {
        let Some(along) = named_mut(args, "along").cloned() else { return false };
        if is_call(&along, "l2norm") {
            return false;
        }
        let normalised = wrap("l2norm", along);
        *named_mut(args, "along").expect("present") = normalised.clone();
        let erase = named_mut(args, "erase").expect("erase goes with along");
        *erase = binary(BinOp::Mul, expr("sigmoid(proj(x, h))"), normalised);
        true
    })?;
    Some((
        patched,
        "erase along an l2-normalised key with a gate in (0, 1), so the transition stays contractive".into(),
    ))
}

fn bound_decay(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let patched = edit_calls(program, "recur", &mut |args| match named_mut(args, "decay") {
        Some(decay) if !is_call(decay, "sigmoid") => {
            *decay = wrap("sigmoid", decay.clone());
            true
        }
        _ => false,
    })?;
    Some((patched, "squash the decay into (0, 1) so the state cannot grow".into()))
}

fn normalise_keys(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let patched = edit_calls(program, "recur", &mut |args| {
        let mut changed = false;
        for arg in args.iter_mut().take(2) {
            if !is_call(&arg.value, "l2norm") {
                arg.value = wrap("l2norm", arg.value.clone());
                changed = true;
            }
        }
        changed
    })?;
    Some((patched, "l2-normalise the query and key of the recurrence".into()))
}

/// A decay or gate projected to `d` where the recurrence wants one value per head.
fn per_head_width(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    let patched = edit_calls(program, "recur", &mut |args| {
        let Some(decay) = named_mut(args, "decay") else { return false };
        let mut changed = false;
        visit(decay, &mut |e| {
            if let ExprKind::Call { op, args, .. } = &mut e.kind
                && op == "proj"
                && args.len() == 2
                && !matches!(&args[1].value.kind, ExprKind::Name(n) if n == "h")
            {
                args[1].value = expr("h");
                changed = true;
            }
        });
        changed
    })?;
    Some((patched, "make the decay per head (proj(x, h))".into()))
}

fn project_output(program: &Program, _: &Diagnostic) -> Option<(Program, String)> {
    if is_call(&program.output, "proj") {
        return None;
    }
    let mut patched = program.clone();
    let inner = patched.output.clone();
    patched.output = call("proj", vec![inner, expr("d")]);
    Some((patched, "project the output back to the model width d".into()))
}

/// Uses the checker's "did you mean `…`" suggestion for an unknown name or operation.
fn rename_to_suggestion(program: &Program, diagnostic: &Diagnostic) -> Option<(Program, String)> {
    let suggestion = diagnostic.suggestion.as_deref()?;
    let wanted = suggestion.split('`').nth(1)?;
    let wrong = diagnostic.message.split('`').nth(1)?;
    let mut patched = program.clone();
    let mut changed = false;
    let mut rename = |e: &mut Expr| match &mut e.kind {
        ExprKind::Name(n) if n == wrong => {
            *n = wanted.into();
            changed = true;
        }
        ExprKind::Call { op, .. } if op == wrong => {
            *op = wanted.into();
            changed = true;
        }
        _ => {}
    };
    visit_program(&mut patched, &mut rename);
    changed.then(|| (patched, format!("`{wrong}` → `{wanted}` as the checker suggests")))
}

#[cfg(test)]
mod tests {
    use lineage_arch::checks;
    use lineage_arch::lang::{parse, print};

    use super::*;

    fn diagnostic(class: &str) -> Diagnostic {
        Diagnostic { class: class.into(), line: 1, column: 1, message: String::new(), suggestion: None }
    }

    fn repair_once(program: &Program, class: &str) -> Program {
        let rule = RULES
            .iter()
            .filter(|r| r.classes.contains(&class))
            .find_map(|r| (r.patch)(program, &diagnostic(class)));
        let (patched, _) = rule.unwrap_or_else(|| panic!("no rule for {class}"));
        parse(&print(&patched)).unwrap()
    }

    /// The planted bad programs of the checks are repaired, within the debugger's three
    /// attempts, into programs that pass every check (full attention with no mask takes two:
    /// masked first, then still quadratic, then replaced by a recurrence).
    #[test]
    fn planted_failures_are_repaired_into_passing_programs() {
        let device = burn::tensor::Device::flex();
        let cases = [
            "mixer m {\n  return proj(shift(x, -1), d)\n}\n",
            "mixer m {\n  return proj(attention(proj(x, d), proj(x, d), proj(x, d), mask = none), d)\n}\n",
            "mixer m {\n  return proj(attention(proj(x, d), proj(x, d), proj(x, d), mask = causal), d)\n}\n",
            "mixer m {\n  k = proj(x, d)\n  return proj(recur(proj(x, d), k, proj(x, d), erase = 3 * k, along = k), d)\n}\n",
        ];
        for source in cases {
            let mut program = parse(source).unwrap();
            assert!(
                checks::run_all(&program, &device).iter().any(|v| !v.passed),
                "{source} should fail a check"
            );
            let mut attempts = 0;
            loop {
                let verdicts = checks::run_all(&program, &device);
                let Some(failing) = verdicts.iter().find(|v| !v.passed) else { break };
                attempts += 1;
                assert!(attempts <= 3, "{source} still fails after 3 repairs: {verdicts:?}");
                program = repair_once(&program, failing.diagnostics[0].class.name());
            }
        }
    }
}
