//! The architecture language: text → [`Program`] ([`parse`]) → typed [`Graph`] ([`check()`]), back
//! to text ([`print()`]), canonical form and hash ([`program_hash`]), and [`diff()`].

pub mod ast;
pub mod canonical;
pub mod check;
pub mod diagnostic;
pub mod diff;
pub mod graph;
pub mod lexer;
pub mod parser;
pub mod printer;

pub use ast::{BlockSpec, MlpKind, NormKind, Program};
pub use canonical::{ProgramHash, canonical_text, program_hash};
pub use check::{Checked, check};
pub use diagnostic::{Diagnostic, ErrorClass, Severity, Span};
pub use diff::{ProgramDiff, diff};
pub use graph::{Dims, Graph, Node, NodeId, NodeKind, Ty, Unary};
pub use parser::parse;
pub use printer::print;

#[cfg(test)]
mod tests;
