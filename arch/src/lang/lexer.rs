//! Tokens. Whitespace and newlines separate tokens and mean nothing else; `#` starts a comment
//! that runs to the end of the line.

use super::diagnostic::{Diagnostic, ErrorClass, Span};

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// `[A-Za-z_][A-Za-z0-9_]*`
    Ident(String),
    /// A number literal.
    Number(f64),
    /// `# …` (text after `#` and one space).
    Comment(String),
    /// Punctuation and operators.
    Punct(char),
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    /// The token.
    pub token: Token,
    /// Its location.
    pub span: Span,
}

/// Splits `source` into tokens, or reports the first character that cannot start a token.
pub fn lex(source: &str) -> Result<Vec<Spanned>, Diagnostic> {
    let mut tokens = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let line_no = index as u32 + 1;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let start = i;
            let span = |end: usize| Span {
                line: line_no,
                column: start as u32 + 1,
                len: (end - start).max(1) as u32,
            };
            if c.is_whitespace() {
                i += 1;
            } else if c == '#' {
                let text: String = chars[i + 1..].iter().collect();
                let text = text.strip_prefix(' ').unwrap_or(&text).to_owned();
                tokens.push(Spanned { token: Token::Comment(text), span: span(chars.len()) });
                i = chars.len();
            } else if c.is_ascii_alphabetic() || c == '_' {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Spanned { token: Token::Ident(chars[start..i].iter().collect()), span: span(i) });
            } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
                i = number_end(&chars, i);
                let text: String = chars[start..i].iter().collect();
                let value = text.parse::<f64>().map_err(|_| {
                    Diagnostic::error(ErrorClass::Syntax, span(i), format!("malformed number `{text}`"))
                })?;
                tokens.push(Spanned { token: Token::Number(value), span: span(i) });
            } else if "(){}=,+-*/".contains(c) {
                i += 1;
                tokens.push(Spanned { token: Token::Punct(c), span: span(i) });
            } else {
                return Err(Diagnostic::error(
                    ErrorClass::Syntax,
                    span(i + 1),
                    if super::diagnostic::invisible(c) {
                        format!("unexpected invisible character {}", c.escape_unicode())
                    } else {
                        format!("unexpected character `{c}`")
                    },
                )
                .with_suggestion("programs use names, numbers, ( ) { } = , + - * / and # comments"));
            }
        }
    }
    Ok(tokens)
}

fn number_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '-' || chars[j] == '+') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}
