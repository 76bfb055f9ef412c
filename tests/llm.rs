//! Campaigns whose researcher, debugger, analyst and judge are a model behind a scripted
//! OpenAI-compatible server on loopback (`support::chat_server`), through the real binary on a
//! real SQLite file: every exchange recorded and cited, failures retried or fallen back from
//! as recorded, the ledger and its cap, replay and verify with the server gone, and a campaign
//! killed mid-request and resumed.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::chat_server::{ChatServer, Step};
use support::lineage;
use tempfile::TempDir;

/// Campaigns run one at a time, as in `tests/campaign.rs`.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A tiny campaign: two baselines, two experiments, no verification seeds to spare.
const CONFIG: &str = r#"
baselines = ["deltanet", "linear_attention"]
analysts = ["edit-stats"]
[budget]
experiments_max = 2
[exploration]
steps = 20
[verification]
steps = 20
[llm]
model = "scripted-model"
api_key_env = "LINEAGE_TEST_LLM_KEY"
timeout_s = 2
retries = 2
attempts = 2
price_input_per_1k = 0.5
price_output_per_1k = 1.5
"#;

const SECRET: &str = "sk-test-never-recorded";

struct Campaign {
    dir: TempDir,
    config: std::path::PathBuf,
}

impl Campaign {
    fn new(extra: &str) -> Campaign {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("campaign.toml");
        std::fs::write(&config, format!("{CONFIG}{extra}")).unwrap();
        Campaign { dir, config }
    }

    fn store(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("lineage.db").display())
    }

    fn run(&self, server: &ChatServer, name: &str) -> std::process::Command {
        let mut command = lineage(&self.store());
        command
            .args(["run", "--preset", "smoke", "--seed", "3", "--name", name, "--json", "--llm"])
            .arg(server.base_url())
            .arg("--config")
            .arg(&self.config)
            .env("LINEAGE_TEST_LLM_KEY", SECRET);
        command
    }

    /// Runs campaign `name` to its end against `server` with `args` besides the usual ones, and
    /// returns its events.
    fn run_to_end(&self, server: &ChatServer, name: &str, args: &[&str]) -> Vec<Value> {
        let out = self.run(server, name).args(args).output().unwrap();
        assert!(out.status.success(), "run: {}", String::from_utf8_lossy(&out.stderr));
        self.events(name)
    }

    fn events(&self, campaign: &str) -> Vec<Value> {
        let out = lineage(&self.store()).args(["events", campaign, "--json"]).output().unwrap();
        assert!(out.status.success(), "events: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn lineage(&self, args: &[&str]) -> std::process::Output {
        lineage(&self.store()).args(args).output().unwrap()
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn by_id(events: &[Value]) -> HashMap<String, &Value> {
    events.iter().map(|e| (e["id"].as_str().unwrap().to_owned(), e)).collect()
}

/// The text of a request's messages, joined.
fn prompt(body: &Value) -> String {
    body["messages"].as_array().map_or(String::new(), |m| {
        m.iter().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n")
    })
}

/// Which role a request is from, by its task line.
fn role(body: &Value) -> &'static str {
    let text = prompt(body);
    if text.contains("## Your task\n\nPropose architecture") {
        "researcher"
    } else if text.contains("Repair the program") {
        "debugger"
    } else if text.contains("Analyse this result") {
        "analyst"
    } else if text.contains("## Your task\n\nJudge") {
        "judge"
    } else {
        "unknown"
    }
}

/// The architecture a researcher's request proposes.
fn proposing(body: &Value) -> String {
    let text = prompt(body);
    let at =
        text.find("Propose architecture ").expect("a researcher's prompt") + "Propose architecture ".len();
    text[at..].split(|c: char| c == ':' || c.is_whitespace()).next().unwrap().to_owned()
}

fn baseline(name: &str) -> &'static str {
    lineage_arch::baselines::get(name).unwrap().source
}

