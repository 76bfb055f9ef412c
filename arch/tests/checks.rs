//! The pre-training checks: every baseline passes them all, and planted bad programs are caught
//! by the right check, with a diagnostic of the right class pointing at the culprit.

use burn::tensor::Device;
use lineage_arch::baselines;
use lineage_arch::checks::{GROWTH_EXPONENT_MAX, Verdict, run_all};
use lineage_arch::lang::{ErrorClass, parse};

fn verdicts(source: &str) -> Vec<Verdict> {
    run_all(&parse(source).unwrap(), &Device::flex())
}

fn failed(verdicts: &[Verdict]) -> Vec<&'static str> {
    verdicts.iter().filter(|v| !v.passed).map(|v| v.check).collect()
}

fn verdict<'a>(verdicts: &'a [Verdict], check: &str) -> &'a Verdict {
    verdicts.iter().find(|v| v.check == check).unwrap_or_else(|| panic!("no {check} verdict: {verdicts:#?}"))
}

/// 1-based line and column of the first occurrence of `needle` in `source`.
fn location(source: &str, needle: &str) -> (u32, u32) {
    let at = source.find(needle).unwrap_or_else(|| panic!("`{needle}` not in {source}"));
    let line = source[..at].matches('\n').count() as u32 + 1;
    let column = source[..at].rsplit('\n').next().unwrap().chars().count() as u32 + 1;
    (line, column)
}

/// Asserts that `source` is rejected as non-causal by construction, at the first occurrence of
/// `culprit`, whatever the probe measured.
fn assert_non_causal_at(source: &str, culprit: &str) -> Verdict {
    let verdicts = verdicts(source);
    let causality = verdict(&verdicts, "causality").clone();
    assert!(!causality.passed, "{source}\n{causality:#?}");
    assert!(causality.numbers["future_reach_static"] >= 1.0, "{source}\n{:?}", causality.numbers);
    assert_eq!(causality.diagnostics.len(), 1, "{causality:#?}");
    let d = &causality.diagnostics[0];
    assert_eq!(d.class, ErrorClass::NonCausal);
    assert_eq!((d.span.line, d.span.column), location(source, culprit), "{source}\n{d:?}");
    assert!(d.message.contains("whatever the weights"), "{}", d.message);
    assert!(d.suggestion.is_some());
    causality
}

#[test]
fn every_baseline_passes_every_check() {
    for baseline in baselines::ALL {
        let verdicts = verdicts(baseline.source);
        assert_eq!(verdicts.len(), 4, "{}", baseline.name);
        assert!(failed(&verdicts).is_empty(), "{}: {:#?}", baseline.name, verdicts);
        // Only the complexity check of the quadratic reference accepts quadratic cost.
        let allowed: Vec<&str> = verdicts.iter().filter(|v| v.quadratic_allowed).map(|v| v.check).collect();
        let reference = baseline.name == baselines::QUADRATIC_REFERENCE;
        assert_eq!(allowed, if reference { vec!["complexity"] } else { vec![] }, "{}", baseline.name);
        // Causal by construction, and the probe sees nothing beyond rounding at any draw.
        let causality = &verdict(&verdicts, "causality").numbers;
        assert_eq!(causality["future_reach_static"], 0.0, "{}", baseline.name);
        assert_eq!(causality["draws"], 3.0);
        assert!(causality["max_past_change_relative"] <= causality["tolerance"], "{}", baseline.name);
        assert!(causality["tolerance"] < 1e-4 && causality["tolerance"] > f64::from(f32::EPSILON));
        let complexity = &verdict(&verdicts, "complexity").numbers;
        assert_eq!(
            complexity["quadratic_ops_static"],
            if reference { 1.0 } else { 0.0 },
            "{}",
            baseline.name
        );
        let finite = &verdict(&verdicts, "finite").numbers;
        assert_eq!((finite["draws"], finite["nonfinite_draws"]), (3.0, 0.0), "{}", baseline.name);
    }
}

