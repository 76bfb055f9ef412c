//! [`Program`] → text, in the one canonical layout: two-space indent, one binding per line,
//! spaces around binary operators and `=`, parentheses only where precedence needs them.
//! `parse(print(p)) == p` up to spans, and `print(parse(t)) == t` for printed text `t`.

use std::fmt::Write as _;

use super::ast::{BlockSpec, Expr, ExprKind, MlpKind, NormKind, Program, option_name};

/// The program as text.
pub fn print(program: &Program) -> String {
    let mut out = String::new();
    // A doc entry holding line breaks (a name a model gave, say) is a comment line per line:
    // one line of it outside a comment would not parse.
    let lines =
        program.doc.iter().flat_map(|doc| if doc.is_empty() { vec![""] } else { doc.lines().collect() });
    for line in lines {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    let _ = writeln!(out, "mixer {} {{", program.name);
    for binding in &program.bindings {
        let _ = writeln!(out, "  {} = {}", binding.name, expr(&binding.value));
    }
    let _ = writeln!(out, "  return {}", expr(&program.output));
    out.push_str("}\n");
    let _ = writeln!(out, "{}", block_line(&program.block));
    out
}

/// The `block(...)` line.
pub fn block_line(b: &BlockSpec) -> String {
    format!(
        "block(norm = {}, mlp = {}, mlp_ratio = {})",
        option_name(&NormKind::ALL, b.norm),
        option_name(&MlpKind::ALL, b.mlp),
        b.mlp_ratio
    )
}

/// One expression as text.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e, 0, false);
    out
}

/// A number in the shortest form that parses back to the same value. Negative numbers print as
/// `-n`, which parses as a negation: build negative constants as `Neg(Number)` to round-trip.
pub fn number(value: f64) -> String {
    let text = format!("{value}");
    if text.contains('e') || text.len() <= 12 {
        return text;
    }
    format!("{value:e}")
}

fn write_expr(out: &mut String, e: &Expr, parent_precedence: u8, is_right: bool) {
    match &e.kind {
        ExprKind::Number(value) => out.push_str(&number(*value)),
        ExprKind::Name(name) => out.push_str(name),
        ExprKind::Neg(inner) => {
            out.push('-');
            // `-(a + b)` needs parentheses; `-a * b` parses as `(-a) * b`, so a product under a
            // minus needs them too.
            write_expr(out, inner, 3, false);
        }
        ExprKind::Binary(op, lhs, rhs) => {
            let precedence = op.precedence();
            let needs_parens =
                precedence < parent_precedence || (is_right && precedence == parent_precedence);
            if needs_parens {
                out.push('(');
            }
            write_expr(out, lhs, precedence, false);
            let _ = write!(out, " {} ", op.symbol());
            write_expr(out, rhs, precedence, true);
            if needs_parens {
                out.push(')');
            }
        }
        ExprKind::Call { op, args, .. } => {
            out.push_str(op);
            out.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some((name, _)) = &arg.name {
                    let _ = write!(out, "{name} = ");
                }
                write_expr(out, &arg.value, 0, false);
            }
            out.push(')');
        }
    }
}
