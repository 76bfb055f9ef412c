//! A readable diff between two programs: what changed binding by binding (as written, matched
//! by name), and the printed programs line by line.

use std::fmt::Write as _;

use super::ast::Program;
use super::canonical::program_hash;
use super::printer::{block_line, expr, print};

/// How two programs differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramDiff {
    /// Same canonical form (only names, order, formatting or comments differ).
    pub equivalent: bool,
    /// Per-binding changes, matched by name: `name: old → new`, `+ name = …`, `- name = …`.
    pub changes: Vec<String>,
    /// Unified line diff of the printed programs (`  `, `- `, `+ ` prefixes).
    pub lines: Vec<String>,
}

/// Compares `a` with `b`.
pub fn diff(a: &Program, b: &Program) -> ProgramDiff {
    let equivalent = program_hash(a) == program_hash(b);
    let mut changes = Vec::new();
    for old in &a.bindings {
        match b.bindings.iter().find(|n| n.name == old.name) {
            None => changes.push(format!("- {} = {}", old.name, expr(&old.value))),
            Some(new) if expr(&old.value) != expr(&new.value) => {
                changes.push(format!("{}: {} → {}", old.name, expr(&old.value), expr(&new.value)));
            }
            Some(_) => {}
        }
    }
    for new in &b.bindings {
        if !a.bindings.iter().any(|o| o.name == new.name) {
            changes.push(format!("+ {} = {}", new.name, expr(&new.value)));
        }
    }
    if expr(&a.output) != expr(&b.output) {
        changes.push(format!("return: {} → {}", expr(&a.output), expr(&b.output)));
    }
    if a.block != b.block {
        changes.push(format!("{} → {}", block_line(&a.block), block_line(&b.block)));
    }
    ProgramDiff { equivalent, changes, lines: line_diff(&print(a), &print(b)) }
}

impl ProgramDiff {
    /// The diff as text: the summary of changes, then the line diff.
    pub fn render(&self, name_a: &str, name_b: &str) -> String {
        let mut out = String::new();
        if self.equivalent {
            let _ = writeln!(out, "{name_a} and {name_b} are equivalent (same canonical form)");
        }
        for change in &self.changes {
            let _ = writeln!(out, "{change}");
        }
        let _ = writeln!(out, "--- {name_a}\n+++ {name_b}");
        for line in &self.lines {
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

/// Longest-common-subsequence line diff. Programs are short (tens of lines), so the quadratic
/// table is cheap.
fn line_diff(a: &str, b: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as `diff -u` prints a changed hunk.
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}
