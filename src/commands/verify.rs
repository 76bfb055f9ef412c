//! `lineage verify`: is the record intact and does it say what it claims? The hash chain (and
//! with `--head`, that it still extends a head published earlier), every event's schema, every
//! reference (causes, cited evidence, parents, runs) pointing at an earlier event, every derived
//! number agreeing with what it derives from, nothing past `CampaignFinished`, every signed
//! checkpoint (with `--public-key`, by that key), and the replayed state hash equal to the one
//! recorded at the end. With `--reproduce ARCH`, the named architectures are trained again from
//! the program, seed and config in the log and their metrics compared. The log's checks are
//! `lineage_audit::verify_against`; reproduction trains, so it stays here, beside the models.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use lineage_actors::llm::replies;
use lineage_actors::training::{TrainingError, reproduce};
use lineage_arch::backend::Numerics;
use lineage_arch::lang::{self, Program};
use lineage_audit::{AnchoredHead, Expected};
use lineage_events::payload::{Proposer, TrainingFinished, TrainingMetrics};
use lineage_events::{CampaignId, EventId, EventStore, PublicKey};
use lineage_replay::CampaignState;

/// Relative tolerance for metrics reproduced on a different backend or thread count.
pub(super) const TOLERANCE: f64 = 1e-3;

/// The checks as they are made: printed one per line, or kept for one JSON object at the end.
struct Report {
    json: bool,
    checks: Vec<CheckLine>,
    failures: usize,
}

/// One check of `verify --json`.
#[derive(serde::Serialize)]
struct CheckLine {
    check: String,
    ok: bool,
    detail: String,
}

impl Report {
    fn line(&mut self, ok: bool, what: &str, detail: impl std::fmt::Display) {
        self.failures += !ok as usize;
        if self.json {
            self.checks.push(CheckLine { check: what.to_owned(), ok, detail: detail.to_string() });
        } else {
            // A closed stdout does not change the verdict, which is the exit status.
            let line = format!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" });
            let _ = crate::output::print(&crate::output::shown(&line, false));
        }
    }
}

/// Every program a model wrote is the one its cited reply holds: the reply's program, parsed,
/// under the name and doc comment the campaign gave it, printed canonically, is the recorded
/// program. (The rest of what a model decided is re-read from its reply by
/// `lineage_audit`'s consistency check, which knows no language.) Shown only when a model wrote
/// one.
fn model_programs(state: &CampaignState, report: &mut Report) {
    let mut checked = 0;
    let mut first_failure = None;
    let mut check =
        |what: String, exchange: &EventId, recorded: &str, read: fn(&str) -> Result<Program, String>| {
            checked += 1;
            // A reply missing from the log reads as no program: it fails.
            let reply = state.llm.replies.get(exchange).map_or("", |r| r.reply.as_str());
            let same = match (lang::parse(recorded), read(reply)) {
                (Ok(recorded), Ok(mut written)) => {
                    written.name = recorded.name.clone();
                    written.doc = recorded.doc.clone();
                    lang::print(&written) == lang::print(&recorded)
                }
                _ => false,
            };
            if !same {
                first_failure
                    .get_or_insert(format!("{what} is not the program of the reply it cites ({exchange})"));
            }
        };
    for id in &state.order {
        let record = &state.archs[id];
        if let Proposer::Llm { exchange, .. } = &record.proposal.proposer {
            check(format!("the program proposed as {id}"), exchange, &record.proposal.program, |r| {
                replies::recorded_proposal(r).map(|(_, p)| p)
            });
        }
        for (repair, _) in &record.repairs {
            if let Some(exchange) = &repair.exchange {
                let what = format!("the program of repair {} of {id}", repair.attempt);
                check(what, exchange, &repair.program, |r| replies::recorded_patch(r).map(|(_, p)| p));
            }
        }
    }
    if checked > 0 {
        let ok = first_failure.is_none();
        let detail = first_failure
            .unwrap_or_else(|| format!("{checked} programs are the ones in the replies they cite"));
        report.line(ok, "model programs", detail);
    }
}

/// What `--head` and `--public-key` ask the log to match, parsed (one line for a bad one).
pub fn expected(head: Option<&str>, public_key: Option<&str>) -> anyhow::Result<Expected> {
    let head =
        head.map(str::parse::<AnchoredHead>).transpose().map_err(|e| anyhow::anyhow!("--head: {e}"))?;
    let public_key = public_key
        .map(str::parse::<PublicKey>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    Ok(Expected { head, public_key })
}

pub async fn run(
    store: Arc<dyn EventStore>,
    campaign: &str,
    reproduce: &[String],
    expected: &Expected,
    json: bool,
) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let mut report = Report { json, checks: Vec::new(), failures: 0 };
    let verdict = verify(store.as_ref(), &campaign, reproduce, expected, &mut report).await;
    if json {
        let out = serde_json::json!({
            "campaign": campaign.as_str(),
            "verified": verdict.is_ok(),
            "checks": report.checks,
        });
        // Printed on failure too: the checks say which failed; the exit status says that one did.
        crate::output::print(&serde_json::to_string_pretty(&out)?)?;
        return verdict;
    }
    verdict?;
    crate::output::print(&format!("campaign {campaign} verified"))
}

