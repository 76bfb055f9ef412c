//! `lineage verify`: is the record intact and does it say what it claims? The hash chain, every
//! event's schema, every reference (causes, cited evidence, parents, runs) pointing at an
//! earlier event, and the replayed state hash equal to the one recorded at the end. With
//! `--reproduce ARCH`, the named architectures are trained again from the program, seed and
//! config in the log and their metrics compared.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::bail;
use lineage_actors::trainer::{metrics, train_config};
use lineage_arch::lang::{self, Dims};
use lineage_arch::tasks::{self, Task};
use lineage_events::payload::{Payload, TrainingMetrics};
use lineage_events::{ArchId, CampaignId, DecodedPayload, EventStore, RecordedEvent, RunId, Upcasters};
use lineage_replay::CampaignState;

/// Relative tolerance for metrics reproduced on a different backend or thread count.
const TOLERANCE: f64 = 1e-3;

struct Report {
    failures: usize,
}

impl Report {
    fn line(&mut self, ok: bool, what: &str, detail: impl std::fmt::Display) {
        // A closed stdout does not change the verdict, which is the exit status.
        let _ = crate::output::print(&format!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" }));
        self.failures += !ok as usize;
    }
}

/// The first reference in `event` to something not recorded before it.
fn dangling(
    event: &RecordedEvent,
    ids: &HashSet<lineage_events::EventId>,
    archs: &HashSet<ArchId>,
    runs: &HashSet<RunId>,
) -> Option<String> {
    if let Some(cause) = event.causation
        && !ids.contains(&cause)
    {
        return Some(format!("cause {cause}"));
    }
    let DecodedPayload::Known(payload) = &event.payload else { return None };
    let cited: Vec<_> = match payload {
        Payload::ArchitectureProposed(p) => p.evidence.clone(),
        Payload::AnalysisRecorded(p) => p.cites.clone(),
        Payload::InsightRecorded(p) => p.cites.clone(),
        _ => Vec::new(),
    };
    if let Some(missing) = cited.iter().find(|id| !ids.contains(id)) {
        return Some(format!("cited event {missing}"));
    }
    let mut arch_refs: Vec<&ArchId> = Vec::new();
    match payload {
        Payload::ArchitectureProposed(p) => arch_refs.extend(p.parent.iter().chain(&p.references)),
        Payload::ParentSelected(p) => arch_refs.extend(std::iter::once(&p.parent).chain(&p.references)),
        other => arch_refs.extend(other.arch()),
    }
    if let Some(missing) = arch_refs.into_iter().find(|a| !archs.contains(*a)) {
        return Some(format!("architecture {missing}"));
    }
    payload.run().filter(|r| !runs.contains(*r)).map(|r| format!("run {r}"))
}

pub async fn run(store: Arc<dyn EventStore>, campaign: &str, reproduce: &[String]) -> anyhow::Result<()> {
    let campaign = CampaignId::new(campaign)?;
    if store.head(&campaign).await?.is_none() {
        bail!("unknown campaign {campaign} (see `lineage campaigns`)");
    }
    let mut report = Report { failures: 0 };
    let mut stored = Vec::new();
    match lineage_events::read_verified(store.as_ref(), &campaign, |event| stored.push(event)).await {
        Ok(head) => report.line(true, "hash chain", format!("{} events, head {}", head.next.0, head.hash)),
        Err(error) => {
            report.line(false, "hash chain", error);
            bail!("campaign {campaign} failed verification: its log was altered");
        }
    }
    // Schema and references, event by event.
    let upcasters = Upcasters::standard();
    let mut events = Vec::with_capacity(stored.len());
    let (mut schema_errors, mut unknown) = (Vec::new(), 0);
    for event in &stored {
        match event.decode(&upcasters) {
            Ok(event) => {
                unknown += matches!(event.payload, DecodedPayload::Unknown(_)) as usize;
                events.push(event);
            }
            Err(error) => schema_errors.push(format!("event {}: {error}", event.seq)),
        }
    }
    report.line(
        schema_errors.is_empty(),
        "schema",
        schema_errors.first().cloned().unwrap_or_else(|| {
            format!("every event decodes ({unknown} of types this version does not know, kept and skipped)")
        }),
    );
    let (mut ids, mut archs, mut runs) = (HashSet::new(), HashSet::new(), HashSet::new());
    let mut broken = None;
    for event in &events {
        if broken.is_none()
            && let Some(what) = dangling(event, &ids, &archs, &runs)
        {
            broken = Some(format!(
                "event {} ({}) refers to {what}, which no earlier event records",
                event.seq, event.id
            ));
        }
        ids.insert(event.id);
        if let DecodedPayload::Known(p) = &event.payload {
            match p {
                Payload::ArchitectureProposed(p) => drop(archs.insert(p.arch.clone())),
                Payload::TrainingScheduled(p) => drop(runs.insert(p.run.clone())),
                _ => {}
            }
        }
    }
    let references_ok = broken.is_none();
    report.line(
        references_ok,
        "references",
        broken.unwrap_or_else(|| "every cause, citation, architecture and run exists earlier".into()),
    );
    if !(references_ok && schema_errors.is_empty()) {
        bail!("campaign {campaign} failed verification");
    }
    // Replay: the state hash recorded at the end must be what the log folds to, up to the
    // events it covers (analysts attached from elsewhere may write before and after it).
    // The references were checked above, so every event's subject exists.
    let state = CampaignState::from_events(&events)?;
    match &state.finished {
        Some(finished) => {
            let finished_at =
                events.iter().rposition(|e| matches!(e.payload.known(), Some(Payload::CampaignFinished(_))));
            let covered = finished.state_events.map_or(finished_at.unwrap_or(events.len()), |n| n as usize);
            let replayed = CampaignState::from_events(&events[..covered.min(events.len())])?.state_hash();
            report.line(
                replayed == finished.state_hash,
                "replay",
                format!("state hash {replayed} (recorded {})", finished.state_hash),
            );
        }
        None => report.line(
            true,
            "replay",
            format!("state hash {} (campaign not finished: nothing recorded to compare)", state.state_hash()),
        ),
    }
    for arch in reproduce {
        reproduce_one(&state, arch, &mut report)?;
    }
    if report.failures > 0 {
        bail!("campaign {campaign} failed verification ({} check(s))", report.failures);
    }
    crate::output::print(&format!("campaign {campaign} verified"))
}

fn reproduce_one(state: &CampaignState, arch: &str, report: &mut Report) -> anyhow::Result<()> {
    let matches: Vec<&ArchId> = state.order.iter().filter(|a| a.as_str().starts_with(arch)).collect();
    let id = match matches.as_slice() {
        [one] => *one,
        [] => bail!("no architecture {arch:?} in this campaign"),
        many if many.iter().any(|a| a.as_str() == arch) => {
            many.iter().find(|a| a.as_str() == arch).copied().unwrap_or(many[0])
        }
        many => {
            bail!("{arch:?} is ambiguous: {}", many.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "))
        }
    };
    let Some((recorded, _)) =
        state.archs[id].exploration_run.as_ref().and_then(|r| state.runs[r].finished.as_ref())
    else {
        bail!("{id} has no finished exploration run to reproduce");
    };
    let stage = &state.config().exploration;
    let program = lang::parse(state.archs[id].program())
        .map_err(|_| anyhow::anyhow!("{id}: the recorded program does not parse"))?;
    let Some(graph) = lang::check(&program, Dims { d: stage.d_model, h: stage.heads }).graph else {
        bail!("{id}: the recorded program does not type-check");
    };
    let task_list: Vec<Box<dyn Task>> = stage
        .tasks
        .iter()
        .map(|t| tasks::build(&t.name, &t.settings))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {}", e.task, e.message))?;
    let device = lineage_arch::backend::device();
    let again = metrics(&lineage_arch::train::train(
        &graph,
        &task_list,
        &train_config(stage, recorded.seed),
        &device,
        |_| {},
    ));
    let same_setup = recorded.backend == lineage_arch::backend::name()
        && recorded.threads == lineage_arch::backend::threads();
    let compared = compare(&recorded.metrics, &again);
    let worst = compared.values().copied().fold(0.0, f64::max);
    let ok = if same_setup { worst == 0.0 } else { worst <= TOLERANCE };
    let detail = format!(
        "{} on {} with {} threads (recorded on {} with {}); {}",
        id,
        lineage_arch::backend::name(),
        lineage_arch::backend::threads(),
        recorded.backend,
        recorded.threads,
        compared.iter().map(|(k, v)| format!("{k} {v:.1e}")).collect::<Vec<_>>().join(", ")
    );
    let what =
        if same_setup { "reproduce (bit-identical expected)" } else { "reproduce (relative tolerance 1e-3)" };
    report.line(ok, what, detail);
    Ok(())
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
