//! The canonical form of a program and its hash: two programs that differ only in names,
//! comments, binding order, unused bindings, single-use bindings written inline or not, or the
//! order of the operands of `+` and `*`, have the same canonical form and the same hash.
//!
//! Construction: every expression gets a structural (Merkle) hash in which bound names are
//! replaced by their definitions and commutative operands are sorted. The canonical text is then
//! emitted from the output down: a binding used once is inlined, one used more than once becomes
//! a line `vN = …`, numbered in order of first use.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::ast::{Arg, Expr, ExprKind, Program};
use super::printer::{block_line, number};

/// SHA-256 of a program's canonical text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgramHash(pub [u8; 32]);

impl ProgramHash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for ProgramHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

type Digest32 = [u8; 32];

/// Structural hashes of the program's expressions, with bound names resolved.
pub struct Structure<'p> {
    definitions: HashMap<&'p str, &'p Expr>,
    memo: HashMap<&'p str, Digest32>,
    /// Hashes of expressions already hashed, by address: the emitter compares the operands of
    /// every commutative operation, and without this each comparison would hash the whole
    /// subtree again (quadratic in a chain's length).
    exprs: HashMap<*const Expr, Digest32>,
    /// Bindings being resolved (their memo holds a placeholder).
    resolving: HashSet<&'p str>,
    /// How often a placeholder has been used.
    placeholders: u64,
}

impl<'p> Structure<'p> {
    /// Indexes the program's bindings (the last binding of a name wins; checked programs have one).
    pub fn new(program: &'p Program) -> Self {
        let definitions = program.bindings.iter().map(|b| (b.name.as_str(), &b.value)).collect();
        Self {
            definitions,
            memo: HashMap::new(),
            exprs: HashMap::new(),
            resolving: HashSet::new(),
            placeholders: 0,
        }
    }

    /// The structural hash of `expr`.
    pub fn hash(&mut self, expr: &'p Expr) -> Digest32 {
        let key: *const Expr = expr;
        if let Some(digest) = self.exprs.get(&key) {
            return *digest;
        }
        let placeholders = self.placeholders;
        let digest = self.hash_once(expr);
        // A hash that used a binding still being resolved (a cycle, in an unchecked program) is
        // not final: asked again later, it would differ. Only final hashes are kept.
        if self.placeholders == placeholders && !matches!(expr.kind, ExprKind::Name(_)) {
            self.exprs.insert(key, digest);
        }
        digest
    }

    fn hash_once(&mut self, expr: &'p Expr) -> Digest32 {
        let mut h = Sha256::new();
        match &expr.kind {
            ExprKind::Number(value) => {
                h.update(b"n");
                h.update(value.to_bits().to_le_bytes());
            }
            ExprKind::Name(name) => match self.definitions.get(name.as_str()).copied() {
                Some(definition) => return self.binding(name, definition),
                None => {
                    h.update(b"name");
                    h.update(name.as_bytes());
                }
            },
            ExprKind::Neg(inner) => {
                h.update(b"neg");
                h.update(self.hash(inner));
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let (mut a, mut b) = (self.hash(lhs), self.hash(rhs));
                if op.is_commutative() && b < a {
                    std::mem::swap(&mut a, &mut b);
                }
                h.update(b"bin");
                h.update(op.symbol().as_bytes());
                h.update(a);
                h.update(b);
            }
            ExprKind::Call { op, args, .. } => {
                h.update(b"call");
                h.update(op.as_bytes());
                for arg in sorted_args(args) {
                    h.update(b"\0");
                    if let Some((name, _)) = &arg.name {
                        h.update(name.as_bytes());
                    }
                    h.update(b"=");
                    h.update(self.hash(&arg.value));
                }
            }
        }
        h.finalize().into()
    }

