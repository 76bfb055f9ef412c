//! Anchoring a campaign, through the real binary on a real SQLite file: `run`, `replay` and
//! `campaigns` print the head; `keygen` makes a signing key; a campaign run with it signs its
//! head at each pause and at the end, hashing to the same state as an unsigned run; `anchor`
//! states the head; and `verify` catches what a chain recomputed by someone with write access
//! hides — an event appended after the finish, a log that no longer extends an anchored head,
//! a signed checkpoint that does not sign the rewritten head.

mod support;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use lineage_events::payload::Payload;
use lineage_events::{ActorRef, CampaignId, EventId, EventStore, NewEvent, SqliteStore};
use serde_json::Value;
use support::lineage;
use tempfile::TempDir;

/// Campaigns run one at a time: the "too slow" sanity stop compares a run's wall time with its
/// peers', so campaigns competing for the cores could make two runs of one seed differ.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A smoke campaign, shortened: what the signed and the unsigned runs both do.
const RUN: &[&str] = &["run", "--preset", "smoke", "--seed", "2", "--experiments", "2"];

fn store(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("lineage.db").display())
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn run(store: &str, args: &[&str]) -> Output {
    lineage(store).args(args).output().unwrap()
}

/// A failure: exit 1, stderr one line containing `needle`; returns stdout.
fn fails(out: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn events(store: &str, campaign: &str) -> Vec<Value> {
    ok(&run(store, &["events", campaign, "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The head `lineage campaigns --json` lists for `campaign`, as SEQ:HASH.
fn listed_head(store: &str, campaign: &str) -> String {
    let out = ok(&run(store, &["campaigns", "--json"]));
    let line: Value = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|c| c["campaign"] == campaign)
        .unwrap();
    assert_eq!(line["head_seq"].as_u64().unwrap() + 1, line["events"].as_u64().unwrap());
    format!("{}:{}", line["head_seq"], line["head_hash"].as_str().unwrap())
}

fn keygen(dir: &TempDir, store: &str) -> (std::path::PathBuf, String) {
    let file = dir.path().join("campaign.key");
    let out = ok(&run(store, &["keygen", file.to_str().unwrap()]));
    let public = out.lines().find_map(|l| l.strip_prefix("public key ")).unwrap().to_owned();
    assert_eq!(public.len(), 64, "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The key file is never overwritten.
    let before = std::fs::read(&file).unwrap();
    fails(&run(store, &["keygen", file.to_str().unwrap()]), "cannot create the key file");
    assert_eq!(std::fs::read(&file).unwrap(), before);
    (file, public)
}

#[test]
fn a_signed_campaign_signs_its_end_anchors_and_verifies_against_its_key_alone() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let (key, public) = keygen(&dir, &store);

    let mut args = RUN.to_vec();
    args.extend(["--name", "plain"]);
    let plain = ok(&run(&store, &args));
    // `run` prints the head last, as `campaigns` lists it.
    let plain_head = plain.lines().last().unwrap().strip_prefix("head ").unwrap().to_owned();
    assert_eq!(plain_head, listed_head(&store, "plain"), "{plain}");
    let plain_state = plain.lines().find_map(|l| l.strip_prefix("state hash ")).unwrap().to_owned();

    let mut args = RUN.to_vec();
    args.extend(["--name", "signed", "--json", "--signing-key", key.to_str().unwrap()]);
    let signed: Value = serde_json::from_str(&ok(&run(&store, &args))).unwrap();
    // The signature is not part of the state: same seed, same state hash.
    assert_eq!(signed["state_hash"], plain_state.as_str());
    let log = events(&store, "signed");
    let last = log.last().unwrap();
    assert_eq!(last["type"], "HeadSigned");
    let finish = &log[log.len() - 2];
    assert_eq!(finish["type"], "CampaignFinished");
    assert_eq!(last["payload"]["seq"], finish["seq"]);
    assert_eq!(last["payload"]["head_hash"], finish["hash"]);
    assert_eq!(last["payload"]["public_key"], public.as_str());
    assert_eq!(log.len(), events(&store, "plain").len() + 1, "one event more: the signature");
    assert_eq!(signed["head_seq"], last["seq"]);
    assert_eq!(signed["head_hash"], last["hash"]);
    let head = format!("{}:{}", last["seq"], last["hash"].as_str().unwrap());
    // The key is never recorded.
    let secret = std::fs::read_to_string(&key).unwrap();
    for file in ["lineage.db", "lineage.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(!bytes.windows(64).any(|w| w == secret.trim().as_bytes()), "the secret is in {file}");
    }

    // The replay prints the same head.
    let replayed = ok(&run(&store, &["replay", "signed"]));
    assert_eq!(replayed.lines().last(), Some(format!("head {head}").as_str()), "{replayed}");

    let verified = ok(&run(&store, &["verify", "signed", "--head", &head, "--public-key", &public]));
    assert!(!verified.contains("FAIL"), "{verified}");
    assert!(
        verified.contains(&format!(
            "ok   head: the log extends the anchored head {head} unchanged (0 events after it)"
        )),
        "{verified}"
    );
    assert!(
        verified.contains(&format!(
            "ok   signatures: 1 signed checkpoint verified, by the given key {public}; the last (event {})",
            last["seq"]
        )),
        "{verified}"
    );

    // The anchor: one paragraph naming all of it, and the command that checks it.
    let anchor = ok(&run(&store, &["anchor", "signed"]));
    assert_eq!(anchor.lines().count(), 1, "{anchor}");
    let recorded_at = last["recorded_at"].as_str().unwrap();
    let expected = format!(
        "lineage campaign signed: head {head}, recorded at {recorded_at} ({} events); finished, state hash {plain_state}; signed at event {} over head {}:{} by Ed25519 key {public}, signature {}. Check: lineage verify signed --head {head} --public-key {public}\n",
        log.len(),
        last["seq"],
        finish["seq"],
        finish["hash"].as_str().unwrap(),
        last["payload"]["signature"].as_str().unwrap(),
    );
    assert_eq!(anchor, expected);
    let json: Value = serde_json::from_str(&ok(&run(&store, &["anchor", "signed", "--json"]))).unwrap();
    assert_eq!(json["head_seq"], last["seq"]);
    assert_eq!(json["state_hash"], plain_state.as_str());
    assert_eq!(json["signature"]["public_key"], public.as_str());
    let unsigned = ok(&run(&store, &["anchor", "plain"]));
    assert!(unsigned.contains(&format!("head {plain_head}, recorded at ")), "{unsigned}");
    assert!(
        unsigned.ends_with(&format!("; not signed. Check: lineage verify plain --head {plain_head}\n")),
        "{unsigned}"
    );

    // The unsigned campaign carries no signature by the key; another key's signatures are not
    // the key's.
    let stdout = fails(&run(&store, &["verify", "plain", "--public-key", &public]), "failed verification");
    assert!(
        stdout.contains(&format!("FAIL signatures: the log carries no signature by key {public}")),
        "{stdout}"
    );
    // The same as JSON: every check with its verdict, the failed one among them, and the exit 1.
    let json: Value = serde_json::from_str(&fails(
        &run(&store, &["verify", "plain", "--public-key", &public, "--json"]),
        "failed verification",
    ))
    .unwrap();
    assert_eq!(json["verified"], false);
    let signatures = json["checks"].as_array().unwrap().iter().find(|c| c["check"] == "signatures").unwrap();
    assert_eq!(signatures["ok"], false);
    let passed: Value = serde_json::from_str(&ok(&run(&store, &["verify", "plain", "--json"]))).unwrap();
    assert_eq!(passed["verified"], true);
    assert!(passed["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{passed}");
    let rescored: Value = serde_json::from_str(&ok(&run(
        &store,
        &["replay", "plain", "--fitness", "loss=0,bench=1,judge=0", "--json"],
    )))
    .unwrap();
    assert_eq!(rescored["weights"]["benchmark"], 1.0, "{rescored}");
    assert!(!rescored["ranking"].as_array().unwrap().is_empty());
    let other = dir.path().join("other.key");
    let out = ok(&run(&store, &["keygen", other.to_str().unwrap()]));
    let other_public = out.lines().find_map(|l| l.strip_prefix("public key ")).unwrap();
    let stdout =
        fails(&run(&store, &["verify", "signed", "--public-key", other_public]), "failed verification");
    assert!(stdout.contains(&format!("not the given key {other_public}")), "{stdout}");

    tail_forgery(&dir, &store);
    recomputed_chain(&dir, &store, &plain_head, &public);
}

/// A correctly hashed verdict appended after the finish: verify fails and names it; replay
/// folds it and says so.
fn tail_forgery(dir: &TempDir, store: &str) {
    let copy = copy_of(dir, "tail.db");
    let log = events(store, "plain");
    let finish = log.iter().find(|e| e["type"] == "CampaignFinished").unwrap()["seq"].as_u64().unwrap();
    // The first proposal made a discovery, says the forger.
    let payload = lineage_events::payload::VerificationConcluded {
        arch: lineage_events::ArchId::new("e0001").unwrap(),
        best_baseline: lineage_events::ArchId::new("deltanet").unwrap(),
        gain_mean: 0.2,
        gain_std: 0.01,
        discovery: true,
        runs: Vec::new(),
        test: Some(lineage_events::payload::GainTest {
            name: "paired-t-one-sided".into(),
            alpha: 0.05,
            pairs: 3,
            df: 2,
            t: Some(34.6),
            p_value: 0.0004,
            correction: "holm".into(),
            family: 1,
            p_adjusted: 0.0004,
            lower_bound: Some(0.17),
        }),
        real_text: None,
    };
    let at = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let sqlite = SqliteStore::open(&copy).await.unwrap();
        let campaign = CampaignId::new("plain").unwrap();
        let head = sqlite.head(&campaign).await.unwrap().unwrap();
        let event = NewEvent::new(
            EventId::random(),
            ActorRef::new("analyst", "analyst"),
            &Payload::VerificationConcluded(payload),
        );
        sqlite.append(&campaign, head.next, vec![event]).await.unwrap();
        head.next.0
    });
    let url = format!("sqlite://{}", copy.display());
    let stdout = fails(&run(&url, &["verify", "plain"]), "failed verification");
    assert!(stdout.contains("ok   hash chain: "), "the forgery is correctly hashed: {stdout}");
    assert!(
        stdout.contains(&format!(
            "VerificationConcluded) comes after CampaignFinished (event {finish}): the log continues past its end"
        )) && stdout.contains(&format!("FAIL end: event {at} (")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("FAIL consistency: event {at} (")),
        "the verdict does not follow from its runs: {stdout}"
    );
    let replayed = ok(&run(&url, &["replay", "plain"]));
    assert!(replayed.contains(&format!("warning: event {at} (")), "{replayed}");
    assert!(replayed.contains("`lineage verify plain` fails this log"), "{replayed}");
    let json: Value = serde_json::from_str(&ok(&run(&url, &["replay", "plain", "--json"]))).unwrap();
    let discoveries = json["discoveries"].as_array().unwrap();
    assert!(discoveries.contains(&Value::from("e0001")), "replay shows what the log records: {json}");
    assert_eq!(json["past_end"]["seq"], at);
    assert_eq!(json["past_end"]["type"], "VerificationConcluded");
}

/// Copies the store (with SQLite itself, so a write-ahead log is included).
fn copy_of(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let copy = dir.path().join(name);
    let conn = rusqlite::Connection::open(dir.path().join("lineage.db")).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
    copy
}

/// Edits one byte of a run's throughput — which no state hash covers — in `campaign`'s log and
/// recomputes every hash after it and the head, with SQL and SHA-256 alone.
fn rewrite(path: &Path, campaign: &str) -> u64 {
    support::rewrite_first(path, campaign, |kind, body| {
        (kind == "TrainingFinished").then(|| body.replacen("\"tokens_per_s\":", "\"tokens_per_s\":1", 1))
    })
}

/// A log rewritten with its chain recomputed holds on its own; against the head published when
/// it ran, or the key that signed it, it does not.
fn recomputed_chain(dir: &TempDir, store: &str, plain_head: &str, public: &str) {
    let copy = copy_of(dir, "rewritten.db");
    let url = format!("sqlite://{}", copy.display());
    rewrite(&copy, "plain");
    let alone = ok(&run(&url, &["verify", "plain"]));
    assert!(!alone.contains("FAIL"), "on its own, the rewritten log verifies: {alone}");
    let (seq, hash) = plain_head.split_once(':').unwrap();
    let stdout = fails(
        &run(&url, &["verify", "plain", "--head", plain_head]),
        &format!("its log no longer extends the head {plain_head}"),
    );
    assert!(stdout.contains(&format!("FAIL head: event {seq} has hash ")), "{stdout}");
    assert!(
        stdout
            .contains(&format!(", not the anchored {hash}: the log was rewritten at or before event {seq}")),
        "{stdout}"
    );
    assert!(ok(&run(store, &["verify", "plain", "--head", plain_head])).contains("ok   head: "));

    // The signed campaign rewritten the same way keeps its signature event, which signs a head
    // the log no longer has.
    rewrite(&copy, "signed");
    let stdout = fails(&run(&url, &["verify", "signed", "--public-key", public]), "failed verification");
    assert!(stdout.contains("FAIL signatures: event ") && stdout.contains("after it was signed"), "{stdout}");

    // Malformed arguments: one line each, before anything is read.
    for (args, needle) in [
        (vec!["verify", "plain", "--head", "12"], "--head: a head is SEQ:HASH"),
        (vec!["verify", "plain", "--head", "x:y"], "--head: a head is SEQ:HASH"),
        (vec!["verify", "plain", "--public-key", "zz"], "--public-key: invalid public key \"zz\""),
    ] {
        fails(&run(store, &args), needle);
    }
    let out = lineage(store)
        .args(RUN)
        .args(["--name", "bad-key"])
        .env("LINEAGE_SIGNING_KEY", "nope")
        .output()
        .unwrap();
    fails(&out, "LINEAGE_SIGNING_KEY: not a signing key");
}

/// A campaign paused with Ctrl-C signs the head after its pause; resumed with the key from the
/// environment, it signs again at the end, and every signature holds.
#[test]
fn a_paused_campaign_signs_its_pause_and_its_end() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let (key, public) = keygen(&dir, &store);
    let secret = std::fs::read_to_string(&key).unwrap();
    let mut child = lineage(&store)
        .args(RUN)
        .args(["--name", "paused", "--json"])
        .env("LINEAGE_SIGNING_KEY", secret.trim())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let path = dir.path().join("lineage.db");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the campaign never trained");
        let trained =
            rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|db| {
                    db.query_row(
                        "SELECT count(*) FROM lineage_events WHERE type = 'TrainingFinished'",
                        [],
                        |r| r.get::<_, i64>(0),
                    )
                })
                .unwrap_or(0);
        if trained >= 1 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the campaign ended before the pause");
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130), "paused by Ctrl-C: exit 130, not 0");
    // After the pause, the head signed covers it (a worker may still commit after it).
    let log = events(&store, "paused");
    let paused = log.iter().rposition(|e| e["type"] == "CampaignPaused").expect("the pause is recorded");
    let signed =
        log[paused..].iter().find(|e| e["type"] == "HeadSigned").expect("the head is signed after it");
    assert!(signed["payload"]["seq"].as_u64().unwrap() >= paused as u64);
    let verified = ok(&run(&store, &["verify", "paused", "--public-key", &public]));
    assert!(verified.contains("ok   signatures: 1 signed checkpoint verified"), "{verified}");
    assert!(verified.contains("ok   end: the campaign has not finished"), "{verified}");

    let resumed = lineage(&store)
        .args(["resume", "paused", "--json", "--signing-key", key.to_str().unwrap()])
        .output()
        .unwrap();
    let resumed: Value = serde_json::from_str(&ok(&resumed)).unwrap();
    assert_eq!(resumed["finished"], true);
    let log = events(&store, "paused");
    let signatures: Vec<&Value> = log.iter().filter(|e| e["type"] == "HeadSigned").collect();
    assert_eq!(signatures.len(), 2, "one at the pause, one at the end");
    assert_eq!(log.last().unwrap()["type"], "HeadSigned");
    let verified = ok(&run(&store, &["verify", "paused", "--public-key", &public]));
    assert!(verified.contains("ok   signatures: 2 signed checkpoints verified"), "{verified}");
}
