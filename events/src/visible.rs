//! Recorded text as people see it. What a model, an analyst or a program's author wrote is
//! recorded byte for byte; every view of it meant for people (the terminal, the dashboard)
//! shows the characters that would hide or reorder what follows as escapes, so that nothing
//! recorded can move a cursor, retitle a window, or reverse what an auditor reads.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters a reader sees as nothing, or that reorder what follows them: control characters,
/// zero-width characters and Unicode's bidirectional controls.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{061c}'
                | '\u{2060}'
                | '\u{feff}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with each [`invisible`] character written as its escape (`\u{1b}`), tabs kept, and
/// line breaks kept where `lines` allows them (else a view of one line stays one line).
pub fn shown(text: &str, lines: bool) -> Cow<'_, str> {
    let hidden = |c: char| invisible(c) && c != '\t' && !(lines && c == '\n');
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_shown_as_escapes_and_the_rest_as_it_is() {
        assert!(matches!(shown("plain text, é and 漢字\twith a tab", false), Cow::Borrowed(_)));
        assert_eq!(shown("a\u{1b}[31mb\u{202e}c\r\nd", false), "a\\u{1b}[31mb\\u{202e}c\\u{d}\\u{a}d");
        assert_eq!(shown("a\u{1b}b\nc", true), "a\\u{1b}b\nc");
        assert!(invisible('\u{2067}') && invisible('\u{7f}') && invisible('\u{200b}') && !invisible(' '));
    }
}
