//! Working with many campaigns, driven through the real binary as a researcher would: compare
//! two side by side, take an architecture out of one by reference (`CAMPAIGN/ARCH`), and the
//! help of the commands that read no store.

mod support;

use std::process::Output;

use serde_json::Value;
use support::lineage;

fn run(store: &str, args: &[&str]) -> Output {
    lineage(store).args(args).output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

/// The command failed with one line on stderr containing `needle`.
fn one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected a failure; stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
}

/// A store with two finished smoke campaigns, `smoke-a` (seed 1) and `smoke-b` (seed 2).
fn two_campaigns() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    for (name, seed) in [("smoke-a", "1"), ("smoke-b", "2")] {
        ok(run(&store, &["run", "--preset", "smoke", "--seed", seed, "--name", name, "--json"]));
    }
    (dir, store)
}

#[test]
fn compare_puts_two_campaigns_side_by_side_with_the_numbers_replay_prints() {
    let (_dir, store) = two_campaigns();
    // By unique prefix, as every campaign argument.
    let compared = json(run(&store, &["compare", "smoke-a", "smoke-b", "--top", "3", "--json"]));
    let sides = compared["campaigns"].as_array().unwrap();
    assert_eq!(sides.len(), 2);
    for (side, name) in sides.iter().zip(["smoke-a", "smoke-b"]) {
        let replayed = json(run(&store, &["replay", name, "--json"]));
        assert_eq!(side["campaign"], name);
        assert_eq!(side["state"], "finished");
        assert_eq!(side["state_hash"], replayed["state_hash"]);
        let board = side["leaderboard"].as_array().unwrap();
        assert_eq!(board.len(), 3);
        assert_eq!(board[..], replayed["leaderboard"].as_array().unwrap()[..3]);
        // The curve ends at the best exploration fitness of a proposed architecture.
        let best_proposed = replayed["leaderboard"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["proposer"] != "baseline")
            .map(|r| r["fitness"].as_f64().unwrap());
        let curve = side["curve"].as_array().unwrap();
        assert_eq!(curve.len() as u64, side["experiments"].as_u64().unwrap() + 1);
        assert_eq!(curve.last().unwrap().as_f64(), best_proposed);
        let values: Vec<f64> = curve.iter().filter_map(Value::as_f64).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "best so far never falls: {values:?}");
    }
    let text = ok(run(&store, &["compare", "smoke-a", "smoke-b"]));
    assert!(text.lines().next().unwrap().contains("smoke-a") && text.contains("smoke-b"));
    assert!(text.contains("leaderboard (top 10)") && text.contains("best proposed fitness"), "{text}");
    one_line_error(&run(&store, &["compare", "smoke-a", "nope"]), "unknown campaign nope");
    one_line_error(&run(&store, &["compare", "smoke", "smoke-b"]), "begins 2 campaigns");
}

