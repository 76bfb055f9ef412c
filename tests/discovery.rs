//! The random-search control and the benchmarks that say whether a discovery means something,
//! through the real binary on real SQLite files: a control campaign draws from the whole pool and
//! reads no insight; `bench fitness` trains each baseline exactly as a campaign of that seed
//! does; `bench discovery` reports what the campaigns it ran recorded.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::lineage;
use tempfile::TempDir;

fn store(dir: &TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

fn json(command: &mut std::process::Command) -> Value {
    let out = command.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn events(store: &str, campaign: &str) -> Vec<Value> {
    let out = lineage(store).args(["events", campaign, "--json"]).output().unwrap();
    assert!(out.status.success(), "events failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn random_config(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path().join("random.toml");
    std::fs::write(&path, "[selection]\npolicy = \"random\"\nparent_ranks = [1, 1]\n").unwrap();
    path
}

#[test]
fn the_random_control_draws_from_the_whole_pool_and_reads_no_insight() {
    let dir = TempDir::new().unwrap();
    let store = store(&dir, "control.db");
    let config = random_config(&dir);
    // parent_ranks = [1, 1] would pin ASI-Arch's policy to the best candidate; the control
    // ignores it and draws from the whole pool.
    json(
        lineage(&store)
            .args(["run", "--preset", "smoke", "--seed", "4", "--name", "control", "--json"])
            .args(["--experiments", "8", "--config", config.to_str().unwrap()]),
    );
    let log = events(&store, "control");
    let insights: BTreeSet<&str> =
        log.iter().filter(|e| e["type"] == "InsightRecorded").map(|e| e["id"].as_str().unwrap()).collect();
    assert!(!insights.is_empty(), "the analysts still record insights; the control only does not read them");
    let selections: Vec<&Value> = log.iter().filter(|e| e["type"] == "ParentSelected").collect();
    assert_eq!(selections.len(), 8);
    let mut ranks = BTreeSet::new();
    for s in &selections {
        let p = &s["payload"];
        assert_eq!(p["policy"], "random");
        let rank =
            p["pool"].as_array().unwrap().iter().find(|e| e["arch"] == p["parent"]).unwrap()["rank"].clone();
        ranks.insert(rank.as_u64().unwrap());
    }
    assert!(ranks.iter().any(|r| *r > 1), "parents from below rank 1: {ranks:?}");
    for proposal in
        log.iter().filter(|e| e["type"] == "ArchitectureProposed" && e["payload"]["experiment"] != 0)
    {
        let cited: Vec<&str> =
            proposal["payload"]["evidence"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        assert!(
            cited.iter().all(|c| !insights.contains(c)),
            "a control proposal cites an insight: {cited:?}"
        );
        assert!(!proposal["payload"]["motivation"].as_str().unwrap().contains("weights from the insights"));
    }
    let verify = lineage(&store).args(["verify", "control"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    // Re-scoring under the fitness the campaign recorded recomputes every recorded total exactly
    // from the recorded metrics; under ASI-Arch's, the ranking changes.
    let rescore = |name: &str| {
        let out = lineage(&store).args(["replay", "control", "--fitness", name]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let same = rescore("calibrated");
    assert!(same.starts_with("counterfactual fitness: calibrated (loss scale 0.37"), "{same}");
    let rows: Vec<Vec<&str>> = same
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with("promoted"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.len() >= 8, "{same}");
    for row in &rows {
        assert_eq!(row[0], row[1], "same rank: {same}");
        assert_eq!(row[3], row[4], "same fitness: {same}");
    }
    let paper = rescore("asi-arch");
    assert!(paper.contains("asi-arch (loss scale 0.1, benchmark scale 0.1"), "{paper}");

    // The control cannot be combined with a model proposing.
    let both = dir.path().join("both.toml");
    std::fs::write(
        &both,
        "[selection]\npolicy = \"random\"\n\n[llm]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
    )
    .unwrap();
    let out = lineage(&store)
        .args(["run", "--preset", "smoke", "--config", both.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("random-search control"), "{err}");
}

#[test]
fn an_operator_prior_learned_from_campaigns_steers_the_next_one() {
    let dir = TempDir::new().unwrap();
    let store = store(&dir, "prior.db");
    for seed in ["5", "6"] {
        json(
            lineage(&store)
                .args([
                    "run",
                    "--preset",
                    "smoke",
                    "--seed",
                    seed,
                    "--name",
                    &format!("past-{seed}"),
                    "--json",
                ])
                .args(["--experiments", "6"]),
        );
    }
    let out = lineage(&store).args(["operator-prior", "past-*"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("learned from 2 campaign(s)") && text.contains("#   past-5\n#   past-6"), "{text}");
    let table: toml::Table = text.parse().unwrap();
    let prior = table["selection"]["operator_prior"].as_table().unwrap().clone();
    assert!(!prior.is_empty(), "{text}");
    let path = dir.path().join("prior.toml");
    std::fs::write(&path, &text).unwrap();

    json(
        lineage(&store).args(["run", "--preset", "smoke", "--seed", "7", "--name", "next", "--json"]).args([
            "--experiments",
            "4",
            "--config",
            path.to_str().unwrap(),
        ]),
    );
    let log = events(&store, "next");
    let started = &log[0];
    assert_eq!(started["version"], 5);
    let recorded = started["payload"]["config"]["selection"]["operator_prior"].as_object().unwrap();
    assert_eq!(recorded.len(), prior.len());
    for (operator, weight) in &prior {
        assert_eq!(recorded[operator].as_f64(), weight.as_float(), "{operator}");
    }
    let motivations: Vec<&str> = log
        .iter()
        .filter(|e| e["type"] == "ArchitectureProposed" && e["payload"]["experiment"] != 0)
        .map(|e| e["payload"]["motivation"].as_str().unwrap())
        .collect();
    assert!(
        motivations.iter().any(|m| m.contains("from earlier campaigns")),
        "a proposal says which weights the prior set: {motivations:?}"
    );
    let verify = lineage(&store).args(["verify", "next"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    for (args, expected) in [
        (vec!["operator-prior", "nothing-*"], "no campaign id begins \"nothing-\""),
        (vec!["operator-prior", "nope"], "unknown campaign nope"),
    ] {
        let out = lineage(&store).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expected) && err.lines().count() == 1, "{err}");
    }
}

#[test]
fn bench_fitness_trains_each_baseline_as_a_campaign_of_that_seed_does() {
    let dir = TempDir::new().unwrap();
    let store = store(&dir, "fitness.db");
    let report =
        json(lineage(&store).args(["bench", "fitness", "--preset", "smoke", "--seeds", "2", "--json"]));
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "smoke's four baselines");
    let reference = rows.iter().find(|r| r["baseline"] == "deltanet").unwrap();
    assert_eq!(reference["loss_gain"]["mean"], 0.0);
    assert_eq!(reference["loss_term"]["std"], 0.0);
    // Seed 1's numbers are what a smoke campaign of seed 1 recorded for its baselines, bit for bit.
    json(lineage(&store).args([
        "run",
        "--preset",
        "smoke",
        "--seed",
        "1",
        "--experiments",
        "1",
        "--name",
        "s1",
        "--json",
    ]));
    let log = events(&store, "s1");
    for row in rows {
        let name = row["baseline"].as_str().unwrap();
        let run = log
            .iter()
            .find(|e| e["type"] == "TrainingFinished" && e["payload"]["arch"] == name)
            .unwrap_or_else(|| panic!("{name} trained"));
        let metrics = &run["payload"]["metrics"];
        assert_eq!(row["by_seed"][0][0], metrics["loss_val_final"], "{name}");
        assert_eq!(row["by_seed"][0][1], metrics["benchmark_mean"], "{name}");
    }
}

#[test]
fn bench_discovery_reports_what_its_campaigns_recorded() {
    let dir = TempDir::new().unwrap();
    let store = store(&dir, "discovery.db");
    let out = dir.path().join("figures");
    let report =
        json(lineage(&store).args(["bench", "discovery", "--preset", "smoke", "--seeds", "2"]).args([
            "--experiments",
            "3",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]));
    assert_eq!(report["experiments"], 3);
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(
        policies.iter().map(|p| p["policy"].as_str().unwrap()).collect::<Vec<_>>(),
        ["rank-weighted", "random"]
    );
    for policy in policies {
        let campaigns = policy["campaigns"].as_array().unwrap();
        assert_eq!(campaigns.iter().map(|c| c["seed"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
        for c in campaigns {
            let name = c["campaign"].as_str().unwrap();
            let replay = json(lineage(&store).args(["replay", name, "--json"]));
            assert_eq!(c["state_hash"], replay["state_hash"], "{name}");
            let log = events(&store, name);
            assert!(
                log.iter()
                    .filter(|e| e["type"] == "ParentSelected")
                    .all(|e| e["payload"]["policy"] == policy["policy"])
            );
            // The best after the last experiment is the best candidate fitness the log records.
            let candidates: BTreeSet<&str> = log
                .iter()
                .filter(|e| e["type"] == "ArchitectureProposed" && e["payload"]["experiment"] != 0)
                .map(|e| e["payload"]["arch"].as_str().unwrap())
                .collect();
            let best = log
                .iter()
                .filter(|e| e["type"] == "FitnessAssigned" && e["payload"]["stage"] == "exploration")
                .filter(|e| candidates.contains(e["payload"]["arch"].as_str().unwrap()))
                .map(|e| e["payload"]["total"].as_f64().unwrap())
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(c["best_by_experiment"][2].as_f64().unwrap(), best, "{name}");
        }
    }
    // The policy against the control, seed by seed, with the test's p-value.
    let against = report["against_control"].as_array().unwrap();
    assert_eq!(against.len(), 1);
    let last = |p: usize, s: usize| policies[p]["campaigns"][s]["best_by_experiment"][2].as_f64().unwrap();
    let differences: Vec<f64> =
        against[0]["differences"].as_array().unwrap().iter().map(|d| d.as_f64().unwrap()).collect();
    assert_eq!(differences, [last(0, 0) - last(1, 0), last(0, 1) - last(1, 1)]);
    assert!((0.0..=1.0).contains(&against[0]["p_value"].as_f64().unwrap()));
    for figure in report["figure"].as_array().unwrap() {
        assert!(std::fs::metadata(figure.as_str().unwrap()).unwrap().len() > 1000, "{figure}");
    }
}

#[test]
fn bench_recall_measures_every_cell_of_its_cross_and_repeats_bit_for_bit() {
    let dir = TempDir::new().unwrap();
    let store = store(&dir, "unused.db");
    let run = |out: &str| {
        let out = dir.path().join(out);
        json(
            lineage(&store)
                .args([
                    "bench",
                    "recall",
                    "--programs",
                    "deltanet,short_conv",
                    "--pairs",
                    "1,2",
                    "--heads",
                    "2,4",
                ])
                .args(["--seeds", "2", "--steps", "6", "--len", "16", "--vocab", "16", "--json", "--out"])
                .arg(out),
        )
    };
    let (first, again) = (run("a"), run("b"));
    // The cross: pairs 1 and 2 at the middle head count (4), and heads 2 at the middle pairs (2).
    let cells = first["cells"].as_array().unwrap();
    let settings: Vec<(String, u64, u64)> = cells
        .iter()
        .map(|c| {
            (
                c["program"].as_str().unwrap().to_owned(),
                c["pairs"].as_u64().unwrap(),
                c["heads"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, u64)> = ["deltanet", "short_conv"]
        .iter()
        .flat_map(|p| [(1, 4), (2, 4), (2, 2)].map(|(n, h)| ((*p).to_owned(), n, h)))
        .collect();
    assert_eq!(settings, expected);
    for c in cells {
        let by_seed: Vec<f64> =
            c["by_seed"].as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect();
        assert_eq!(by_seed.len(), 2);
        assert!(by_seed.iter().all(|a| (0.0..=1.0).contains(a)));
        assert_eq!(c["accuracy"]["mean"].as_f64().unwrap(), (by_seed[0] + by_seed[1]) / 2.0);
        assert_eq!(c["solved"].as_u64().unwrap(), by_seed.iter().filter(|a| **a > 0.9).count() as u64);
        assert_eq!(c["state"].as_u64().unwrap(), 64 * 64 / c["heads"].as_u64().unwrap());
    }
    assert_eq!(
        first["cells"], again["cells"],
        "the same grid gives the same numbers, whichever run ends first"
    );
    // A saved report is drawn and printed again without training.
    let saved = dir.path().join("report.json");
    std::fs::write(&saved, first.to_string()).unwrap();
    let redrawn = json(
        lineage(&store)
            .args(["bench", "recall", "--json", "--from"])
            .arg(&saved)
            .arg("--out")
            .arg(dir.path().join("c")),
    );
    assert_eq!(redrawn["cells"], first["cells"]);
    for figure in first["figures"].as_array().unwrap() {
        assert!(std::fs::metadata(figure.as_str().unwrap()).unwrap().len() > 1000, "{figure}");
    }
}