#[test]
fn a_shift_into_the_future_is_caught_and_located() {
    let source = "mixer peek {\n  ahead = shift(x, -1)\n  return proj(ahead + x, d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["causality"]);
    let d = &verdicts[1].diagnostics[0];
    assert_eq!(d.class, ErrorClass::NonCausal);
    assert_eq!((d.span.line, d.span.column), (2, 11), "{d:?}");
    assert!(d.suggestion.as_deref().unwrap().contains("shift(x, 1)"));
    // The same shift into the past is fine.
    assert!(failed(&self::verdicts(&source.replace("-1", "1"))).is_empty());
}

#[test]
fn bidirectional_attention_is_caught() {
    let source = "mixer look {\n  a = attention(proj(x, d), proj(x, d), proj(x, d), mask = none)\n  return proj(a, d)\n}\n";
    let verdicts = verdicts(source);
    assert!(failed(&verdicts).contains(&"causality"), "{verdicts:#?}");
    assert_eq!(verdicts[1].diagnostics[0].class, ErrorClass::NonCausal);
    assert_eq!(verdicts[1].diagnostics[0].span.line, 2);
}

#[test]
fn full_attention_as_a_candidate_is_rejected_as_quadratic() {
    // Causal softmax attention with a gate: not the reference baseline, so it must be linear.
    let source = "mixer gated_attention {\n  a = attention(proj(x, d), proj(x, d), proj(x, d))\n  return proj(a * sigmoid(proj(x, d)), d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["complexity"]);
    let complexity = &verdicts[2];
    assert_eq!(complexity.diagnostics[0].class, ErrorClass::SuperLinear);
    assert!(complexity.numbers["ops_growth_exponent"] > 1.8, "{:?}", complexity.numbers);
    assert!(complexity.numbers["memory_growth_exponent"] > 1.5);
    assert!(!complexity.quadratic_allowed);
}

#[test]
fn an_exploding_state_is_caught_by_the_finiteness_check() {
    let source = "mixer boom {\n  o = recur(proj(x, d), proj(x, d), proj(x, d), decay = 1.5)\n  return proj(o, d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["finite"]);
    let d = &verdicts[3].diagnostics[0];
    assert_eq!(d.class, ErrorClass::NonFinite);
    assert_eq!(d.span.line, 2);
    // A bounded decay is fine.
    assert!(failed(&self::verdicts(&source.replace("1.5", "0.9"))).is_empty());
}

#[test]
fn type_errors_stop_before_the_run_time_checks() {
    let verdicts = verdicts("mixer bad {\n  return proj(x, h) + proj(x, 3 * h)\n}\n");
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].check, "type-shape");
    assert!(!verdicts[0].passed);
}

// Planted leaks: causality is decided from the graph, so no choice of weights or scale hides a
// path from a later position to the output.

#[test]
fn a_future_read_behind_a_zero_initialised_gate_is_caught_by_construction_and_by_a_later_draw() {
    let source = "mixer gated_peek {\n  f = proj(shift(x, -1), d) * param(d, init = zero)\n  return proj(x + f, d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["causality"]);
    let causality = assert_non_causal_at(source, "shift(x, -1)");
    assert_eq!(causality.numbers["future_reach_static"], 1.0);
    // The gate is closed at the initial weights (draw 0); a later draw opens it and the probe,
    // the second line, measures the leak too.
    assert!(causality.numbers["first_leaking_draw"] >= 1.0, "{:?}", causality.numbers);
    assert!(causality.numbers["max_past_change_relative"] > 1e3 * causality.numbers["tolerance"]);
}

#[test]
fn a_future_read_scaled_below_rounding_is_caught_by_construction() {
    let source = "mixer whisper {\n  return proj(x, d) + 0.0000001 * proj(shift(x, -1), d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["causality"]);
    let causality = assert_non_causal_at(source, "shift(x, -1)");
    // The leak is under one unit of rounding: no tolerance tied to floating-point error can see
    // it, so the static line alone decides.
    let numbers = &causality.numbers;
    assert!(numbers["max_past_change_relative"] < numbers["tolerance"], "{numbers:?}");
    assert!(!numbers.contains_key("first_leaking_draw"));
}

