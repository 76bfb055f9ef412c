//! Python names for a graph's values and weights, taken from the program's bindings so that the
//! exported module reads like the program: `q = …` stays `q`, the projection inside it is the
//! weight `proj_q`.

use crate::lang::ast::Program;
use crate::lang::{Graph, NodeKind, Span, Unary};
use crate::model::weights::{Slot, slots};

/// Names used by the exported module itself, which no value or weight may shadow.
const RESERVED: &[&str] = &["x", "self", "ops", "torch", "F", "nn", "math", "form", "recur"];

/// Python's keywords and soft keywords.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "case", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "match", "nonlocal", "not", "or", "pass", "raise", "return", "try", "type", "while", "with",
    "yield",
];

/// The names of one graph's values and weights.
pub(super) struct Names {
    /// Per node: the Python variable holding its value.
    pub values: Vec<String>,
    /// Per node: the name of its weight (an attribute of the mixer), where it has one.
    pub weights: Vec<Option<String>>,
    /// Per node: the binding it belongs to (`out` for the returned expression), to comment the
    /// code with the program line.
    pub bindings: Vec<Option<usize>>,
}

/// A name the program may use that Python or the module would misread, made safe.
fn python_safe(name: &str) -> String {
    if KEYWORDS.contains(&name) || RESERVED.contains(&name) { format!("{name}_") } else { name.to_owned() }
}

fn contains(outer: Span, inner: Span) -> bool {
    outer.line == inner.line
        && outer.column <= inner.column
        && inner.column + inner.len <= outer.column + outer.len
}

/// Names every node of `graph`, checked from `program`.
pub(super) fn names(program: &Program, graph: &Graph) -> Names {
    let slots = slots(graph);
    let mut taken: Vec<String> = Vec::new();
    let unique = |base: String, taken: &mut Vec<String>| {
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        taken.push(name.clone());
        name
    };
    let mut values = Vec::with_capacity(graph.nodes.len());
    let mut weights = Vec::with_capacity(graph.nodes.len());
    let mut bindings = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let binding = program.bindings.iter().position(|b| contains(b.value.span, node.span));
        let label = match binding {
            Some(i) => python_safe(&program.bindings[i].name),
            None if contains(program.output.span, node.span) => "out".to_owned(),
            None => format!("n{id}"),
        };
        let is_root = binding.is_some_and(|i| program.bindings[i].value.span == node.span);
        let value = match node.kind {
            NodeKind::Input => "x".to_owned(),
            _ if is_root => unique(label.clone(), &mut taken),
            _ => unique(format!("t{id}"), &mut taken),
        };
        values.push(value);
        let kind = match (&node.kind, slots[id]) {
            (_, None) => None,
            (NodeKind::Proj { .. }, _) => Some("proj"),
            (NodeKind::Route { .. }, _) => Some("route"),
            (NodeKind::Conv { .. }, _) => Some("conv"),
            (NodeKind::Param { .. }, _) => Some("param"),
            (NodeKind::Unary { op: Unary::RmsNorm, .. }, Some(Slot::Vector(_))) => Some("rmsnorm"),
            _ => None,
        };
        weights.push(kind.map(|kind| unique(format!("{kind}_{label}"), &mut taken)));
        bindings.push(binding);
    }
    Names { values, weights, bindings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines;
    use crate::lang::{Dims, check, parse};

    #[test]
    fn values_and_weights_take_their_binding_names_and_never_collide() {
        for baseline in baselines::ALL {
            let program = parse(baseline.source).unwrap();
            let graph = check(&program, Dims::DEFAULT).graph.unwrap();
            let names = names(&program, &graph);
            let mut all: Vec<&String> = names.values.iter().chain(names.weights.iter().flatten()).collect();
            let count = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), count, "{}: a name is used twice", baseline.name);
            for binding in &program.bindings {
                assert!(
                    names.values.contains(&python_safe(&binding.name)),
                    "{}: {} has no variable",
                    baseline.name,
                    binding.name
                );
            }
        }
        let program = parse("mixer m {\n  lambda = proj(x, d)\n  return lambda\n}\n").unwrap();
        let graph = check(&program, Dims::DEFAULT).graph.unwrap();
        let names = names(&program, &graph);
        assert!(names.values.contains(&"lambda_".to_owned()), "{:?}", names.values);
        assert!(names.weights.iter().flatten().any(|w| w == "proj_lambda_"), "{:?}", names.weights);
    }
}