#[test]
fn an_architecture_of_a_campaign_is_shown_checked_trained_and_diffed_by_reference() {
    let (_dir, store) = two_campaigns();
    let exported: Vec<Value> = ok(run(&store, &["export", "smoke-a", "--format", "jsonl"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let proposed = exported.iter().find(|r| r["proposer"] != "baseline").unwrap();
    let arch = proposed["arch"].as_str().unwrap();
    // The program in force, as the campaign recorded it.
    let reference = format!("smoke-a/{arch}");
    let shown = ok(run(&store, &["arch", "show", &reference]));
    assert_eq!(shown.trim_end(), proposed["program"].as_str().unwrap().trim_end());
    let checked = json(run(&store, &["arch", "check", &reference, "--json"]));
    assert_eq!(checked["program"], format!("smoke-a/{arch}"));
    assert_eq!(checked["passed"], true, "{checked}");
    let trained = json(run(
        &store,
        &["arch", "train", &reference, "--task", "mqar", "--steps", "3", "--batch", "2", "--json"],
    ));
    assert_eq!(trained["steps"], 3, "{trained}");
    let diff = json(run(&store, &["arch", "diff", &reference, "deltanet", "--json"]));
    assert_eq!(diff["from"], format!("smoke-a/{arch}"));
    // A baseline of the campaign resolves too; bad references are one line each.
    ok(run(&store, &["arch", "show", "smoke-b/deltanet"]));
    one_line_error(&run(&store, &["arch", "show", "smoke-a/zzz"]), "no architecture \"zzz\"");
    one_line_error(&run(&store, &["arch", "show", "smoke-a/e000"]), "\"e000\" is ambiguous");
    one_line_error(&run(&store, &["arch", "show", "nope/e0001"]), "unknown campaign nope");
    one_line_error(&run(&store, &["arch", "show", "no-such-thing"]), "not CAMPAIGN/ARCH");
}

#[test]
fn commands_that_read_no_store_do_not_offer_one() {
    let help = |args: &[&str]| {
        let output =
            std::process::Command::new(support::lineage_bin()).args(args).arg("--help").output().unwrap();
        ok(output)
    };
    for storeless in
        [&["keygen"][..], &["completions"], &["man"], &["arch", "baselines"], &["bench", "train"]]
    {
        assert!(!help(storeless).contains("--store"), "{storeless:?} offers --store");
    }
    for reading in
        [&["campaigns"][..], &["compare"], &["arch", "show"], &["arch", "check"], &["bench", "campaign"]]
    {
        assert!(help(reading).contains("--store"), "{reading:?} does not offer --store");
    }
    // A script that passes --store everywhere still works.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let output = lineage("sqlite://unused.db").arg("keygen").arg(&key).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!std::path::Path::new("unused.db").exists());
}

#[test]
fn a_seed_above_2_to_the_53_reads_back_exactly_outside_lineage() {
    // Above 2^53 (and every derived seed almost always is): a double cannot hold it.
    const SEED: &str = "18446744073709551557";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    let store = format!("sqlite://{}", path.display());
    ok(run(&store, &["run", "--preset", "smoke", "--seed", SEED, "--name", "big", "--json"]));
    // SQLite's own JSON functions, as a researcher's query would read them.
    let db = rusqlite::Connection::open(&path).unwrap();
    let seeds: Vec<(String, String, String)> = db
        .prepare(
            "SELECT type, typeof(json_extract(body, '$.payload.seed')), json_extract(body, '$.payload.seed')
             FROM lineage_events WHERE json_extract(body, '$.payload.seed') IS NOT NULL",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(seeds.iter().any(|(t, ..)| t == "TrainingScheduled"), "{seeds:?}");
    for (type_name, sql_type, seed) in &seeds {
        assert_eq!(sql_type, "text", "{type_name} records its seed as a number");
        seed.parse::<u64>().unwrap();
    }
    assert!(seeds.contains(&("CampaignStarted".into(), "text".into(), SEED.into())));
    // The campaign verifies, and every listing says the same seed.
    ok(run(&store, &["verify", "big"]));
    let listed = json(run(&store, &["campaigns", "--json"]));
    assert_eq!(listed["seed"], SEED);
}

/// `lineage campaigns delete` with `input` on its standard input.
fn delete_typing(store: &str, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = lineage(store)
        .args(["campaigns", "delete"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_rename_is_recorded_and_a_delete_destroys_only_what_was_confirmed() {
    let (_dir, store) = two_campaigns();
    let before = json(run(&store, &["replay", "smoke-a", "--json"]));
    ok(run(&store, &["campaigns", "rename", "smoke-a", "ablation-1"]));
    // The name resolves wherever an id does; the id, the decisions and the state hash stay.
    let renamed = json(run(&store, &["replay", "ablation-1", "--json"]));
    assert_eq!(renamed["campaign"], "smoke-a");
    assert_eq!(renamed["state_hash"], before["state_hash"]);
    assert!(ok(run(&store, &["events", "smoke-a"])).contains("CampaignNamed"));
    ok(run(&store, &["verify", "ablation-1"]));
    let listed: Vec<Value> =
        ok(run(&store, &["campaigns", "--json"])).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed[0]["name"], "ablation-1");
    assert!(listed[1]["name"].is_null());
    assert!(ok(run(&store, &["campaigns"])).contains("smoke-a (ablation-1)"));
    // A name is unique, never another campaign's id, and shaped like an id.
    one_line_error(
        &run(&store, &["campaigns", "rename", "smoke-b", "ablation-1"]),
        "already campaign smoke-a's",
    );
    one_line_error(&run(&store, &["campaigns", "rename", "smoke-b", "smoke-a"]), "the id");
    one_line_error(&run(&store, &["campaigns", "rename", "smoke-b", "two words"]), "name \"two words\"");

    // Unconfirmed, or confirmed with another id: nothing is deleted.
    for typed in ["", "smoke-b\n", "yes\n"] {
        let refused = delete_typing(&store, &["ablation-1"], typed);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("destroys the record") && stderr.contains("not confirmed"), "{stderr}");
        assert!(refused.stdout.is_empty());
    }
    assert_eq!(json(run(&store, &["replay", "smoke-a", "--json"]))["state_hash"], before["state_hash"]);
    // Typing the id deletes it; the other campaign is untouched and still verifies.
    let deleted = delete_typing(&store, &["ablation-1"], "smoke-a\n");
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    assert!(String::from_utf8_lossy(&deleted.stdout).contains("deleted campaign smoke-a"));
    one_line_error(&run(&store, &["replay", "smoke-a"]), "unknown campaign smoke-a");
    one_line_error(&run(&store, &["replay", "ablation-1"]), "unknown campaign ablation-1");
    ok(run(&store, &["verify", "smoke-b"]));
    // --yes is the scripted confirmation.
    let scripted = delete_typing(&store, &["smoke-b", "--yes"], "");
    assert!(scripted.status.success());
    assert!(ok(run(&store, &["campaigns"])).contains("no campaigns"));
}

/// The events of `campaign`, as `lineage events --json` prints them.
fn events(store: &str, campaign: &str) -> Vec<Value> {
    ok(run(store, &["events", campaign, "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(log: &'a [Value], type_name: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["type"] == type_name).collect()
}

/// A smoke campaign run to its end, then extended from 6 to 8 experiments; its replay.
fn extended_campaign(store: &str) -> Value {
    ok(run(store, &["run", "--preset", "smoke", "--seed", "3", "--name", "ext", "--json"]));
    ok(run(store, &["resume", "ext", "--experiments", "8", "--json"]));
    json(run(store, &["replay", "ext", "--json"]))
}

#[test]
fn resume_with_more_experiments_reopens_a_finished_campaign_for_a_new_round() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    ok(run(&store, &["run", "--preset", "smoke", "--seed", "3", "--name", "ext", "--json"]));
    let recorded = events(&store, "ext").len();
    // Finished: nothing to resume without a larger budget; refusals record nothing.
    one_line_error(&run(&store, &["resume", "ext"]), "--experiments N");
    one_line_error(&run(&store, &["resume", "ext", "--experiments", "6"]), "budget is 6 experiments already");
    assert_eq!(events(&store, "ext").len(), recorded);

    let resumed = json(run(&store, &["resume", "ext", "--experiments", "8", "--json"]));
    let replayed = json(run(&store, &["replay", "ext", "--json"]));
    assert_eq!(replayed["finished"], true);
    assert_eq!(replayed["experiments"], 8);
    assert_eq!(replayed["state_hash"], resumed["state_hash"]);
    ok(run(&store, &["verify", "ext"]));
    let log = events(&store, "ext");
    let extended = of_type(&log, "CampaignExtended");
    assert_eq!(extended.len(), 1);
    assert_eq!(
        (extended[0]["payload"]["previous_max"].as_u64(), extended[0]["payload"]["experiments_max"].as_u64()),
        (Some(6), Some(8))
    );
    assert!(extended[0]["seq"].as_u64() > of_type(&log, "CampaignFinished")[0]["seq"].as_u64());
    assert_eq!(of_type(&log, "CampaignFinished").len(), 2);
    // The second round promotes candidates not promoted before, and concludes every candidate
    // of both rounds again, together.
    let promoted: Vec<&str> = of_type(&log, "PromotedToVerification")
        .iter()
        .map(|e| e["payload"]["arch"].as_str().unwrap())
        .collect();
    let mut unique = promoted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), promoted.len(), "an architecture promoted twice: {promoted:?}");
    let last_round: Vec<&Value> = of_type(&log, "VerificationConcluded")
        .into_iter()
        .filter(|e| e["seq"].as_u64() > extended[0]["seq"].as_u64())
        .collect();
    let baselines: Vec<&str> = of_type(&log, "ArchitectureProposed")
        .iter()
        .filter(|e| e["payload"]["parent"].is_null())
        .map(|e| e["payload"]["arch"].as_str().unwrap())
        .collect();
    let candidates = unique.iter().filter(|a| !baselines.contains(a)).count();
    assert!(
        candidates > of_type(&log, "VerificationConcluded").len() - last_round.len(),
        "no new candidate was verified"
    );
    assert_eq!(last_round.len(), candidates);
    assert!(last_round.iter().all(|e| e["payload"]["test"]["family"].as_u64() == Some(candidates as u64)));
    let listed = json(run(&store, &["campaigns", "--json"]));
    assert_eq!(
        (listed["state"].as_str(), listed["experiments"].as_u64(), listed["experiments_max"].as_u64()),
        (Some("finished"), Some(8), Some(8))
    );

    // Deterministic: the same run and extension elsewhere gives the same state.
    let again = tempfile::tempdir().unwrap();
    let elsewhere = extended_campaign(&format!("sqlite://{}", again.path().join("lineage.db").display()));
    assert_eq!(elsewhere["state_hash"], replayed["state_hash"]);
}