#[test]
fn future_reads_hidden_in_every_way_an_adversary_might_try_are_rejected() {
    let peek = "shift(x, -1)";
    let cases: &[(&str, &str)] = &[
        // Behind a sigmoid gate that is ~1e-13 at every weight draw.
        ("mixer m {\n  g = sigmoid(proj(shift(x, -1), d) - 30)\n  return proj(x * g, d)\n}\n", peek),
        // Added and subtracted back out: the graph has the path, and the analysis does no algebra.
        ("mixer m {\n  f = proj(shift(x, -1), d)\n  return proj(x + f - f, d)\n}\n", peek),
        // Through a recurrence's key, value, decay and erase direction.
        (
            "mixer m {\n  k = l2norm(proj(shift(x, -1), d))\n  return proj(recur(proj(x, d), k, proj(x, d)), d)\n}\n",
            peek,
        ),
        (
            "mixer m {\n  v = proj(shift(x, -1), d) * param(d, init = zero)\n  return proj(recur(proj(x, d), proj(x, d), v), d)\n}\n",
            peek,
        ),
        (
            "mixer m {\n  a = sigmoid(proj(shift(x, -1), h) + 20)\n  return proj(recur(proj(x, d), proj(x, d), proj(x, d), decay = a), d)\n}\n",
            peek,
        ),
        (
            "mixer m {\n  k = l2norm(proj(x, d))\n  e = 0 * proj(shift(x, -1), d)\n  return proj(recur(proj(x, d), k, proj(x, d), erase = e, along = k), d)\n}\n",
            peek,
        ),
        // Through a norm, a convolution, a router.
        ("mixer m {\n  return proj(rmsnorm(x + 0.000001 * shift(x, -1)), d)\n}\n", peek),
        ("mixer m {\n  return proj(conv(shift(x, -1), 4), d)\n}\n", peek),
        ("mixer m {\n  return proj(route(shift(x, -1), x, proj(x, d)), d)\n}\n", peek),
        // A round trip that does not come all the way back reads one position ahead.
        ("mixer m {\n  return proj(shift(shift(x, -2), 1), d)\n}\n", "shift(x, -2)"),
        // The second of two future reads, the first one shifted back into the past.
        (
            "mixer m {\n  a = shift(shift(x, -1), 1)\n  b = shift(x, -3)\n  return proj(a + b, d)\n}\n",
            "shift(x, -3)",
        ),
    ];
    for (source, culprit) in cases {
        assert_non_causal_at(source, culprit);
    }
}

#[test]
fn bidirectional_attention_scaled_to_zero_is_still_non_causal() {
    let source = "mixer m {\n  a = attention(proj(x, d), proj(x, d), proj(x, d), mask = none)\n  return proj(x + 0 * a, d)\n}\n";
    let verdicts = verdicts(source);
    // Attention is quadratic by construction as well.
    assert_eq!(failed(&verdicts), vec!["causality", "complexity"]);
    let causality = assert_non_causal_at(source, "attention(");
    assert!(causality.numbers["future_reach_static"] >= 1e9, "every later position");
    assert!(causality.diagnostics[0].suggestion.as_deref().unwrap().contains("mask = causal"));
    assert_eq!(causality.numbers["max_past_change_relative"], 0.0, "the probe alone would pass it");
}

#[test]
fn a_future_read_deep_inside_a_long_chain_is_located() {
    let mut source = String::from("mixer deep {\n  v0 = x\n");
    for i in 1..120 {
        let step = match i {
            60 => format!("v{} + 0.001 * proj(shift(x, -1), d) * param(d, init = zero)", i - 1),
            _ if i % 3 == 0 => format!("rmsnorm(v{})", i - 1),
            _ if i % 3 == 1 => format!("silu(v{})", i - 1),
            _ => format!("conv(v{}, 2)", i - 1),
        };
        source += &format!("  v{i} = {step}\n");
    }
    source += "  return proj(v119, d)\n}\n";
    assert_non_causal_at(&source, "shift(x, -1)");
}

