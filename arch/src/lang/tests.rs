use super::*;
use crate::baselines;

fn checked(source: &str) -> Checked {
    let program = parse(source).unwrap_or_else(|d| panic!("parse failed: {d:#?}"));
    check(&program, Dims::DEFAULT)
}

fn errors(source: &str) -> Vec<Diagnostic> {
    match parse(source) {
        Err(diagnostics) => diagnostics,
        Ok(program) => {
            check(&program, Dims::DEFAULT).diagnostics.into_iter().filter(Diagnostic::is_error).collect()
        }
    }
}

fn wrap(body: &str) -> String {
    format!("mixer m {{\n{body}\n}}\n")
}

#[test]
fn every_baseline_parses_checks_and_prints_back_to_its_own_text() {
    assert_eq!(baselines::ALL.len(), 10);
    for baseline in baselines::ALL {
        let program = baseline.program();
        assert_eq!(program.name, baseline.name);
        assert_eq!(print(&program), baseline.source, "{} is not in printed form", baseline.name);
        for dims in [Dims::DEFAULT, Dims { d: 96, h: 3 }, Dims { d: 256, h: 8 }] {
            let result = check(&program, dims);
            assert!(
                result.diagnostics.is_empty(),
                "{} at {dims:?}: {:#?}",
                baseline.name,
                result.diagnostics
            );
            let graph = result.graph.unwrap();
            assert_eq!(graph.nodes[graph.output].ty, Ty::Seq(dims.d));
        }
    }
}

#[test]
fn baselines_have_distinct_canonical_hashes() {
    let mut hashes: Vec<_> = baselines::ALL.iter().map(|b| program_hash(&b.program())).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), baselines::ALL.len());
}

#[test]
fn parameter_count_of_deltanet_is_the_sum_of_its_layers() {
    let graph = checked(baselines::get("deltanet").unwrap().source).graph.unwrap();
    // q, k, v projections + 3 convs of 4 taps + beta projection + output RMSNorm + out projection
    let (d, h) = (64u64, 4u64);
    assert_eq!(graph.mixer_params(), 3 * d * d + 3 * d * 4 + d * h + d + d * d);
    // plus two block RMSNorms and a SwiGLU MLP with ratio 4
    assert_eq!(graph.block_params(), graph.mixer_params() + 2 * d + 3 * d * 4 * d);
}

#[test]
fn printing_is_a_fixed_point_and_parenthesises_only_where_needed() {
    let source = wrap("  a = -(x * 2) + x * -3\n  b = (a - (a - a)) * (a + a) / 2\n  return proj(a - b, d)");
    let printed = print(&parse(&source).unwrap());
    assert!(printed.contains("a = -(x * 2) + x * -3"), "{printed}");
    assert!(printed.contains("b = (a - (a - a)) * (a + a) / 2"), "{printed}");
    assert_eq!(print(&parse(&printed).unwrap()), printed);
}

#[test]
fn comments_and_layout_do_not_matter_but_the_doc_block_is_kept() {
    let messy = "# Title line\n#\n# more\nmixer  m{a=proj( x ,d) # trailing comment\n # inner\n return a }";
    let program = parse(messy).unwrap();
    assert_eq!(program.doc, vec!["Title line", "", "more"]);
    assert_eq!(
        print(&program),
        "# Title line\n#\n# more\nmixer m {\n  a = proj(x, d)\n  return a\n}\nblock(norm = rmsnorm, mlp = swiglu, mlp_ratio = 4)\n"
    );
}

#[test]
fn a_doc_entry_with_line_breaks_prints_as_a_comment_line_per_line() {
    let mut program = parse("mixer m {\n  return proj(x, d)\n}\n").unwrap();
    program.doc = vec!["by fake\nmodel.".into(), String::new(), "then\r\nmore".into()];
    let printed = print(&program);
    assert!(printed.starts_with("# by fake\n# model.\n#\n# then\n# more\nmixer m {"), "{printed}");
    assert_eq!(parse(&printed).unwrap().doc, vec!["by fake", "model.", "", "then", "more"]);
}

