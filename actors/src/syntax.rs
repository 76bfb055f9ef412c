//! Small tools for editing a program's syntax tree, shared by the researcher's operators
//! (`mutate.rs`) and the debugger's repair rules (`repair.rs`). Edited programs are printed and
//! parsed again before anyone uses them, so new nodes carry empty spans.

use lineage_arch::lang::ast::{Arg, BinOp, Expr, ExprKind, Program};
use lineage_arch::lang::parse;

/// Parses an expression written in the language (a fixed template in the code).
pub fn expr(text: &str) -> Expr {
    let source = format!("mixer t {{\n  return {text}\n}}\n");
    parse(&source).unwrap_or_else(|_| panic!("template {text:?} parses")).output
}

/// `op(args…)`, positional arguments.
pub fn call(op: &str, args: Vec<Expr>) -> Expr {
    let args = args.into_iter().map(|value| Arg { name: None, value }).collect();
    Expr {
        kind: ExprKind::Call { op: op.into(), op_span: Default::default(), args },
        span: Default::default(),
    }
}

/// `a op b`.
pub fn binary(op: BinOp, a: Expr, b: Expr) -> Expr {
    Expr { kind: ExprKind::Binary(op, Box::new(a), Box::new(b)), span: Default::default() }
}

/// The operation an expression calls, if it is a call.
pub fn op_of(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Call { op, .. } => Some(op),
        _ => None,
    }
}

/// `e` and every expression inside it, pre-order, mutably.
pub fn visit(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    f(e);
    match &mut e.kind {
        ExprKind::Neg(inner) => visit(inner, f),
        ExprKind::Binary(_, a, b) => {
            visit(a, f);
            visit(b, f);
        }
        ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| visit(&mut a.value, f)),
        ExprKind::Number(_) | ExprKind::Name(_) => {}
    }
}

/// Every expression of the program, pre-order, mutably (bindings, then the output).
pub fn visit_program(program: &mut Program, f: &mut dyn FnMut(&mut Expr)) {
    for binding in &mut program.bindings {
        visit(&mut binding.value, f);
    }
    visit(&mut program.output, f);
}