    fn binding(&mut self, name: &'p str, definition: &'p Expr) -> Digest32 {
        if let Some(digest) = self.memo.get(name) {
            self.placeholders += u64::from(self.resolving.contains(name));
            return *digest;
        }
        // Guard against a (malformed, unchecked) self-reference: hash the name instead.
        self.memo.insert(name, Sha256::digest(name.as_bytes()).into());
        self.resolving.insert(name);
        let digest = self.hash(definition);
        self.resolving.remove(name);
        self.memo.insert(name, digest);
        digest
    }
}

/// Positional arguments in order, then named ones sorted by name.
fn sorted_args(args: &[Arg]) -> Vec<&Arg> {
    let mut positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
    let mut named: Vec<&Arg> = args.iter().filter(|a| a.name.is_some()).collect();
    named.sort_by(|a, b| a.name.as_ref().map(|n| &n.0).cmp(&b.name.as_ref().map(|n| &n.0)));
    positional.extend(named);
    positional
}

/// The canonical text of a (checked) program. A program whose expressions, with names resolved,
/// nest deeper than [`RESOLVED_DEPTH_MAX`] (no program that checks, short of thousands of
/// aliases) is not resolved: its canonical text is its printed text, so that nothing here
/// recurses without bound.
pub fn canonical_text(program: &Program) -> String {
    let mut structure = Structure::new(program);
    if resolved_depth(&program.output, &structure.definitions) > RESOLVED_DEPTH_MAX {
        return format!("# unresolved: nested too deep\n{}", super::print(program));
    }
    let mut uses: HashMap<&str, u32> = HashMap::new();
    count_uses(&program.output, &structure.definitions, &mut uses);
    let mut emitter = Emitter { structure: &mut structure, uses, names: HashMap::new(), lines: Vec::new() };
    let output = emitter.expr(&program.output);
    let mut text = String::from("mixer _ {\n");
    for line in &emitter.lines {
        let _ = writeln!(text, "  {line}");
    }
    let _ = writeln!(text, "  return {output}\n}}");
    let _ = writeln!(text, "{}", block_line(&program.block));
    text
}

/// The hash of the canonical text.
pub fn program_hash(program: &Program) -> ProgramHash {
    ProgramHash(Sha256::digest(canonical_text(program).as_bytes()).into())
}

/// Deepest nesting of names resolved that the canonical form recurses through: a few thousand
/// frames of its passes, well within a thread's stack.
pub const RESOLVED_DEPTH_MAX: u32 = 512;

/// The depth of `output` with every bound name replaced by its definition (a name on a cycle
/// counts as a leaf), computed without recursing through names: bindings are resolved in
/// post-order from an explicit stack, each once.
fn resolved_depth<'p>(output: &'p Expr, definitions: &HashMap<&'p str, &'p Expr>) -> u32 {
    let mut done: HashMap<&'p str, u32> = HashMap::new();
    let mut open: HashSet<&'p str> = HashSet::new();
    let mut stack: Vec<(&'p str, bool)> = Vec::new();
    let push_names = |expr: &'p Expr, stack: &mut Vec<(&'p str, bool)>| {
        names_in(expr, &mut |name| {
            if definitions.contains_key(name) {
                stack.push((name, false));
            }
        });
    };
    push_names(output, &mut stack);
    while let Some((name, expanded)) = stack.pop() {
        if expanded {
            let depth = depth_with(definitions[name], &done);
            done.insert(name, depth);
            open.remove(name);
        } else if !done.contains_key(name) && open.insert(name) {
            stack.push((name, true));
            push_names(definitions[name], &mut stack);
        }
    }
    depth_with(output, &done)
}

/// Every name `expr` mentions, in order. The parser bounds an expression's depth, so this
/// recursion is bounded.
fn names_in<'p>(expr: &'p Expr, found: &mut impl FnMut(&'p str)) {
    match &expr.kind {
        ExprKind::Number(_) => {}
        ExprKind::Name(name) => found(name),
        ExprKind::Neg(inner) => names_in(inner, found),
        ExprKind::Binary(_, lhs, rhs) => {
            names_in(lhs, found);
            names_in(rhs, found);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| names_in(&a.value, found)),
    }
}