#[test]
fn canonical_hash_ignores_names_order_inlining_and_commutation() {
    let base = "mixer a {\n  q = proj(x, d)\n  g = sigmoid(proj(x, d))\n  return proj(q * g + x, d)\n}\n";
    let renamed = "# doc\nmixer b {\n  gate = sigmoid(proj(x, d))\n  query = proj(x, d)\n  unused = relu(x)\n  return proj(x + gate * query, d)\n}\n";
    let inlined = "mixer c {\n  return proj(proj(x, d) * sigmoid(proj(x, d)) + x, d)\n}\n";
    let changed = "mixer d {\n  q = proj(x, d)\n  g = tanh(proj(x, d))\n  return proj(q * g + x, d)\n}\n";
    let block = "mixer a {\n  q = proj(x, d)\n  g = sigmoid(proj(x, d))\n  return proj(q * g + x, d)\n}\nblock(norm = rmsnorm, mlp = gelu, mlp_ratio = 4)\n";
    let hash = |s: &str| program_hash(&parse(s).unwrap());
    assert_eq!(hash(base), hash(renamed));
    assert_eq!(hash(base), hash(inlined));
    assert_ne!(hash(base), hash(changed));
    assert_ne!(hash(base), hash(block));
    // Shared values stay shared: using `k` twice is not the same as two separate projections.
    let shared = "mixer s {\n  k = proj(x, d)\n  return proj(k * k, d)\n}\n";
    let separate = "mixer s {\n  return proj(proj(x, d) * proj(x, d), d)\n}\n";
    assert_ne!(hash(shared), hash(separate));
    let canonical = canonical_text(&parse(shared).unwrap());
    assert_eq!(
        canonical,
        "mixer _ {\n  v1 = proj(x, d)\n  return proj(v1 * v1, d)\n}\nblock(norm = rmsnorm, mlp = swiglu, mlp_ratio = 4)\n"
    );
}

#[test]
fn diff_names_the_changed_binding() {
    let a = baselines::get("deltanet").unwrap().program();
    let b = baselines::get("deltanet_negative").unwrap().program();
    let d = diff(&a, &b);
    assert!(!d.equivalent);
    assert_eq!(d.changes, vec!["beta: sigmoid(proj(x, h)) → 2 * sigmoid(proj(x, h))"]);
    assert!(d.lines.contains(&"-   beta = sigmoid(proj(x, h))".to_owned()), "{:#?}", d.lines);
    assert!(d.lines.contains(&"+   beta = 2 * sigmoid(proj(x, h))".to_owned()));
    let same = diff(&a, &a);
    assert!(same.equivalent && same.changes.is_empty());
}

fn single(source: &str) -> Diagnostic {
    let mut all = errors(source);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

#[test]
fn diagnostics_locate_explain_and_suggest() {
    let d = single(&wrap("  y = sigmod(proj(x, d))\n  return y"));
    assert_eq!((d.class, d.span.line, d.span.column, d.span.len), (ErrorClass::UnknownOp, 2, 7, 6));
    assert_eq!(d.suggestion.as_deref(), Some("did you mean `sigmoid`?"));

    let d = single(&wrap("  q = proj(x, d)\n  return proj(qq, d)"));
    assert_eq!((d.class, d.span.line, d.span.column), (ErrorClass::UnknownName, 3, 15));
    assert_eq!(d.suggestion.as_deref(), Some("did you mean `q`?"));

    let d = single(&wrap("  a = proj(x, 2 * h) + proj(x, 3 * h)\n  return proj(a, d)"));
    assert_eq!(d.class, ErrorClass::WidthMismatch);
    assert!(d.message.contains("widths 8 and 12"), "{}", d.message);

    let d = single(&wrap("  a = proj(x, 6)\n  return proj(a, d)"));
    assert_eq!(d.class, ErrorClass::WidthNotDivisible);
    assert_eq!(d.suggestion.as_deref(), Some("use 4"));

    let d = single(&wrap("  return proj(x, h)"));
    assert_eq!(d.class, ErrorClass::OutputWidth);
    assert!(d.suggestion.unwrap().contains("proj(…, d)"));

    let d = single(&wrap("  a = proj(x, d)\n  a = silu(a)\n  return a"));
    assert_eq!((d.class, d.span.line), (ErrorClass::Redefinition, 3));

    let d = single(&wrap("  o = recur(proj(x, d), proj(x, d), proj(x, d), erase = proj(x, d))\n  return o"));
    assert_eq!(d.class, ErrorClass::BadArgument);
    assert!(d.suggestion.unwrap().contains("along = k"));

    let d =
        single(&wrap("  o = recur(proj(x, d), proj(x, d), proj(x, d), decay = proj(x, 2 * h))\n  return o"));
    assert_eq!(d.class, ErrorClass::WidthMismatch);

    let d = single(&wrap("  return conv(x)"));
    assert_eq!(d.class, ErrorClass::Arity);

    let d = single(&wrap("  return x / proj(x, d)"));
    assert_eq!(d.class, ErrorClass::BadArgument);

    let d = single(&wrap("  return attention(x, x, x, mask = sometimes)"));
    assert_eq!(d.class, ErrorClass::BadArgument);
}

#[test]
fn unused_bindings_are_warnings_not_errors() {
    let result = checked(&wrap("  spare = relu(x)\n  return proj(x, d)"));
    assert!(result.graph.is_some());
    assert_eq!(result.diagnostics.len(), 1);
    assert_eq!(result.diagnostics[0].class, ErrorClass::UnusedBinding);
    assert_eq!(result.diagnostics[0].severity, Severity::Warning);
    // Unused code is not in the graph and has no parameters.
    assert_eq!(result.graph.unwrap().mixer_params(), 64 * 64);
}

#[test]
fn syntax_errors_in_several_lines_are_all_reported() {
    let source = wrap("  a = proj(x, d\n  b = silu(a))\n  c = proj(x d)\n  return proj(x, d)");
    let all = parse(&source).unwrap_err();
    assert!(all.len() >= 2, "{all:#?}");
    assert!(all.iter().all(|d| d.class == ErrorClass::Syntax));
    assert_eq!(all[0].span.line, 3, "{:#?}", all[0]);
    let d = &parse("mixer m { a = 3 $ 4 }").unwrap_err()[0];
    assert_eq!((d.class, d.span.column), (ErrorClass::Syntax, 17));
}

#[test]
fn the_language_can_express_what_the_checks_must_catch() {
    // Non-causal: a shift into the future and full bidirectional attention.
    assert!(checked(&wrap("  return proj(shift(x, -1), d)")).graph.is_some());
    assert!(checked(&wrap("  return attention(x, x, x, mask = none)")).graph.is_some());
    // An exploding state: decay above one.
    let exploding = wrap("  return proj(recur(proj(x, d), proj(x, d), proj(x, d), decay = 1.5), d)");
    assert!(checked(&exploding).graph.is_some());
    // Multi-path fusion with a learned router, and a new state update.
    let fused = wrap(
        "  k = l2norm(proj(x, d))\n  a = recur(proj(x, d), k, proj(x, d), decay = sigmoid(proj(x, h)))\n  b = attention(proj(x, d), k, x)\n  return proj(route(x, a, b, conv(x, 3)), d)",
    );
    let graph = checked(&fused).graph.unwrap();
    assert!(graph.nodes.iter().any(|n| matches!(n.kind, NodeKind::Route { .. })));
}

/// Deterministic xorshift, so a failing case can be replayed from its index.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "x",
    "d",
    "h",
    "q",
    "k",
    "v",
    "o",
    "2",
    "-1",
    "0.5",
    "1e9",
    "(",
    ")",
    ",",
    "=",
    "+",
    "-",
    "*",
    "/",
    "proj(",
    "recur(",
    "attention(",
    "route(",
    "conv(",
    "shift(",
    "param(",
    "silu(",
    "l2norm(",
    "rmsnorm(",
    "head_index()",
    "decay =",
    "erase =",
    "along =",
    "mask = none",
    "init = range(0, 1)",
    "return",
    "}",
    "{",
    "\n",
    " ",
    "mixer",
    "block(",
    "ä",
    "#",
];

