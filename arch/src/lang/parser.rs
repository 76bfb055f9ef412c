//! Text → [`Program`]. Recursive descent; after a syntax error in one binding the parser skips to
//! the next `name =` and goes on, so one run reports every broken line.
//!
//! ```text
//! program  := comment* "mixer" NAME "{" binding* "return" expr "}" block?
//! binding  := NAME "=" expr
//! block    := "block" "(" NAME "=" (NAME | NUMBER) ("," NAME "=" (NAME | NUMBER))* ")"
//! expr     := term (("+" | "-") term)*
//! term     := unary (("*" | "/") unary)*
//! unary    := "-" unary | atom
//! atom     := NUMBER | NAME | NAME "(" (arg ("," arg)*)? ")" | "(" expr ")"
//! arg      := expr | NAME "=" expr
//! ```

use super::ast::{Arg, BinOp, Binding, BlockSpec, Expr, ExprKind, MlpKind, NormKind, Program};
use super::diagnostic::{Diagnostic, ErrorClass, Span, closest};
use super::lexer::{Spanned, Token, lex};
use crate::limits::{BINDINGS_MAX, DIAGNOSTICS_MAX, EXPRESSION_DEPTH_MAX, PROGRAM_BYTES_MAX};

/// Most nested parentheses/calls accepted: a bound on recursion depth for hostile input.
pub const NESTING_MAX: u32 = 64;