#[test]
fn shifts_into_the_past_and_exact_round_trips_are_causal() {
    // A token shift, and a round trip through the future that comes back: shift(shift(x, -1), 1)
    // is x with a zero at the first position, and no position reads a later one.
    for source in [
        "mixer m {\n  return proj(x + shift(x, 1), d)\n}\n",
        "mixer m {\n  return proj(x + shift(x, 2) * param(d, init = zero), d)\n}\n",
        "mixer m {\n  return proj(shift(shift(x, -1), 1) + x, d)\n}\n",
        // The other order is x with a zero at the last position: the zero fill depends on where
        // the sequence ends, never on a later token's value.
        "mixer m {\n  return proj(shift(shift(x, 1), -1) + x, d)\n}\n",
        "mixer m {\n  return proj(shift(x + shift(x, -3), 3), d)\n}\n",
    ] {
        let verdicts = verdicts(source);
        assert!(failed(&verdicts).is_empty(), "{source}\n{verdicts:#?}");
        let causality = verdict(&verdicts, "causality");
        assert_eq!(causality.numbers["future_reach_static"], 0.0);
        assert!(causality.numbers["max_past_change_relative"] <= causality.numbers["tolerance"]);
    }
}

#[test]
fn a_narrow_attention_among_wide_projections_is_quadratic_by_construction() {
    // The attention is h wide; the projections around it dominate the cost at the checked
    // lengths, so the fitted exponents stay under the limit. The operation is quadratic anyway.
    let source = "mixer hidden_attention {\n  u = silu(proj(x, 16 * d)) * silu(proj(x, 16 * d)) + silu(proj(x, 16 * d)) * silu(proj(x, 16 * d))\n  a = attention(proj(x, h), proj(x, h), proj(x, h))\n  return proj(u, d) + proj(a, d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["complexity"]);
    let complexity = verdict(&verdicts, "complexity");
    assert!(complexity.numbers["ops_growth_exponent"] < GROWTH_EXPONENT_MAX, "{:?}", complexity.numbers);
    assert!(complexity.numbers["memory_growth_exponent"] < GROWTH_EXPONENT_MAX, "{:?}", complexity.numbers);
    assert_eq!(complexity.numbers["quadratic_ops_static"], 1.0);
    let d = &complexity.diagnostics[0];
    assert_eq!(d.class, ErrorClass::SuperLinear);
    assert_eq!((d.span.line, d.span.column), location(source, "attention("));
}

#[test]
fn a_state_that_explodes_only_once_a_zero_initialised_parameter_moves_is_caught() {
    // At the initial weights the decay is exactly 1 (finite over the sequence); at a later draw
    // exp(40 · p) is far from 1 in some head and the state overflows.
    let source = "mixer tipping {\n  o = recur(proj(x, d), proj(x, d), proj(x, d), decay = exp(40 * param(h, init = zero)))\n  return proj(o, d)\n}\n";
    let verdicts = verdicts(source);
    assert_eq!(failed(&verdicts), vec!["finite"]);
    let finite = verdict(&verdicts, "finite");
    assert!(finite.numbers["loss"].is_sign_positive(), "finite at the initial weights: {:?}", finite.numbers);
    assert!(finite.numbers["first_nonfinite_draw"] >= 1.0, "{:?}", finite.numbers);
    assert!(finite.numbers["nonfinite_draws"] >= 1.0);
    let d = &finite.diagnostics[0];
    assert_eq!(d.class, ErrorClass::NonFinite);
    assert_eq!((d.span.line, d.span.column), location(source, "recur("));
}

/// docs/language.md shows every baseline exactly as it is.
#[test]
fn the_language_reference_quotes_every_baseline_verbatim() {
    // Included at compile time: a test binary reused from a checkout at another path (cargo
    // fingerprints workspace members by relative path) would read a path that no longer exists.
    let doc = include_str!("../../docs/language.md");
    for baseline in baselines::ALL {
        assert!(doc.contains(baseline.source), "docs/language.md is out of date for {}", baseline.name);
    }
}
