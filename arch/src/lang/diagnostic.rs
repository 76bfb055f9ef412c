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
        Self { severity: Severity::Error, class, span, message: clip(message.into()), suggestion: None }
    }

    /// A warning.
    pub fn warning(class: ErrorClass, span: Span, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, class, span, message: clip(message.into()), suggestion: None }
    }

    /// Adds a suggested fix.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(clip(suggestion.into()));
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
            let start = self.span.column.saturating_sub(1) as usize;
            let (shown, start) = excerpt(line, start);
            let _ = writeln!(out, "{line_no} | {shown}");
            let room = shown.chars().count().saturating_sub(start).max(1);
            let marks = "^".repeat((self.span.len.max(1) as usize).min(room));
            let _ = writeln!(out, "{pad} | {}{marks}", " ".repeat(start));
        }
        if let Some(suggestion) = &self.suggestion {
            let _ = writeln!(out, "  = help: {suggestion}");
        }
        out
    }
}

/// Most characters of a source line a diagnostic shows: a hostile program may be one line of
/// a mebibyte.
const EXCERPT_CHARS: usize = 120;

/// Most characters of a message or suggestion: they quote names from the program, and a
/// hostile one may be a mebibyte long.
const MESSAGE_CHARS: usize = 300;

/// `text` cut to [`MESSAGE_CHARS`] (ending `…` where cut), invisible characters shown.
fn clip(text: String) -> String {
    if text.chars().count() <= MESSAGE_CHARS && !text.chars().any(invisible) {
        return text;
    }
    let mut clipped: String = text.chars().take(MESSAGE_CHARS).map(visible).collect();
    if text.chars().count() > MESSAGE_CHARS {
        clipped.push('…');
    }
    clipped
}

/// Characters a terminal shows as nothing, or that reorder what follows them: control
/// characters and Unicode's bidirectional controls.
pub(crate) fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `c` as a diagnostic shows it: a tab as a space (the marks below a line stay aligned), any
/// other invisible character as `�`.
fn visible(c: char) -> char {
    match c {
        '\t' => ' ',
        c if invisible(c) => '\u{fffd}',
        c => c,
    }
}

/// The part of `line` a diagnostic shows, at most [`EXCERPT_CHARS`] characters around the
/// character `start` (cut ends marked `…`), each character as [`visible`] shows it; and where
/// `start` falls in what is shown.
fn excerpt(line: &str, start: usize) -> (String, usize) {
    let chars = line.chars().count();
    let from = if chars <= EXCERPT_CHARS {
        0
    } else {
        start.saturating_sub(EXCERPT_CHARS / 3).min(chars - EXCERPT_CHARS)
    };
    let to = (from + EXCERPT_CHARS).min(chars);
    let mut shown: String = line.chars().skip(from).take(to - from).map(visible).collect();
    let mut start = start - from.min(start);
    if from > 0 {
        shown.insert(0, '…');
        start += 1;
    }
    if to < chars {
        shown.push('…');
    }
    (shown, start)
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

    #[test]
    fn a_long_line_is_shown_around_the_span_and_control_characters_are_replaced() {
        let line = format!("{}bad\0{}", "a".repeat(5_000), "b".repeat(5_000));
        let d = Diagnostic::error(ErrorClass::Syntax, Span { line: 1, column: 5_004, len: 1 }, "unexpected");
        let text = d.render(&line, "x.arch");
        let shown: Vec<&str> = text.lines().collect();
        assert!(text.len() < 600, "{} bytes", text.len());
        let (source, marks) =
            (shown[3].strip_prefix("1 | ").unwrap(), shown[4].strip_prefix("  | ").unwrap());
        assert!(source.starts_with('…') && source.ends_with('…'), "{source}");
        assert_eq!(source.chars().count(), EXCERPT_CHARS + 2);
        // The mark sits under the replaced NUL.
        assert_eq!(source.chars().nth(marks.len() - 1), Some('\u{fffd}'), "{source}\n{marks}");
        assert!(!text.contains('\0'));
    }

    #[test]
    fn a_huge_name_is_cut_in_the_message_and_bidi_controls_are_shown() {
        let name = "x".repeat(1 << 20);
        let d = Diagnostic::error(
            ErrorClass::UnknownName,
            Span { line: 1, column: 1, len: 1 },
            format!("`{name}` is not defined"),
        );
        assert_eq!(d.message.chars().count(), MESSAGE_CHARS + 1);
        assert!(d.message.ends_with('…'));
        let d =
            Diagnostic::error(ErrorClass::Syntax, Span { line: 1, column: 1, len: 1 }, "a\u{202e}b\u{2066}c");
        assert_eq!(d.message, "a\u{fffd}b\u{fffd}c");
    }
}
