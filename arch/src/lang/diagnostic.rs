//! Diagnostics: where, what is wrong, and how to fix it — for people, for the debugger's repair
//! rules (the machine-readable [`ErrorClass`]) and for an LLM.

use std::fmt::Write as _;

use serde::Serialize;

/// A region of the source text: 1-based line and column of the first character, and its length
/// in characters (at least 1, so there is always something to underline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
    /// Length in characters.
    pub len: u32,
}

/// What kind of problem a diagnostic reports. Stable names (`kebab-case`) that repair rules
/// match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// The text does not follow the grammar.
    Syntax,
    /// A name that is neither bound, nor `x`, `d` or `h`.
    UnknownName,
    /// A call to an operation that does not exist.
    UnknownOp,
    /// Wrong number of arguments.
    Arity,
    /// An argument of the wrong kind (e.g. a tensor where a number is needed).
    BadArgument,
    /// Widths that do not fit together.
    WidthMismatch,
    /// A width that is not a multiple of the head count.
    WidthNotDivisible,
    /// A name bound twice.
    Redefinition,
    /// A binding uses a reserved name.
    ReservedName,
    /// The mixer's output is not `d` wide.
    OutputWidth,
    /// A value that is computed and never used (a warning).
    UnusedBinding,
    /// The program looks at later tokens (found by the causality check).
    NonCausal,
    /// Cost grows faster than linearly with sequence length (found by the complexity check).
    SuperLinear,
    /// Non-finite values in the forward or backward pass (found by the finiteness check).
    NonFinite,
    /// Training the program at its stage's size needs more memory or compute than the budget
    /// (found by the resources check, before any other).
    OverBudget,
    /// The program text is larger than the language's size caps.
    TooLarge,
}

impl ErrorClass {
    /// The stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Syntax => "syntax",
            ErrorClass::UnknownName => "unknown-name",
            ErrorClass::UnknownOp => "unknown-op",
            ErrorClass::Arity => "arity",
            ErrorClass::BadArgument => "bad-argument",
            ErrorClass::WidthMismatch => "width-mismatch",
            ErrorClass::WidthNotDivisible => "width-not-divisible",
            ErrorClass::Redefinition => "redefinition",
            ErrorClass::ReservedName => "reserved-name",
            ErrorClass::OutputWidth => "output-width",
            ErrorClass::UnusedBinding => "unused-binding",
            ErrorClass::NonCausal => "non-causal",
            ErrorClass::SuperLinear => "super-linear",
            ErrorClass::NonFinite => "non-finite",
            ErrorClass::OverBudget => "over-budget",
            ErrorClass::TooLarge => "too-large",
        }
    }
}

/// Whether a diagnostic stops the program from being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The program is rejected.
    Error,
    /// Worth fixing; the program is still accepted.
    Warning,
}

/// One problem found in a program.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Machine-readable class.
    pub class: ErrorClass,
    /// Where.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// A suggested fix, when there is one.
    pub suggestion: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(class: ErrorClass, span: Span, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, class, span, message: message.into(), suggestion: None }
    }

    /// A warning.
    pub fn warning(class: ErrorClass, span: Span, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, class, span, message: message.into(), suggestion: None }
    }

    /// Adds a suggested fix.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// Whether this diagnostic rejects the program.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic in the style of rustc: header, location, the source line with the
    /// span underlined, and the suggestion.
    pub fn render(&self, source: &str, file: &str) -> String {
        let mut out = String::new();
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{level}[{}]: {}", self.class.name(), self.message);
        let line_no = self.span.line.max(1);
        let _ = writeln!(out, "  --> {file}:{line_no}:{}", self.span.column.max(1));
        if let Some(line) = source.lines().nth(line_no as usize - 1) {
            let gutter = line_no.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line_no} | {line}");
            let start = self.span.column.saturating_sub(1) as usize;
            let marks = "^".repeat(self.span.len.max(1) as usize);
            let _ = writeln!(out, "{pad} | {}{marks}", " ".repeat(start));
        }
        if let Some(suggestion) = &self.suggestion {
            let _ = writeln!(out, "  = help: {suggestion}");
        }
        out
    }
}

/// Longest name a suggestion is looked for: a typo is in a name someone wrote, and edit distance
/// costs the product of the two lengths.
const SUGGESTION_NAME_MAX: usize = 64;

/// The closest candidate to `name` by edit distance, if it is close enough to be a likely typo.
/// Candidates whose length alone puts them too far away are skipped unmeasured.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > SUGGESTION_NAME_MAX {
        return None;
    }
    let near = |c: &str| {
        c.len() <= SUGGESTION_NAME_MAX && c.len().abs_diff(name.len()) <= (c.len().max(name.len()) / 3).max(1)
    };
    candidates
        .into_iter()
        .filter(|c| near(c))
        .map(|c| (edit_distance(name, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(name.len()) / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (row[j] + 1).min(current + 1).min(prev + usize::from(ca != *cb));
            prev = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_intended_name() {
        let ops = ["sigmoid", "silu", "softplus", "proj", "recur"];
        assert_eq!(closest("sigmod", ops), Some("sigmoid"));
        assert_eq!(closest("recurr", ops), Some("recur"));
        assert_eq!(closest("transformer", ops), None);
    }

    #[test]
    fn render_underlines_the_span() {
        let source = "mixer m {\n  y = sigmod(x)\n  return y\n}\n";
        let d = Diagnostic::error(
            ErrorClass::UnknownOp,
            Span { line: 2, column: 7, len: 6 },
            "unknown operation `sigmod`",
        )
        .with_suggestion("did you mean `sigmoid`?");
        let text = d.render(source, "m.arch");
        assert_eq!(
            text,
            "error[unknown-op]: unknown operation `sigmod`\n  --> m.arch:2:7\n  |\n2 |   y = sigmod(x)\n  |       ^^^^^^\n  = help: did you mean `sigmoid`?\n"
        );
    }
}
