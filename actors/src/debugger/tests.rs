//! The debugger's diagnosis and choice of repair, without actors.

use lineage_arch::lang::{parse, print, program_hash};

use super::*;
use crate::testkit::outcome;

/// Reads the future: `shift` by −1 (the causal-shift rule turns it to +1).
const LOOKS_AHEAD: &str = "mixer m {\n  return proj(shift(x, -1), d)\n}\n";

#[test]
fn the_diagnosis_names_every_failing_diagnostic_with_its_place_and_class() {
    let failures = [outcome("causality", Some("non-causal")), outcome("finite", Some("non-finite"))];
    assert_eq!(
        diagnosis(&failures),
        "causality failed at 2:3: non-causal here [non-causal]; finite failed at 2:3: non-finite here [non-finite]"
    );
    assert_eq!(diagnosis(&[]), "");
}

#[test]
fn the_first_rule_answering_a_failing_class_patches_the_program() {
    let patch =
        choose_patch(LOOKS_AHEAD, &[outcome("causality", Some("non-causal"))], &[]).expect("a rule applies");
    assert_eq!(patch.rule, "causal-shift");
    assert_eq!(print(&patch.original), print(&parse(LOOKS_AHEAD).unwrap()));
    assert!(print(&patch.patched).contains("shift(x, 1)"), "{}", print(&patch.patched));
    assert_eq!(patch.why, "shift into the past instead of the future");
}

#[test]
fn diagnostics_no_rule_answers_are_passed_over_for_later_ones() {
    let failures = [outcome("type-shape", Some("no-such-class")), outcome("causality", Some("non-causal"))];
    assert_eq!(choose_patch(LOOKS_AHEAD, &failures, &[]).map(|p| p.rule), Some("causal-shift"));
    assert!(choose_patch(LOOKS_AHEAD, &failures[..1], &[]).is_none(), "no rule for that class");
}

#[test]
fn a_patch_already_tried_is_not_proposed_again() {
    let failures = [outcome("causality", Some("non-causal"))];
    let first = choose_patch(LOOKS_AHEAD, &failures, &[]).unwrap();
    let tried = vec![program_hash(&first.patched).to_hex()];
    // The other non-causal rule (masking attention) has nothing to patch here.
    assert!(choose_patch(LOOKS_AHEAD, &failures, &tried).is_none());
}

#[test]
fn a_program_that_does_not_parse_gets_no_patch() {
    assert!(choose_patch("mixer m {", &[outcome("type-shape", Some("non-causal"))], &[]).is_none());
}
