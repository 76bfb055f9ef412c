//! `lineage arch …` driven as a user would.

use std::process::{Command, Output};

fn lineage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lineage")).args(args).env_remove("LINEAGE_STORE").output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn baselines_are_listed_and_shown_verbatim() {
    let listed = lineage(&["arch", "baselines", "--json"]);
    assert!(listed.status.success());
    let names: Vec<String> = stdout(&listed)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 10);
    let shown = lineage(&["arch", "show", "deltanet"]);
    assert_eq!(stdout(&shown), include_str!("../arch/baselines/deltanet.arch"));
}

#[test]
fn check_passes_a_baseline_and_locates_a_planted_bug() {
    let ok = lineage(&["arch", "check", "gated_deltanet"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    for check in ["type-shape", "causality", "complexity", "finite"] {
        assert!(stdout(&ok).contains(&format!("{check:<11} pass")), "{}", stdout(&ok));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peek.arch");
    std::fs::write(&path, "mixer peek {\n  return proj(shift(x, -2), d)\n}\n").unwrap();
    let bad = lineage(&["arch", "check", path.to_str().unwrap()]);
    assert!(!bad.status.success());
    let out = stdout(&bad);
    assert!(out.contains("error[non-causal]"), "{out}");
    assert!(out.contains("peek.arch:2:15"), "{out}");
    assert!(out.contains("causality   FAIL"), "{out}");
    assert_eq!(stderr(&bad).lines().count(), 1, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("failed: causality"));
}

#[test]
fn check_json_carries_verdicts_and_numbers() {
    let out = lineage(&["arch", "check", "retnet", "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(names, ["resources", "type-shape", "causality", "complexity", "finite"]);
    assert!(checks[3]["numbers"]["ops_growth_exponent"].as_f64().unwrap() < 1.2);
    assert_eq!(checks[2]["numbers"]["future_reach_static"], 0.0);
    let budget = checks[0]["numbers"]["memory_budget_bytes"].as_f64().unwrap();
    assert!(checks[0]["numbers"]["exploration_memory_bytes"].as_f64().unwrap() < budget);
}

#[test]
fn diff_names_the_changed_binding() {
    let out = lineage(&["arch", "diff", "deltanet", "deltanet_negative"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("beta: sigmoid(proj(x, h)) → 2 * sigmoid(proj(x, h))"), "{}", stdout(&out));
}

#[test]
fn train_reports_held_out_metrics_as_json() {
    let out = lineage(&[
        "arch",
        "train",
        "short_conv",
        "--task",
        "lm",
        "--task",
        "mqar:pairs=2,len=16,vocab=16",
        "--steps",
        "4",
        "--batch",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"], 4);
    assert_eq!(report["backend"], "flex+n2");
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks[0]["accuracy"].is_null() && tasks[0]["loss"].as_f64().unwrap() > 0.0);
    assert!(tasks[1]["accuracy"].as_f64().is_some());
}

#[test]
fn bad_programs_and_task_settings_are_one_clear_line() {
    let out = lineage(&["arch", "train", "deltanet", "--task", "mqar:pairs=40"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("task mqar"), "{}", stderr(&out));
    // Every size is bounded, and refused in one line before anything is allocated.
    for (flag, value, allowed) in [
        ("--steps", "0", "allowed 1..=1000000"),
        ("--steps", "4000000000", "allowed 1..=1000000"),
        ("--batch", "1000000000", "allowed 1..=4096"),
        ("--d-model", "1000000000", "allowed 1..=4096"),
        ("--layers", "100000", "allowed 1..=128"),
    ] {
        let out = lineage(&["arch", "train", "deltanet", flag, value]);
        assert!(!out.status.success());
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{flag} = {value} is out of range: {allowed}")),
            "{}",
            stderr(&out)
        );
    }
    // Each size within its range, together far over any machine's memory: refused with the estimate.
    let out = lineage(&[
        "arch",
        "train",
        "deltanet",
        "--d-model",
        "4096",
        "--layers",
        "128",
        "--batch",
        "4096",
        "--steps",
        "1",
    ]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs an estimated") && stderr(&out).contains("over the memory budget"),
        "{}",
        stderr(&out)
    );
    let out = lineage(&["arch", "check", "no-such-file.arch"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stderr(&out).contains("cannot read program"));
}

#[test]
fn training_that_reads_the_future_is_refused_by_the_tasks_entropy_floor() {
    // The planted leak: a read of the next token behind a zero-initialised gate. Trained
    // on its own, outside any campaign, it gets below the entropy of the generated text, which
    // no causal model can; its causal twin (the same program reading the previous token) does not.
    let dir = tempfile::tempdir().unwrap();
    let program = |name: &str, shift: i32| {
        let path = dir.path().join(format!("{name}.arch"));
        let source = format!(
            "mixer {name} {{\n  f = proj(shift(x, {shift}), d) * param(d, init = zero)\n  return proj(x + f, d)\n}}\n"
        );
        std::fs::write(&path, source).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let train = |path: &str| lineage(&["arch", "train", path, "--task", "lm", "--steps", "150", "--json"]);
    let leaky = train(&program("peek", -1));
    assert!(!leaky.status.success());
    assert_eq!(stderr(&leaky).lines().count(), 1, "{}", stderr(&leaky));
    assert!(
        stderr(&leaky).contains("below the entropy of the text's generating process"),
        "{}",
        stderr(&leaky)
    );
    let causal = train(&program("twin", 1));
    assert!(causal.status.success(), "{}", stderr(&causal));
}

/// A short run leaves its warm-up: a tenth of the steps by default, as in a campaign's stages,
/// so `--steps 20` ends its cosine decay near a tenth of the peak; `--warmup-steps` sets it.
#[test]
fn arch_train_warms_up_over_a_tenth_of_its_steps() {
    let last_lr = |extra: &[&str]| -> f64 {
        let output =
            lineage(&[&["arch", "train", "deltanet", "--steps", "20", "--task", "mqar"], extra].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stderr(&output);
        let line = text.lines().find(|l| l.starts_with("step    20")).unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace().skip_while(|w| *w != "lr").nth(1).unwrap().parse().unwrap()
    };
    let decayed = last_lr(&[]);
    assert!(decayed < 0.2 * 3e-3, "the last step is well past warm-up: lr {decayed}");
    let warming = last_lr(&["--warmup-steps", "30"]);
    assert!((warming - 20.0 / 30.0 * 3e-3).abs() < 1e-5, "still warming up at step 20 of 30: lr {warming}");
}

#[test]
fn arch_diff_prints_json_when_asked() {
    let output = lineage(&["arch", "diff", "deltanet", "gated_deltanet", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let diff: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(diff["equivalent"], false);
    assert!(
        diff["changes"].as_array().unwrap().iter().any(|c| c.as_str().unwrap().starts_with("+ alpha")),
        "{diff}"
    );
    let lines: Vec<&str> = diff["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(lines.iter().any(|l| l.starts_with("+ ")));
    // In each changed hunk the removed lines come first, as `diff -u` prints them.
    for pair in lines.windows(2) {
        assert!(
            !(pair[0].starts_with("+ ") && pair[1].starts_with("- ")),
            "an addition before a removal: {pair:?}"
        );
    }
    assert!(lines.iter().any(|l| l.starts_with("- ")));
    let same: serde_json::Value =
        serde_json::from_str(&stdout(&lineage(&["arch", "diff", "deltanet", "deltanet", "--json"]))).unwrap();
    assert_eq!(same["equivalent"], true);
}
