//! `lineage export-arch` driven as a user would: a baseline with fresh weights, a smoke
//! campaign's candidate with its trained weights, and refusals. The PyTorch side (check.py
//! against lineage's logits) runs in `scripts/check-export.sh`, where torch is installed.

mod support;

use std::path::Path;
use std::process::Output;

use safetensors::SafeTensors;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn export(store: &str, args: &[&str], out: &Path) -> Output {
    support::lineage(store).arg("export-arch").args(args).arg("--pytorch").arg(out).output().unwrap()
}

fn parameters(path: &Path) -> (usize, std::collections::HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap_or_default();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let count = tensors.tensors().iter().map(|(_, view)| view.shape().iter().product::<usize>()).sum();
    (count, metadata.into_iter().collect())
}

/// Python's own parser accepts the generated files (where python3 is installed).
fn python_compiles(dir: &Path) {
    let Ok(status) = std::process::Command::new("python3")
        .args(["-m", "py_compile", "model.py", "check.py"])
        .current_dir(dir)
        .status()
    else {
        eprintln!("python3 not found: the generated Python is not compiled here");
        return;
    };
    assert!(status.success(), "model.py or check.py is not valid Python");
}

#[test]
fn a_baseline_exports_with_every_weight_named_and_valid_python() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("unused.db").display());
    let out = dir.path().join("gdn");
    let output = export(&store, &["gated_deltanet", "--layers", "3", "--vocab", "64", "--seed", "5"], &out);
    assert!(output.status.success(), "{}", stderr(&output));
    for file in ["model.py", "weights.safetensors", "check.py", "check_input.safetensors", "README.md"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let program =
        lineage_arch::lang::parse(lineage_arch::baselines::get("gated_deltanet").unwrap().source).unwrap();
    let graph = lineage_arch::lang::check(&program, lineage_arch::lang::Dims::DEFAULT).graph.unwrap();
    let (count, metadata) = parameters(&out.join("weights.safetensors"));
    assert_eq!(
        count as u64,
        3 * graph.block_params() + 2 * 64 * 64 + 64,
        "blocks, embedding, head, final norm"
    );
    assert_eq!(metadata["program_hash"], lineage_arch::lang::program_hash(&program).to_string());
    assert_eq!(metadata["seed"], "5");
    let model = std::fs::read_to_string(out.join("model.py")).unwrap();
    assert!(
        model.contains("# o = recur(q, beta * k, v, decay = alpha, erase = alpha * beta * k, along = k)")
    );
    assert!(model.contains("LAYERS = 3") && model.contains("VOCAB = 64"));
    python_compiles(&out);
    assert!(!dir.path().join("unused.db").exists(), "a program's export opens no store");
}

#[test]
fn a_campaign_candidate_exports_its_recorded_run_bit_for_bit_and_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("smoke.db").display());
    let run = support::lineage(&store)
        .args(["run", "--preset", "smoke", "--seed", "2", "--experiments", "2", "--name", "smoke"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    // The same architecture named both ways: `CAMPAIGN ARCH` and `CAMPAIGN/ARCH`.
    for (out, what) in [(&first, &["smoke", "e0001"][..]), (&second, &["smoke/e0001"][..])] {
        let output = export(&store, what, out);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let readme = std::fs::read_to_string(first.join("README.md")).unwrap();
    assert!(readme.contains("matched the recorded ones bit for bit"), "{readme}");
    assert!(readme.contains("Campaign: smoke, head "), "{readme}");
    let (_, metadata) = parameters(&first.join("weights.safetensors"));
    assert_eq!(metadata["arch"], "e0001");
    assert_eq!(metadata["run"], "e0001-x");
    for file in ["weights.safetensors", "check_input.safetensors", "model.py"] {
        assert_eq!(
            std::fs::read(first.join(file)).unwrap(),
            std::fs::read(second.join(file)).unwrap(),
            "{file}"
        );
    }
    // Trained, not fresh: the same program exported with fresh weights at the same size differs.
    let fresh = dir.path().join("fresh");
    let output = export(&store, &["smoke", "e0001", "--layers", "1", "--seed", "0"], &fresh);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_ne!(
        std::fs::read(first.join("weights.safetensors")).unwrap(),
        std::fs::read(fresh.join("weights.safetensors")).unwrap()
    );
    python_compiles(&first);
}

#[test]
fn bad_requests_get_one_clear_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("none.db").display());
    let bad_file = dir.path().join("bad.arch");
    std::fs::write(&bad_file, "mixer broken {\n  return proj(x, d) +\n}\n").unwrap();
    let bad = bad_file.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["no_such_baseline"], "no program \"no_such_baseline\": not a file, and not a baseline"),
        (&[bad], "syntax error"),
        (&["deltanet", "--heads", "5"], "does not type-check at d = 64, h = 5"),
        (&["camp", "e0001"], "no event store"),
    ];
    for (args, expected) in cases {
        let out = dir.path().join("out");
        let output = export(&store, args, &out);
        assert!(!output.status.success(), "{args:?}");
        let last = stderr(&output).lines().last().unwrap_or_default().to_owned();
        assert!(last.contains(expected), "{args:?}: {}", stderr(&output));
        assert!(!out.exists(), "{args:?} wrote files");
    }
}