/// Depth of `expr` where a resolved name adds its definition's depth.
fn depth_with(expr: &Expr, resolved: &HashMap<&str, u32>) -> u32 {
    match &expr.kind {
        ExprKind::Number(_) => 1,
        ExprKind::Name(name) => 1 + resolved.get(name.as_str()).copied().unwrap_or(0),
        ExprKind::Neg(inner) => 1 + depth_with(inner, resolved),
        ExprKind::Binary(_, lhs, rhs) => 1 + depth_with(lhs, resolved).max(depth_with(rhs, resolved)),
        ExprKind::Call { args, .. } => {
            1 + args.iter().map(|a| depth_with(&a.value, resolved)).max().unwrap_or(0)
        }
    }
}

/// Counts, for every binding reachable from `expr`, how often it is referenced.
fn count_uses<'p>(
    expr: &'p Expr,
    definitions: &HashMap<&'p str, &'p Expr>,
    uses: &mut HashMap<&'p str, u32>,
) {
    match &expr.kind {
        ExprKind::Number(_) => {}
        ExprKind::Name(name) => {
            if let Some(definition) = definitions.get(name.as_str()) {
                let count = uses.entry(name.as_str()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    count_uses(definition, definitions, uses);
                }
            }
        }
        ExprKind::Neg(inner) => count_uses(inner, definitions, uses),
        ExprKind::Binary(_, lhs, rhs) => {
            count_uses(lhs, definitions, uses);
            count_uses(rhs, definitions, uses);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| count_uses(&a.value, definitions, uses)),
    }
}

struct Emitter<'s, 'p> {
    structure: &'s mut Structure<'p>,
    uses: HashMap<&'p str, u32>,
    names: HashMap<&'p str, String>,
    lines: Vec<String>,
}

impl<'p> Emitter<'_, 'p> {
    fn expr(&mut self, expr: &'p Expr) -> String {
        let mut out = String::new();
        self.write(&mut out, expr, 0, false);
        out
    }

    fn write(&mut self, out: &mut String, expr: &'p Expr, parent_precedence: u8, is_right: bool) {
        match &expr.kind {
            ExprKind::Number(value) => out.push_str(&number(*value)),
            ExprKind::Name(name) => {
                let Some(definition) = self.structure.definitions.get(name.as_str()).copied() else {
                    out.push_str(name);
                    return;
                };
                if self.uses.get(name.as_str()).copied().unwrap_or(0) < 2 {
                    // Inline, keeping the parenthesisation of the context.
                    self.write(out, definition, parent_precedence, is_right);
                    return;
                }
                if let Some(canonical) = self.names.get(name.as_str()) {
                    out.push_str(canonical);
                    return;
                }
                let body = self.expr(definition);
                let canonical = format!("v{}", self.lines.len() + 1);
                self.lines.push(format!("{canonical} = {body}"));
                self.names.insert(name.as_str(), canonical.clone());
                out.push_str(&canonical);
            }
            ExprKind::Neg(inner) => {
                out.push('-');
                self.write(out, inner, 3, false);
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let (mut a, mut b) = (&**lhs, &**rhs);
                if op.is_commutative() && self.structure.hash(b) < self.structure.hash(a) {
                    std::mem::swap(&mut a, &mut b);
                }
                let precedence = op.precedence();
                let parens = precedence < parent_precedence || (is_right && precedence == parent_precedence);
                if parens {
                    out.push('(');
                }
                self.write(out, a, precedence, false);
                let _ = write!(out, " {} ", op.symbol());
                self.write(out, b, precedence, true);
                if parens {
                    out.push(')');
                }
            }
            ExprKind::Call { op, args, .. } => {
                out.push_str(op);
                out.push('(');
                for (i, arg) in sorted_args(args).into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if let Some((name, _)) = &arg.name {
                        let _ = write!(out, "{name} = ");
                    }
                    self.write(out, &arg.value, 0, false);
                }
                out.push(')');
            }
        }
    }
}