/// The compiler must run any checked program: a forward pass on a short input, no panic.
fn compile_and_run(graph: &Graph) {
    use burn::tensor::{Device, Tensor};
    let device = Device::flex();
    let weights =
        crate::model::init_weights(graph, crate::model::ModelSize { layers: 1, vocab: 4 }, 1, &device);
    let x = Tensor::<3>::ones([1, 5, graph.dims.d as usize], &device);
    let out = crate::model::mixer(graph, &weights.blocks[0].mixer, x);
    assert_eq!(out.dims(), [1, 5, graph.dims.d as usize]);
}

/// Thousands of mutated baselines and random token soups: no panic anywhere (parser, checker,
/// printer, compiler), and every rejected program comes with at least one diagnostic that points
/// inside the text.
#[test]
fn mutated_and_random_programs_never_panic_and_rejections_are_diagnosed() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for case in 0..6000 {
        let source = if case % 3 == 2 {
            (0..rng.below(60)).map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())]).collect::<String>()
        } else {
            let mut text: Vec<char> =
                baselines::ALL[rng.below(baselines::ALL.len())].source.chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(text.len().max(1));
                match rng.below(3) {
                    0 if !text.is_empty() => {
                        text.remove(at);
                    }
                    1 => text.splice(at..at, FRAGMENTS[rng.below(FRAGMENTS.len())].chars()).for_each(drop),
                    _ => {
                        let len = rng.below(8).min(text.len() - at.min(text.len()));
                        text.drain(at..at + len);
                    }
                }
            }
            text.into_iter().collect()
        };
        let lines = source.lines().count().max(1) as u32;
        let diagnostics = match parse(&source) {
            Err(diagnostics) => diagnostics,
            Ok(program) => {
                let printed = print(&program);
                assert_eq!(print(&parse(&printed).expect("printed text parses")), printed, "case {case}");
                let result = check(&program, Dims::DEFAULT);
                if let Some(graph) = result.graph {
                    accepted += 1;
                    if accepted % 8 == 0 {
                        compile_and_run(&graph);
                    }
                    continue;
                }
                result.diagnostics
            }
        };
        assert!(
            diagnostics.iter().any(Diagnostic::is_error),
            "case {case}: rejected without an error: {source}"
        );
        for d in &diagnostics {
            assert!(d.span.line <= lines + 1, "case {case}: diagnostic outside the text: {d:?}");
        }
    }
    assert!(accepted > 100, "mutations should sometimes stay valid ({accepted} accepted)");
}