/// A good reply for every role: the researcher proposes a baseline the campaign was not seeded
/// with (a different one for each architecture id), the judge scores 7/6/5.
fn good(body: &Value) -> Step {
    let reply = match role(body) {
        "researcher" => {
            let program = match proposing(body).as_str() {
                "e0001" => baseline("gated_deltanet"),
                "e0002" => baseline("short_conv"),
                _ => baseline("retnet"),
            };
            json!({"motivation": "A forget gate lets the state drop stale associations.", "program": program})
        }
        "debugger" => json!({"diagnosis": "nothing to repair", "program": baseline("gla")}),
        "analyst" => json!({"summary": "The gate helped recall.", "findings": ["recall up", "loss flat"]}),
        "judge" => json!({"performance": 7, "innovation": 6, "complexity": 5, "rationale": "a sound gate"}),
        other => panic!("a request from no known role ({other}): {}", prompt(body)),
    };
    Step::Reply(reply.to_string())
}

#[tokio::test]
async fn every_exchange_is_recorded_cited_and_replayed_without_the_model() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ChatServer::start(Vec::new()).with_responder(good);
    let campaign = Campaign::new("");
    let events = campaign.run_to_end(&server, "llm", &[]);
    let ids = by_id(&events);
    let exchanges = of_type(&events, "LlmExchanged");
    assert_eq!(exchanges.len(), server.request_count(), "one event per request, no more, no less");
    let roles: BTreeMap<&str, usize> = exchanges.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["payload"]["role"].as_str().unwrap()).or_default() += 1;
        m
    });
    for role in ["researcher", "analyst", "judge"] {
        assert!(roles.get(role).copied().unwrap_or(0) > 0, "no {role} exchange in {roles:?}");
    }
    // The key goes to the server and never into the log.
    let authorization = server.requests()[0].header("authorization").map(str::to_owned);
    assert_eq!(authorization.as_deref(), Some(format!("Bearer {SECRET}").as_str()));
    let db = std::fs::read(campaign.dir.path().join("lineage.db")).unwrap();
    assert!(!db.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the API key is in the database");
    // Each exchange holds the full prompt, the reply, tokens and cost at the configured prices.
    let first = &exchanges[0]["payload"];
    assert_eq!(first["model"], "scripted-model");
    assert_eq!(first["outcome"]["kind"], "replied");
    assert_eq!(first["messages"][0]["role"], "system");
    assert!(first["usage"]["reported"].as_bool().unwrap());
    let (input, output) =
        (first["usage"]["input_tokens"].as_f64().unwrap(), first["usage"]["output_tokens"].as_f64().unwrap());
    assert!((first["cost"].as_f64().unwrap() - (input * 0.5 + output * 1.5) / 1000.0).abs() < 1e-12);
    // The proposals, analyses and scores that used a reply cite it.
    let proposals: Vec<&Value> = of_type(&events, "ArchitectureProposed")
        .into_iter()
        .filter(|p| p["payload"]["proposer"]["kind"] == "llm")
        .collect();
    assert_eq!(proposals.len(), 2, "both experiments proposed by the model");
    for p in &proposals {
        let exchange = ids[p["payload"]["proposer"]["exchange"].as_str().unwrap()];
        assert_eq!(exchange["type"], "LlmExchanged");
        assert_eq!(exchange["payload"]["role"], "researcher");
        assert_eq!(exchange["payload"]["subject"], p["payload"]["arch"]);
        assert!(!p["payload"]["cognition"].as_array().unwrap().is_empty(), "the cognition entries shown");
    }
    let judged: Vec<&Value> = of_type(&events, "FitnessAssigned")
        .into_iter()
        .filter(|f| f["payload"]["arch"] != "deltanet")
        .collect();
    for f in &judged {
        let judge = &f["payload"]["judge"];
        assert_eq!(ids[judge["exchange"].as_str().unwrap()]["payload"]["role"], "judge");
        assert!((judge["score"].as_f64().unwrap() - (0.3 * 7.0 + 0.25 * 6.0 + 0.45 * 5.0)).abs() < 1e-12);
    }
    let reference =
        of_type(&events, "FitnessAssigned").into_iter().find(|f| f["payload"]["arch"] == "deltanet");
    assert_eq!(reference.unwrap()["payload"]["judge"]["score"], 5.0, "the reference stays anchored at 5");
    for a in of_type(&events, "AnalysisRecorded").into_iter().filter(|a| a["payload"]["analyst"] == "analyst")
    {
        assert_eq!(a["payload"]["summary"], "The gate helped recall.");
        assert_eq!(ids[a["payload"]["exchange"].as_str().unwrap()]["payload"]["role"], "analyst");
    }
    // The ledger: the budget events account for every exchange's tokens, role by role.
    let mut accounted: BTreeMap<String, f64> = BTreeMap::new();
    for b in of_type(&events, "BudgetSpent") {
        if let Some(ledger) = b["payload"]["llm"].as_object() {
            for (role, spend) in ledger {
                *accounted.entry(role.clone()).or_default() += spend["input_tokens"].as_f64().unwrap();
            }
        }
    }
    assert!(accounted.get("researcher").copied().unwrap_or(0.0) > 0.0, "{accounted:?}");

    // With the server gone: replay reproduces the finished state hash, verify passes, and the
    // ledger's totals are printed.
    let requests = server.request_count();
    server.stop();
    let finished = &of_type(&events, "CampaignFinished")[0]["payload"];
    let replay = campaign.lineage(&["replay", "llm", "--json"]);
    assert!(replay.status.success(), "replay: {}", String::from_utf8_lossy(&replay.stderr));
    let replayed: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(replayed["state_hash"], finished["state_hash"]);
    assert_eq!(replayed["llm"]["total"]["exchanges"].as_u64().unwrap() as usize, requests);
    let text = campaign.lineage(&["replay", "llm"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("LLM spend"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let verify = campaign.lineage(&["verify", "llm"]);
    assert!(verify.status.success(), "verify: {}", String::from_utf8_lossy(&verify.stdout));
    // The leaderboard and export name the model as the proposer.
    let export = campaign.lineage(&["export", "llm", "--format", "jsonl"]);
    assert!(String::from_utf8_lossy(&export.stdout).contains("llm scripted-model"));
    // Provenance shows the prompt and reply behind each step.
    let provenance = campaign.lineage(&["provenance", "llm", "e0001", "--format", "json"]);
    assert!(provenance.status.success(), "{}", String::from_utf8_lossy(&provenance.stderr));
    let provenance = String::from_utf8_lossy(&provenance.stdout);
    assert!(provenance.contains("Propose architecture e0001") && provenance.contains("forget gate"));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("ok   model programs: 2 programs"));

    // A model's decision rewritten with the chain recomputed disagrees with its reply.
    let forgeries: [(&str, &str, &str, &str); 3] = [
        ("FitnessAssigned", "a sound gate", "an outstanding gate", "the judge's scores and rationale"),
        ("AnalysisRecorded", "The gate helped recall.", "A breakthrough.", "the analysis text"),
        ("ArchitectureProposed", "conv(proj(x, d), 4)", "conv(proj(x, d), 3)", "model programs"),
    ];
    for (i, (kind, from, to, caught)) in forgeries.into_iter().enumerate() {
        let copy = campaign.dir.path().join(format!("forged-{i}.db"));
        let conn = rusqlite::Connection::open(campaign.dir.path().join("lineage.db")).unwrap();
        conn.execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
        support::rewrite_first(&copy, "llm", |t, body| {
            let model_made = kind != "ArchitectureProposed" || body.contains("\"kind\":\"llm\"");
            (t == kind && model_made).then(|| body.replacen(from, to, 1)).filter(|b| b != body)
        });
        let out = lineage(&format!("sqlite://{}", copy.display())).args(["verify", "llm"]).output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{kind}: a forged decision verified:\n{report}");
        assert!(report.contains(caught), "{kind}: {report}");
    }
    // A judged fitness whose citation of the model was dropped (the score left as the model
    // gave it) is neither the model's nor a recorded fallback's.
    let copy = campaign.dir.path().join("forged-unasked.db");
    let conn = rusqlite::Connection::open(campaign.dir.path().join("lineage.db")).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
    support::rewrite_first(&copy, "llm", |t, body| {
        let at = body.find(",\"exchange\":\"")?;
        let end = at + body[at + 13..].find('"')? + 14;
        (t == "FitnessAssigned").then(|| format!("{}{}", &body[..at], &body[end..]))
    });
    let out = lineage(&format!("sqlite://{}", copy.display())).args(["verify", "llm"]).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && report.contains("cites no reply and no fallback"), "{report}");
}

/// Per role, the steps to answer its requests with, in order; then good replies.
fn scripted(steps: Vec<(&'static str, Step)>) -> impl Fn(&Value) -> Step + Send + Sync + 'static {
    let queues: Mutex<HashMap<&'static str, Vec<Step>>> = Mutex::new(HashMap::new());
    for (role, step) in steps {
        queues.lock().unwrap().entry(role).or_default().push(step);
    }
    move |body: &Value| {
        let mut queues = queues.lock().unwrap();
        match queues.get_mut(role(body)).filter(|q| !q.is_empty()) {
            Some(queue) => queue.remove(0),
            None => good(body),
        }
    }
}

#[tokio::test]
async fn failures_are_retried_sent_back_or_fallen_back_from_and_each_is_recorded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let program_error = json!({"motivation": "m", "program": "mixer broken {"}).to_string();
    let server = ChatServer::start(Vec::new()).with_responder(scripted(vec![
        // The first proposal: a reply that is not JSON, then a program that does not parse
        // (both sent back to the model), and the researcher falls back to its operators.
        ("researcher", Step::Reply("I would add a gate.".into())),
        ("researcher", Step::Reply(program_error)),
        // The second: rate-limited, then a server error, then a good reply (retries).
        ("researcher", Step::RateLimited { retry_after_s: 1 }),
        ("researcher", Step::Status(500)),
        // The judge: a reply past the timeout, a body that is no completion, then a reply
        // cut at max_tokens; after two attempts it falls back to the formula.
        ("judge", Step::Slow { delay_ms: 2500, then: Box::new(Step::Reply("{}".into())) }),
        ("judge", Step::Empty),
        ("judge", Step::Truncated("{\"performance\": 7, \"innov".into())),
        ("judge", Step::Truncated("{\"performance\": 7, \"innov".into())),
        // The analyst: the key refused; no retry, a fallback.
        ("analyst", Step::Unauthorized),
    ]));
    let campaign = Campaign::new("");
    let events = campaign.run_to_end(&server, "faults", &[]);
    let ids = by_id(&events);
    let exchanges = of_type(&events, "LlmExchanged");
    assert_eq!(exchanges.len(), server.request_count(), "every try recorded");
    let of = |role: &str, subject: &str| -> Vec<&Value> {
        exchanges
            .iter()
            .map(|e| &e["payload"])
            .filter(|p| p["role"] == role && p["subject"] == subject)
            .collect()
    };
    // e0001: two attempts, each rejected with the reason sent back, then the fallback.
    let first = of("researcher", "e0001");
    assert_eq!(first.len(), 2);
    assert!(first[0]["rejected"].as_str().unwrap().contains("not the JSON object"));
    assert!(first[1]["rejected"].as_str().unwrap().contains("does not parse"));
    let sent_back = prompt(&json!({"messages": first[1]["messages"]}));
    assert!(sent_back.contains("Your reply could not be used"), "the error went back to the model");
    let fallbacks = of_type(&events, "LlmFellBack");
    let researcher_fallback = fallbacks
        .iter()
        .find(|f| f["payload"]["role"] == "researcher" && f["payload"]["subject"] == "e0001")
        .unwrap();
    assert_eq!(researcher_fallback["payload"]["exchanges"].as_array().unwrap().len(), 2);
    let e0001 = of_type(&events, "ArchitectureProposed")
        .into_iter()
        .find(|p| p["payload"]["arch"] == "e0001")
        .unwrap();
    assert_eq!(e0001["payload"]["proposer"]["kind"], "built_in", "fell back to the operators");
    assert!(e0001["payload"]["evidence"].as_array().unwrap().contains(&researcher_fallback["id"]));
    // e0002: 429 (its Retry-After recorded), 500, then the reply used.
    let second = of("researcher", "e0002");
    assert_eq!(
        second.iter().map(|p| p["outcome"]["kind"].as_str().unwrap()).collect::<Vec<_>>(),
        ["http_error", "http_error", "replied"]
    );
    assert_eq!(second[0]["outcome"]["status"], 429);
    assert_eq!(second[0]["outcome"]["retry_after_s"], 1.0);
    assert_eq!((second[1]["try_number"].as_u64(), second[2]["try_number"].as_u64()), (Some(2), Some(3)));
    // The judge of the first judged architecture: timeout, malformed, truncated twice.
    let judged = exchanges.iter().map(|e| &e["payload"]).filter(|p| p["role"] == "judge").collect::<Vec<_>>();
    assert_eq!(judged[0]["outcome"]["kind"], "transport");
    assert_eq!(judged[0]["outcome"]["failure"], "timeout");
    assert_eq!(judged[1]["outcome"]["kind"], "malformed");
    assert_eq!(judged[2]["outcome"]["finish_reason"], "length");
    let judge_fallback = fallbacks.iter().find(|f| f["payload"]["role"] == "judge").unwrap();
    let subject = judge_fallback["payload"]["subject"].as_str().unwrap();
    let fitness =
        of_type(&events, "FitnessAssigned").into_iter().find(|f| f["payload"]["arch"] == subject).unwrap();
    assert!(fitness["payload"]["judge"]["exchange"].is_null(), "the formula judged");
    assert!(
        fitness["payload"]["judge"]["rationale"].as_str().unwrap().contains("the built-in judge instead")
    );
    // The analyst: 401 is final.
    let analyst = exchanges.iter().map(|e| &e["payload"]).find(|p| p["role"] == "analyst").unwrap();
    assert_eq!(analyst["outcome"]["status"], 401);
    let analyst_fallback = fallbacks.iter().find(|f| f["payload"]["role"] == "analyst").unwrap();
    assert_eq!(analyst_fallback["payload"]["exchanges"].as_array().unwrap().len(), 1, "401 is not retried");
    assert!(ids.contains_key(analyst_fallback["payload"]["exchanges"][0].as_str().unwrap()));
    let verify = campaign.lineage(&["verify", "faults"]);
    assert!(verify.status.success(), "verify: {}", String::from_utf8_lossy(&verify.stdout));
}

#[tokio::test]
async fn the_campaign_stops_cleanly_at_the_token_cap() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ChatServer::start(Vec::new()).with_responder(good);
    let campaign = Campaign::new("tokens_max = 4000\n");
    let events = campaign.run_to_end(&server, "capped", &[]);
    let finished = &of_type(&events, "CampaignFinished")[0]["payload"];
    assert!(finished["reason"].as_str().unwrap().contains("LLM token budget reached"), "{finished}");
    // Past the cap no request is sent: roles fall back, saying why.
    // Prompt and reply tokens of the exchanges among `events`.
    let tokens = |events: &[Value]| -> u64 {
        let usage = |e: &&Value| -> u64 {
            ["input_tokens", "output_tokens"].iter().map(|k| e["payload"]["usage"][k].as_u64().unwrap()).sum()
        };
        of_type(events, "LlmExchanged").iter().map(usage).sum()
    };
    let spent = tokens(&events);
    let last_exchange = events.iter().rposition(|e| e["type"] == "LlmExchanged").unwrap();
    let before_last = tokens(&events[..last_exchange]);
    assert!(
        spent >= 4000 && before_last < 4000,
        "the last request was sent below the cap ({before_last}, {spent})"
    );
    assert!(
        of_type(&events, "LlmFellBack")
            .iter()
            .any(|f| f["payload"]["reason"].as_str().unwrap().contains("budget"))
    );
}

#[tokio::test]
async fn a_dead_endpoint_is_one_line_before_anything_is_recorded() {
    let campaign = Campaign::new("");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = lineage(&campaign.store())
        .args(["run", "--preset", "smoke", "--name", "dead", "--model", "m", "--llm"])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot be reached") && stderr.contains("connection refused"), "{stderr}");
    let campaigns = campaign.lineage(&["campaigns", "--json"]);
    assert!(String::from_utf8_lossy(&campaigns.stdout).trim().is_empty(), "nothing was recorded");
    let bad = lineage(&campaign.store()).args(["run", "--llm", "ftp://x", "--model", "m"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("http:// or https://"));

    // A key no HTTP header can carry is named as the problem, not the server; white space
    // around a key (a line break read from a file) is dropped.
    for (key, expected) in [
        ("sk-ab\u{1}c", "the API key in OPENAI_API_KEY holds \\u{1}, which an HTTP header cannot carry"),
        ("sk-\u{e9}t\u{e9}", "the API key in OPENAI_API_KEY holds \\u{e9}"),
        ("sk-abc\n", "cannot be reached"),
    ] {
        let out = lineage(&campaign.store())
            .args(["run", "--preset", "smoke", "--model", "m", "--llm"])
            .arg(format!("http://127.0.0.1:{port}/v1"))
            .env("OPENAI_API_KEY", key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.trim().lines().count() == 1, "{key:?}: {stderr}");
        assert!(stderr.contains(expected), "{key:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_campaign_killed_mid_request_asks_again_on_resume_and_only_then() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ChatServer::start(Vec::new()).with_responder(move |body| {
        if role(body) == "researcher" && proposing(body) == "e0002" { Step::Hang } else { good(body) }
    });
    let campaign = Campaign::new("");
    let mut child =
        campaign.run(&server, "killed").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let waiting = |server: &ChatServer| {
        server.requests().iter().any(|r| role(&r.body) == "researcher" && proposing(&r.body) == "e0002")
    };
    while !waiting(&server) {
        assert!(Instant::now() < deadline, "the second proposal was never asked for");
        assert!(child.try_wait().unwrap().is_none(), "the campaign ended before the second proposal");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = campaign.events("killed");
    let recorded = of_type(&before, "LlmExchanged").len();
    let sent = server.request_count();
    assert_eq!(sent, recorded + 1, "the request in flight is the one not recorded");
    // The server moved (a new port): the resume is told where it is now.
    server.stop();
    let moved = ChatServer::start(Vec::new()).with_responder(good);
    let resume = |url: &str| {
        lineage(&campaign.store())
            .args(["resume", "killed", "--json", "--llm", url])
            .env("LINEAGE_TEST_LLM_KEY", SECRET)
            .output()
            .unwrap()
    };
    let bad = resume("ftp://elsewhere");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--llm:"));
    let resumed = resume(&moved.base_url());
    assert!(resumed.status.success(), "resume: {}", String::from_utf8_lossy(&resumed.stderr));
    let after = campaign.events("killed");
    assert_eq!(of_type(&after, "CampaignFinished").len(), 1);
    // Every request after the kill is one the log did not answer: the e0002 proposal again,
    // then new work. None repeats a recorded exchange.
    let requests = moved.requests();
    let recorded_prompts: Vec<String> =
        of_type(&before, "LlmExchanged").iter().map(|e| prompt(&e["payload"])).collect();
    for request in &requests {
        assert!(!recorded_prompts.contains(&prompt(&request.body)), "a recorded exchange was sent again");
    }
    assert_eq!(role(&requests[0].body), "researcher");
    assert_eq!(proposing(&requests[0].body), "e0002");
    let exchanges = of_type(&after, "LlmExchanged");
    assert_eq!(exchanges.len(), recorded + requests.len());
    for e in &exchanges[recorded..] {
        assert_eq!(e["payload"]["endpoint"].as_str(), Some(moved.base_url().as_str()), "where it went");
    }
    let resumed_event = &of_type(&after, "CampaignResumed")[0]["payload"];
    assert!(resumed_event["redispatched"].to_string().contains("experiment 2: selected, not proposed"));
}

#[tokio::test]
async fn a_mixed_researcher_asks_the_model_for_the_drawn_share_and_records_each_draw() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = ChatServer::start(Vec::new()).with_responder(good);
    let campaign = Campaign::new("mixed_share = 0.5\n[llm.roles]\nresearcher = \"mixed\"\n");
    let events = campaign.run_to_end(&server, "mixed", &["--experiments", "6"]);
    let mut kinds = Vec::new();
    for selection in of_type(&events, "ParentSelected") {
        let draw = &selection["payload"]["proposer_draw"];
        let value = draw["draw"]["values"][0].as_u64().unwrap();
        assert_eq!(draw["share"], 0.5);
        assert_eq!(draw["llm"].as_bool().unwrap(), value < 500_000, "the recorded verdict follows the value");
        let experiment = &selection["payload"]["experiment"];
        let proposal = of_type(&events, "ArchitectureProposed")
            .into_iter()
            .find(|p| &p["payload"]["experiment"] == experiment)
            .unwrap();
        let kind = proposal["payload"]["proposer"]["kind"].as_str().unwrap();
        assert_eq!(kind == "llm", draw["llm"].as_bool().unwrap(), "experiment {experiment}: {kind}");
        kinds.push(kind.to_owned());
    }
    assert!(kinds.contains(&"llm".into()) && kinds.contains(&"built_in".into()), "both drawn: {kinds:?}");
}

#[tokio::test]
async fn the_model_repairs_a_failing_program_and_an_already_tried_patch_is_sent_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    // The researcher's first program reads the next token (non-causal); the debugger first
    // answers with that same program (refused: already tried), then a body too large to record,
    // then a repair.
    let looks_ahead = baseline("linear_attention").replace("v = proj(x, d)", "v = proj(shift(x, -1), d)");
    assert_ne!(looks_ahead, baseline("linear_attention"));
    let proposal =
        json!({"motivation": "Let values see the next token.", "program": looks_ahead}).to_string();
    let same = json!({"diagnosis": "looks fine", "program": looks_ahead}).to_string();
    let huge = format!("{{\"choices\": [{{\"message\": {{\"content\": \"{}\"}}}}]}}", "x".repeat(2 << 20));
    let server = ChatServer::start(Vec::new()).with_responder(scripted(vec![
        ("researcher", Step::Reply(proposal)),
        ("debugger", Step::Reply(same)),
        ("debugger", Step::RawBody(200, huge)),
    ]));
    let campaign = Campaign::new("");
    let events = campaign.run_to_end(&server, "repaired", &["--experiments", "1"]);
    let ids = by_id(&events);
    let debugger: Vec<&Value> = of_type(&events, "LlmExchanged")
        .into_iter()
        .map(|e| &e["payload"])
        .filter(|p| p["role"] == "debugger")
        .collect();
    assert_eq!(debugger[0]["subject"], "e0001/repair-1");
    assert!(
        debugger[0]["rejected"].as_str().unwrap().contains("already tried"),
        "{}",
        debugger[0]["rejected"]
    );
    assert_eq!(debugger[1]["outcome"]["kind"], "malformed");
    assert!(debugger[1]["outcome"]["message"].as_str().unwrap().contains("larger than"));
    assert!(debugger[1]["reply"].as_str().unwrap().is_empty(), "the oversized body is not recorded");
    let repair = &of_type(&events, "RepairAttempted")[0]["payload"];
    assert_eq!((repair["rule"].as_str(), repair["outcome"].as_str()), (Some("llm"), Some("repaired")));
    let exchange = ids[repair["exchange"].as_str().unwrap()];
    assert_eq!(exchange["payload"]["subject"], "e0001/repair-1");
    assert_eq!(exchange["payload"]["attempt"], 2, "the second attempt, after the refused one");
    assert!(!repair["program"].as_str().unwrap().contains("shift(x, -1)"), "the model's repair is in force");
    let verify = campaign.lineage(&["verify", "repaired"]);
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && report.contains("ok   model programs"), "{report}");
}
