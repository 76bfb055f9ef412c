//! The pre-training checks: every baseline passes them all, and planted bad programs are caught
//! by the right check, with a diagnostic of the right class pointing at the culprit.

use burn::tensor::Device;
use lineage_arch::baselines;
use lineage_arch::checks::{Verdict, run_all};
use lineage_arch::lang::{ErrorClass, parse};

fn verdicts(source: &str) -> Vec<Verdict> {
    run_all(&parse(source).unwrap(), &Device::flex())
}

fn failed(verdicts: &[Verdict]) -> Vec<&'static str> {
    verdicts.iter().filter(|v| !v.passed).map(|v| v.check).collect()
}

#[test]
fn every_baseline_passes_every_check() {
    for baseline in baselines::ALL {
        let verdicts = verdicts(baseline.source);
        assert_eq!(verdicts.len(), 4, "{}", baseline.name);
        assert!(failed(&verdicts).is_empty(), "{}: {:#?}", baseline.name, verdicts);
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

/// docs/language.md shows every baseline exactly as it is.
#[test]
fn the_language_reference_quotes_every_baseline_verbatim() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md")).unwrap();
    for baseline in baselines::ALL {
        assert!(doc.contains(baseline.source), "docs/language.md is out of date for {}", baseline.name);
    }
}