/// Parses a program, or returns every syntax error found (up to [`DIAGNOSTICS_MAX`]). A text
/// over [`PROGRAM_BYTES_MAX`] is refused unread, one with more than [`BINDINGS_MAX`] bindings or
/// an expression nested deeper than [`EXPRESSION_DEPTH_MAX`] as soon as it gets there: every
/// later pass over a program is then bounded too.
pub fn parse(source: &str) -> Result<Program, Vec<Diagnostic>> {
    if source.len() > PROGRAM_BYTES_MAX {
        return Err(vec![
            Diagnostic::error(
                ErrorClass::TooLarge,
                Span { line: 1, column: 1, len: 1 },
                format!("the program is {} bytes, over the limit of {PROGRAM_BYTES_MAX}", source.len()),
            )
            .with_suggestion("a mixer is a few dozen lines: write the operations it needs, once each"),
        ]);
    }
    let tokens = lex(source).map_err(|d| vec![d])?;
    let mut doc = Vec::new();
    let mut rest = tokens.as_slice();
    while let Some((Spanned { token: Token::Comment(text), .. }, tail)) = rest.split_first() {
        doc.push(text.clone());
        rest = tail;
    }
    let tokens: Vec<Spanned> =
        rest.iter().filter(|t| !matches!(t.token, Token::Comment(_))).cloned().collect();
    let end = tokens.last().map_or(Span { line: 1, column: 1, len: 1 }, |t| Span {
        line: t.span.line,
        column: t.span.column + t.span.len,
        len: 1,
    });
    let mut parser = Parser { tokens, pos: 0, end, depth: 0, diagnostics: Vec::new() };
    let program = parser.program(doc);
    match program {
        Some(program) if parser.diagnostics.is_empty() => Ok(program),
        _ => {
            if parser.diagnostics.is_empty() {
                parser.diagnostics.push(Diagnostic::error(
                    ErrorClass::Syntax,
                    parser.end,
                    "incomplete program",
                ));
            }
            Err(parser.diagnostics)
        }
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    end: Span,
    depth: u32,
    diagnostics: Vec<Diagnostic>,
}

type Parsed<T> = Result<T, Diagnostic>;

fn join(a: Span, b: Span) -> Span {
    if a.line == b.line && b.column >= a.column {
        Span { line: a.line, column: a.column, len: b.column + b.len - a.column }
    } else {
        a
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset).map(|t| &t.token)
    }

    fn span(&self) -> Span {
        self.tokens.get(self.pos).map_or(self.end, |t| t.span)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(Token::Ident(name)) => format!("`{name}`"),
            Some(Token::Number(n)) => format!("number `{n}`"),
            Some(Token::Punct(c)) => format!("`{c}`"),
            Some(Token::Comment(_)) => "a comment".into(),
        }
    }

    fn error(&self, expected: &str) -> Diagnostic {
        Diagnostic::error(
            ErrorClass::Syntax,
            self.span(),
            format!("expected {expected}, found {}", self.describe()),
        )
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char) -> Parsed<Span> {
        let span = self.span();
        if self.eat_punct(c) { Ok(span) } else { Err(self.error(&format!("`{c}`"))) }
    }

    fn ident(&mut self, what: &str) -> Parsed<(String, Span)> {
        match self.peek() {
            Some(Token::Ident(name)) => {
                let out = (name.clone(), self.span());
                self.pos += 1;
                Ok(out)
            }
            _ => Err(self.error(what)),
        }
    }

    fn keyword(&mut self, word: &str) -> Parsed<Span> {
        match self.peek() {
            Some(Token::Ident(name)) if name == word => {
                let span = self.span();
                self.pos += 1;
                Ok(span)
            }
            _ => Err(self.error(&format!("`{word}`"))),
        }
    }

    fn program(&mut self, doc: Vec<String>) -> Option<Program> {
        let header = (|| -> Parsed<String> {
            self.keyword("mixer").map_err(|d| d.with_suggestion("a program starts with `mixer NAME {`"))?;
            let (name, _) = self.ident("the mixer's name")?;
            self.expect_punct('{')?;
            Ok(name)
        })();
        let name = match header {
            Ok(name) => name,
            Err(d) => {
                self.diagnostics.push(d);
                return None;
            }
        };
        let mut bindings: Vec<Binding> = Vec::new();
        let output = loop {
            if self.diagnostics.len() >= DIAGNOSTICS_MAX {
                return None; // enough to fix first; going on costs work and says little more
            }
            if bindings.len() > BINDINGS_MAX {
                let d = Diagnostic::error(
                    ErrorClass::TooLarge,
                    bindings[BINDINGS_MAX].name_span,
                    format!("more than {BINDINGS_MAX} bindings"),
                )
                .with_suggestion("a mixer is a few dozen lines: write the operations it needs, once each");
                self.diagnostics.push(d);
                return None;
            }
            match (self.peek(), self.peek_at(1)) {
                (None, _) => {
                    self.diagnostics.push(
                        self.error("`return`")
                            .with_suggestion("end the mixer with `return EXPRESSION` and `}`"),
                    );
                    return None;
                }
                (Some(Token::Ident(word)), _) if word == "return" => {
                    self.pos += 1;
                    match self.expr().and_then(|e| self.expect_punct('}').map(|_| e)) {
                        Ok(expr) => break expr,
                        Err(d) => {
                            self.diagnostics.push(d);
                            return None;
                        }
                    }
                }
                (Some(Token::Ident(_)), Some(Token::Punct('='))) => match self.binding() {
                    Ok(binding) => bindings.push(binding),
                    Err(d) => {
                        self.diagnostics.push(d);
                        self.recover();
                    }
                },
                _ => {
                    self.diagnostics.push(self.error("`NAME = expression` or `return`"));
                    self.pos += 1;
                    self.recover();
                }
            }
        };
        let block = match self.block() {
            Ok(block) => block,
            Err(d) => {
                self.diagnostics.push(d);
                return None;
            }
        };
        if self.pos < self.tokens.len() {
            self.diagnostics.push(self.error("end of program"));
            return None;
        }
        Some(Program { doc, name, bindings, output, block })
    }

    /// Skips to the start of the next binding, `return` or `}`.
    fn recover(&mut self) {
        while let Some(token) = self.peek() {
            match (token, self.peek_at(1)) {
                (Token::Ident(_), Some(Token::Punct('='))) => return,
                (Token::Ident(word), _) if word == "return" => return,
                (Token::Punct('}'), _) => return,
                _ => self.pos += 1,
            }
        }
    }

    fn binding(&mut self) -> Parsed<Binding> {
        let (name, name_span) = self.ident("a name")?;
        self.expect_punct('=')?;
        let value = self.expr()?;
        Ok(Binding { name, name_span, value })
    }

    fn block(&mut self) -> Parsed<BlockSpec> {
        let mut block = BlockSpec::default();
        if self.peek().is_none() {
            return Ok(block);
        }
        self.keyword("block")
            .map_err(|d| d.with_suggestion("after the mixer, only `block(...)` may follow"))?;
        self.expect_punct('(')?;
        loop {
            let (key, key_span) = self.ident("a block setting (`norm`, `mlp` or `mlp_ratio`)")?;
            self.expect_punct('=')?;
            let value_span = self.span();
            let bad = |what: &str| Diagnostic::error(ErrorClass::BadArgument, value_span, what.to_owned());
            match key.as_str() {
                "norm" => {
                    let (value, _) = self.ident("a norm")?;
                    block.norm = pick(&NormKind::ALL, &value).ok_or_else(|| {
                        bad(&format!("unknown norm `{value}`")).with_suggestion(choices(&NormKind::ALL))
                    })?;
                }
                "mlp" => {
                    let (value, _) = self.ident("an MLP kind")?;
                    block.mlp = pick(&MlpKind::ALL, &value).ok_or_else(|| {
                        bad(&format!("unknown MLP `{value}`")).with_suggestion(choices(&MlpKind::ALL))
                    })?;
                }
                "mlp_ratio" => match self.peek() {
                    Some(Token::Number(n)) if n.fract() == 0.0 && (1.0..=8.0).contains(n) => {
                        block.mlp_ratio = *n as u32;
                        self.pos += 1;
                    }
                    _ => return Err(bad("mlp_ratio must be a whole number from 1 to 8")),
                },
                other => {
                    let mut d = Diagnostic::error(
                        ErrorClass::BadArgument,
                        key_span,
                        format!("unknown block setting `{other}`"),
                    );
                    if let Some(near) = closest(other, ["norm", "mlp", "mlp_ratio"]) {
                        d = d.with_suggestion(format!("did you mean `{near}`?"));
                    }
                    return Err(d);
                }
            }
            if !self.eat_punct(',') {
                break;
            }
        }
        self.expect_punct(')')?;
        Ok(block)
    }

    fn expr(&mut self) -> Parsed<Expr> {
        self.depth += 1;
        if self.depth > NESTING_MAX {
            let d = Diagnostic::error(
                ErrorClass::Syntax,
                self.span(),
                format!("nested more than {NESTING_MAX} deep"),
            )
            .with_suggestion("bind parts of the expression to names");
            self.depth -= 1;
            return Err(d);
        }
        let result = self.binary(1);
        self.depth -= 1;
        result
    }

    fn binary(&mut self, min_precedence: u8) -> Parsed<Expr> {
        let mut lhs = if min_precedence >= 2 { self.unary()? } else { self.binary(2)? };
        let mut depth = expression_depth(&lhs);
        loop {
            let op = match self.peek() {
                Some(Token::Punct('+')) => BinOp::Add,
                Some(Token::Punct('-')) => BinOp::Sub,
                Some(Token::Punct('*')) => BinOp::Mul,
                Some(Token::Punct('/')) => BinOp::Div,
                _ => return Ok(lhs),
            };
            if op.precedence() != min_precedence {
                return Ok(lhs);
            }
            let op_span = self.span();
            self.pos += 1;
            let rhs = if min_precedence >= 2 { self.unary()? } else { self.binary(2)? };
            // A chain `a + b + c …` nests one level per operator: bound it as it grows.
            depth = 1 + depth.max(expression_depth(&rhs));
            if depth > EXPRESSION_DEPTH_MAX {
                return Err(too_deep(op_span));
            }
            let span = join(lhs.span, rhs.span);
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span };
        }
    }

    fn unary(&mut self) -> Parsed<Expr> {
        let start = self.span();
        if self.eat_punct('-') {
            self.depth += 1;
            if self.depth > NESTING_MAX {
                return Err(Diagnostic::error(ErrorClass::Syntax, start, "too many nested `-`"));
            }
            let inner = self.unary();
            self.depth -= 1;
            let inner = inner?;
            let span = join(start, inner.span);
            return Ok(Expr { kind: ExprKind::Neg(Box::new(inner)), span });
        }
        self.atom()
    }

    fn atom(&mut self) -> Parsed<Expr> {
        let span = self.span();
        match self.peek().cloned() {
            Some(Token::Number(value)) => {
                self.pos += 1;
                Ok(Expr { kind: ExprKind::Number(value), span })
            }
            Some(Token::Ident(name)) => {
                self.pos += 1;
                if !self.eat_punct('(') {
                    return Ok(Expr { kind: ExprKind::Name(name), span });
                }
                let mut args = Vec::new();
                if !self.eat_punct(')') {
                    loop {
                        args.push(self.arg()?);
                        if self.eat_punct(')') {
                            break;
                        }
                        self.expect_punct(',').map_err(|_| self.error("`,` or `)`"))?;
                    }
                }
                let close = Span { len: 1, ..self.tokens[self.pos - 1].span };
                if args.iter().any(|a| expression_depth(&a.value) >= EXPRESSION_DEPTH_MAX) {
                    return Err(too_deep(span));
                }
                Ok(Expr { kind: ExprKind::Call { op: name, op_span: span, args }, span: join(span, close) })
            }
            Some(Token::Punct('(')) => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect_punct(')')?;
                Ok(inner)
            }
            _ => Err(self.error("an expression")),
        }
    }

    fn arg(&mut self) -> Parsed<Arg> {
        if let (Some(Token::Ident(name)), Some(Token::Punct('='))) = (self.peek(), self.peek_at(1)) {
            let name = (name.clone(), self.span());
            self.pos += 2;
            return Ok(Arg { name: Some(name), value: self.expr()? });
        }
        Ok(Arg { name: None, value: self.expr()? })
    }
}

/// Depth of an expression tree (a name or number is 1). Called on trees built under
/// [`EXPRESSION_DEPTH_MAX`], so its recursion is bounded.
fn expression_depth(expr: &Expr) -> u32 {
    match &expr.kind {
        ExprKind::Number(_) | ExprKind::Name(_) => 1,
        ExprKind::Neg(inner) => 1 + expression_depth(inner),
        ExprKind::Binary(_, lhs, rhs) => 1 + expression_depth(lhs).max(expression_depth(rhs)),
        ExprKind::Call { args, .. } => 1 + args.iter().map(|a| expression_depth(&a.value)).max().unwrap_or(0),
    }
}

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(
        ErrorClass::TooLarge,
        span,
        format!("expression nested more than {EXPRESSION_DEPTH_MAX} deep"),
    )
    .with_suggestion("bind parts of the expression to names")
}

fn pick<T: Copy>(all: &[(T, &'static str)], name: &str) -> Option<T> {
    all.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

fn choices<T>(all: &[(T, &'static str)]) -> String {
    let names: Vec<String> = all.iter().map(|(_, n)| format!("`{n}`")).collect();
    format!("choose one of {}", names.join(", "))
}
