//! Bounded resources: the size caps of a program, the linear cost of checking a large one, and
//! the memory budget a program must fit before it is checked.

use burn::tensor::Device;
use lineage_arch::baselines;
use lineage_arch::checks::{Budget, resources, run_all_within};
use lineage_arch::cost::{TrainShape, training_memory};
use lineage_arch::lang::{Dims, ErrorClass, check, parse, program_hash};
use lineage_arch::limits::{BINDINGS_MAX, DIAGNOSTICS_MAX, EXPRESSION_DEPTH_MAX, PROGRAM_BYTES_MAX};

/// A program of `aliases` alias bindings in a chain, a few operations, and a return.
fn long_program(aliases: usize) -> String {
    let mut text = String::from("mixer m {\n  a0 = proj(x, d)\n");
    for i in 1..=aliases {
        text.push_str(&format!("  a{i} = a{}\n", i - 1));
    }
    text.push_str(&format!("  return proj(silu(a{aliases}), d)\n}}\n"));
    text
}

#[test]
fn a_large_but_allowed_program_checks_and_hashes() {
    // ~20k bindings: every pass (parse, type check at three sizes, canonical form, the static
    // analyses) is linear in size; this used to take tens of seconds or overflow the stack.
    let text = long_program(20_000);
    let program = parse(&text).expect("parses");
    let checked = check(&program, Dims::DEFAULT);
    assert!(checked.graph.is_some(), "{:?}", checked.diagnostics.first());
    let again = parse(&long_program(20_000)).unwrap();
    assert_eq!(program_hash(&program), program_hash(&again));
    let budget = Budget { runs: Vec::new(), memory_bytes: u64::MAX };
    let verdicts = run_all_within(&program, &Device::flex(), &budget);
    let shape = &verdicts[1];
    assert_eq!(shape.check, "type-shape");
    assert!(shape.passed);
}

#[test]
fn a_program_over_the_caps_is_refused_with_one_diagnostic_saying_which() {
    let errors = parse(&long_program(BINDINGS_MAX + 1)).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].class, ErrorClass::TooLarge);
    assert_eq!(errors[0].message, format!("more than {BINDINGS_MAX} bindings"));

    let padded = format!("{}{}", "# padding\n".repeat(PROGRAM_BYTES_MAX / 10 + 1), long_program(1));
    let errors = parse(&padded).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].class, ErrorClass::TooLarge);
    assert!(
        errors[0].message.contains(&format!("over the limit of {PROGRAM_BYTES_MAX}")),
        "{}",
        errors[0].message
    );

    // A chain `x + x + … + x` nests one level per operator: bounded, not a stack overflow.
    let chain = format!("mixer m {{\n  y = {}\n  return proj(y, d)\n}}\n", vec!["x"; 100_000].join(" + "));
    let errors = parse(&chain).unwrap_err();
    assert_eq!(errors[0].class, ErrorClass::TooLarge);
    assert!(errors[0].message.contains(&format!("nested more than {EXPRESSION_DEPTH_MAX} deep")));
}

#[test]
fn many_errors_stop_at_the_cap_instead_of_costing_quadratic_work() {
    // Every binding reads an unknown name (each looks for a "did you mean" among all the names).
    let mut text = String::from("mixer m {\n");
    for i in 0..20_000 {
        text.push_str(&format!("  b{i} = proj(missing{i}, d)\n"));
    }
    text.push_str("  return proj(x, d)\n}\n");
    let checked = check(&parse(&text).unwrap(), Dims::DEFAULT);
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    assert_eq!(errors, DIAGNOSTICS_MAX);
    // Syntax errors too.
    let broken = format!("mixer m {{\n{}  return x\n}}\n", "  y = proj(x,, d)\n".repeat(20_000));
    assert_eq!(parse(&broken).unwrap_err().len(), DIAGNOSTICS_MAX);
}

fn shape(batch: u32, len: u32) -> TrainShape {
    TrainShape { layers: 2, batch, len, vocab: 256, steps: 100 }
}

#[test]
fn the_memory_estimate_grows_with_every_size() {
    let program = baselines::get("deltanet").unwrap().program();
    let graph = |d| check(&program, Dims { d, h: 4 }).graph.unwrap();
    let base = training_memory(&graph(64), &shape(16, 64));
    for bigger in [
        training_memory(&graph(128), &shape(16, 64)),
        training_memory(&graph(64), &shape(32, 64)),
        training_memory(&graph(64), &shape(16, 128)),
        training_memory(&graph(64), &TrainShape { layers: 3, ..shape(16, 64) }),
        training_memory(&graph(64), &TrainShape { vocab: 512, ..shape(16, 64) }),
    ] {
        assert!(bigger.total_bytes > base.total_bytes, "{bigger:?} vs {base:?}");
        assert!(bigger.ops > base.ops);
    }
    // Parameters alone: the estimate covers the weights, gradients and both AdamW moments.
    assert!(base.parameter_bytes >= 4.0 * 4.0 * base.params as f64);
    assert_eq!(base.total_bytes, base.parameter_bytes + base.activation_bytes + base.data_bytes);
    // Quadratic attention's scores grow with the square of the length.
    let attention = baselines::get("softmax_attention").unwrap().program();
    let g = check(&attention, Dims::DEFAULT).graph.unwrap();
    let (short, long) = (training_memory(&g, &shape(16, 256)), training_memory(&g, &shape(16, 512)));
    assert!(long.activation_bytes > 2.2 * short.activation_bytes, "more than linear");
}

#[test]
fn a_program_over_the_budget_is_refused_first_with_the_estimate_where_it_is_spent() {
    // Within the width and operation caps, but 16·d-wide states at a long sequence.
    let text = "mixer wide {\n  q = proj(x, 16 * d)\n  k = proj(x, 16 * d)\n  v = proj(x, 16 * d)\n  o = recur(q, k, v, decay = sigmoid(proj(x, h)))\n  return proj(o, d)\n}\n";
    let program = parse(text).unwrap();
    let dims = Dims { d: 256, h: 4 };
    let budget = Budget {
        runs: vec![(
            "exploration".to_owned(),
            dims,
            TrainShape { layers: 4, batch: 64, len: 1024, vocab: 256, steps: 100 },
        )],
        memory_bytes: 8 << 30,
    };
    let verdicts = run_all_within(&program, &Device::flex(), &budget);
    assert_eq!(verdicts.len(), 1, "nothing else runs");
    let verdict = &verdicts[0];
    assert_eq!((verdict.check, verdict.passed), ("resources", false));
    let needed = verdict.numbers["exploration_memory_bytes"];
    assert!(needed > (8u64 << 30) as f64);
    let diagnostic = &verdict.diagnostics[0];
    assert_eq!(diagnostic.class, ErrorClass::OverBudget);
    assert!(diagnostic.message.contains("over the memory budget of 8.00 GiB"), "{}", diagnostic.message);
    assert!(diagnostic.message.contains(&format!("{:.2} GiB", needed / (1u64 << 30) as f64)));
    assert_eq!(diagnostic.span.line, 5, "the recurrence holds the most activations");

    // The same program at a small size fits, and every check runs after the resources check.
    let small = Budget {
        runs: vec![(
            "exploration".to_owned(),
            Dims { d: 32, h: 4 },
            TrainShape { layers: 1, batch: 2, len: 16, vocab: 16, steps: 2 },
        )],
        memory_bytes: 8 << 30,
    };
    let verdict = resources(&program, &small).unwrap();
    assert!(verdict.passed, "{:?}", verdict.diagnostics);
}