async fn verify(
    store: &dyn EventStore,
    campaign: &CampaignId,
    reproduce: &[String],
    expected: &Expected,
    report: &mut Report,
) -> anyhow::Result<()> {
    let verification = lineage_audit::verify_against(store, campaign, expected).await;
    for check in &verification.checks {
        report.line(check.ok, check.name, &check.detail);
    }
    if !verification.chain_intact() {
        bail!("campaign {campaign} failed verification: its log was altered");
    }
    if verification.check("head").is_some_and(|c| !c.ok) {
        let head = expected.head.expect("a head check runs only when a head is expected");
        bail!("campaign {campaign} failed verification: its log no longer extends the head {head}");
    }
    // Without a state, the schema or reference check failed: nothing to replay or reproduce.
    let Some(state) = &verification.state else {
        bail!("campaign {campaign} failed verification");
    };
    model_programs(state, report);
    for arch in reproduce {
        reproduce_one(state, arch, report)?;
    }
    if report.failures > 0 {
        bail!("campaign {campaign} failed verification ({} check(s))", report.failures);
    }
    Ok(())
}

fn reproduce_one(state: &CampaignState, arch: &str, report: &mut Report) -> anyhow::Result<()> {
    let id = state.resolve_arch(arch)?;
    let Some((recorded, _)) =
        state.archs[id].exploration_run.as_ref().and_then(|r| state.runs[r].finished.as_ref())
    else {
        bail!("{id} has no finished exploration run to reproduce");
    };
    let stage = &state.config().exploration;
    let device = lineage_arch::backend::device();
    let threads = recorded_threads(recorded);
    let program = state.archs[id].program();
    let again = reproduce(program, stage, recorded.seed, threads, recorded_numerics(recorded), &device)
        .map_err(|e| match e {
            TrainingError::Parse => anyhow::anyhow!("{id}: the recorded program does not parse"),
            TrainingError::TypeCheck { .. } => {
                anyhow::anyhow!("{id}: the recorded program does not type-check")
            }
            TrainingError::Task { task, message } => anyhow::anyhow!("{task}: {message}"),
            other => anyhow::anyhow!("{id}: {other}"),
        })?;
    let agreement = Agreement::of(recorded, &again, threads);
    let ok = agreement.holds();
    let Agreement { same_setup, compared, .. } = agreement;
    let detail = format!(
        "{} on {} with {} threads (recorded on {} with {}); {}",
        id,
        retrained_on(recorded),
        threads,
        recorded.backend,
        recorded.threads,
        compared.iter().map(|(k, v)| format!("{k} {v:.1e}")).collect::<Vec<_>>().join(", ")
    );
    let what =
        if same_setup { "reproduce (bit-identical expected)" } else { "reproduce (relative tolerance 1e-3)" };
    report.line(ok, what, detail);
    Ok(())
}

/// The arrangement of arithmetic to train a recorded run again with: the one it names, or, for a
/// revision this build does not know, the current one (then compared with the tolerance).
pub(super) fn recorded_numerics(recorded: &TrainingFinished) -> Numerics {
    Numerics::of_label(&recorded.backend).1.unwrap_or(Numerics::CURRENT)
}

/// The backend label a recorded run is trained again under: this build's backend with the
/// run's numerics.
pub(super) fn retrained_on(recorded: &TrainingFinished) -> String {
    recorded_numerics(recorded).label(lineage_arch::backend::name())
}

/// The compute threads to train a recorded run again on: as many as it was recorded with (the
/// same count, the same sums). A count no machine has is a damaged record: capped, and then
/// compared with the tolerance.
pub(super) fn recorded_threads(recorded: &TrainingFinished) -> u32 {
    recorded.threads.clamp(1, 1024)
}

/// How a run trained again compares with its record: bit for bit on the backend, numerics
/// revision and thread count it was recorded with, within [`TOLERANCE`] on another.
pub(super) struct Agreement {
    /// Trained again on the recorded backend and thread count.
    pub same_setup: bool,
    /// Relative difference per metric.
    pub compared: BTreeMap<String, f64>,
    /// The largest of them.
    pub worst: f64,
}

impl Agreement {
    pub(super) fn of(recorded: &TrainingFinished, again: &TrainingMetrics, threads: u32) -> Self {
        let (backend, numerics) = Numerics::of_label(&recorded.backend);
        let same_setup =
            backend == lineage_arch::backend::name() && numerics.is_some() && threads == recorded.threads;
        let compared = compare(&recorded.metrics, again);
        let worst = compared.values().copied().fold(0.0, f64::max);
        Self { same_setup, compared, worst }
    }

    /// Whether the retrained run is the recorded one, by that rule.
    pub(super) fn holds(&self) -> bool {
        if self.same_setup { self.worst == 0.0 } else { self.worst <= TOLERANCE }
    }
}

/// Relative difference per metric.
fn compare(a: &TrainingMetrics, b: &TrainingMetrics) -> BTreeMap<String, f64> {
    let rel = |x: f64, y: f64| if x == y { 0.0 } else { (x - y).abs() / x.abs().max(y.abs()).max(1e-12) };
    let mut out = BTreeMap::from([
        ("loss_train".to_owned(), rel(a.loss_train_final, b.loss_train_final)),
        ("loss_val".to_owned(), rel(a.loss_val_final, b.loss_val_final)),
        ("benchmark".to_owned(), rel(a.benchmark_mean, b.benchmark_mean)),
        ("params".to_owned(), rel(a.params as f64, b.params as f64)),
        ("steps".to_owned(), rel(a.steps as f64, b.steps as f64)),
    ]);
    for (task, m) in &a.tasks {
        let other = b.tasks.get(task);
        if let (Some(x), Some(y)) = (m.accuracy, other.and_then(|o| o.accuracy)) {
            out.insert(format!("{task}_accuracy"), rel(x, y));
        }
        if let (Some(x), Some(y)) = (m.loss, other.and_then(|o| o.loss)) {
            out.insert(format!("{task}_loss"), rel(x, y));
        }
    }
    out
}
