//! `lineage export`: one row per architecture, flat, for analysis outside lineage: lineage,
//! verdicts, metrics, fitness, verification seed by seed, and the program itself.

use std::collections::BTreeSet;
use std::sync::Arc;

use lineage_audit::proposer_label;
use lineage_events::{ArchId, EventStore, RunId};
use lineage_replay::discovery::{real_text_task, verification_scores};
use lineage_replay::{CampaignState, fold_log};
use serde_json::{Map, Value, json};

use crate::cli::ExportFormat;

pub async fn run(store: Arc<dyn EventStore>, campaign: &str, format: ExportFormat) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let state = fold_log(store.as_ref(), &campaign, |_| true).await?;
    let text = match format {
        ExportFormat::Jsonl => jsonl_text(&rows(&state))?,
        ExportFormat::Csv => csv_text(&rows(&state))?,
    };
    crate::output::print(String::from_utf8(text)?.trim_end())
}

/// One row per architecture, in proposal order, its columns in a reading order (a JSON object
/// would sort them).
fn rows(state: &CampaignState) -> Vec<Vec<(String, Value)>> {
    let tasks: BTreeSet<String> =
        state.order.iter().filter_map(|a| state.metrics(a)).flat_map(|m| m.tasks.keys().cloned()).collect();
    state
        .order
        .iter()
        .map(|id| {
            let a = &state.archs[id];
            let m = state.metrics(id);
            let f = a.fitness.as_ref().map(|(f, _)| f);
            let mut row = Vec::new();
            let mut put = |k: &str, v: Value| row.push((k.to_owned(), v));
            put("arch", json!(id));
            put("experiment", json!(a.proposal.experiment));
            put("parent", json!(a.proposal.parent));
            put("proposer", json!(proposer_label(&a.proposal.proposer)));
            put(
                "edits",
                json!(a.proposal.edits.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>().join("; ")),
            );
            put("program_hash", json!(a.program_hash().to_hex()));
            put("phase", json!(state.phase(id)));
            put("novelty", json!(a.novelty.as_ref().map(|(n, _)| n.verdict)));
            put("checks", json!(a.checks.len()));
            put("repairs", json!(a.repairs.len()));
            put("abandoned", json!(a.abandoned));
            put("params", json!(m.map(|m| m.params)));
            put("fitness", json!(f.map(|f| f.total)));
            put("loss_term", json!(f.map(|f| f.components.loss_term)));
            put("benchmark_term", json!(f.map(|f| f.components.benchmark_term)));
            put("judge_term", json!(f.map(|f| f.components.judge_term)));
            put("judge_score", json!(f.map(|f| f.judge.score)));
            put("benchmark", json!(m.map(|m| m.benchmark_mean)));
            put("loss_val", json!(m.map(|m| m.loss_val_final)));
            for task in &tasks {
                let t = m.and_then(|m| m.tasks.get(task));
                put(&format!("{task}_accuracy"), json!(t.and_then(|t| t.accuracy)));
                put(&format!("{task}_loss"), json!(t.and_then(|t| t.loss)));
            }
            put("tokens_per_s", json!(m.map(|m| m.tokens_per_s)));
            put("train_wall_ms", json!(m.map(|m| m.wall_ms)));
            put("promoted", json!(a.promoted.is_some()));
            put("discovery", json!(a.verification.as_ref().map(|v| v.discovery)));
            put("gain_mean", json!(a.verification.as_ref().map(|v| v.gain_mean)));
            put("gain_std", json!(a.verification.as_ref().map(|v| v.gain_std)));
            for (key, values) in verification_by_seed(state, id) {
                put(key, values);
            }
            put("program", json!(a.program()));
            row
        })
        .collect()
}

/// The verification numbers behind a verdict, seed by seed, as parallel lists (empty before
/// verification): the seeds (as strings: JSON numbers lose u64 digits above 2^53), the
/// architecture's benchmark score on each, and — for a candidate with a verdict — the best
/// baseline's and their paired gain (`null` where the baseline has no result for the seed),
/// and on the stage's real-text task, where it has one, each held-out loss.
fn verification_by_seed(state: &CampaignState, arch: &ArchId) -> Vec<(&'static str, Value)> {
    let scores = verification_scores(state, arch);
    let baseline = state.archs[arch]
        .verification
        .as_ref()
        .map(|v| verification_scores(state, &v.best_baseline))
        .unwrap_or_default();
    let real_text = real_text_task(state);
    let loss_on = |run: &RunId| {
        let task = real_text.as_ref()?;
        let (finished, _) = state.runs.get(run)?.finished.as_ref()?;
        finished.metrics.tasks.get(task)?.loss
    };
    let verdict = state.archs[arch].verification.is_some();
    let column = |applies: bool, f: &dyn Fn(&u64, &(f64, RunId)) -> Value| -> Value {
        scores.iter().filter(|_| applies).map(|(s, r)| f(s, r)).collect()
    };
    vec![
        ("verification_seeds", column(true, &|seed, _| json!(seed.to_string()))),
        ("verification_benchmark", column(true, &|_, (score, _)| json!(score))),
        (
            "verification_baseline_benchmark",
            column(verdict, &|seed, _| json!(baseline.get(seed).map(|b| b.0))),
        ),
        (
            "verification_gain",
            column(verdict, &|seed, (score, _)| json!(baseline.get(seed).map(|b| score - b.0))),
        ),
        ("verification_real_text_loss", column(real_text.is_some(), &|_, (_, run)| json!(loss_on(run)))),
    ]
}

/// One JSON object per line.
fn jsonl_text(rows: &[Vec<(String, Value)>]) -> anyhow::Result<Vec<u8>> {
    let mut text = Vec::new();
    for row in rows {
        let object: Map<String, Value> = row.iter().cloned().collect();
        serde_json::to_writer(&mut text, &object)?;
        text.push(b'\n');
    }
    Ok(text)
}

/// A header line, then one line per row (nulls empty, strings unquoted unless CSV needs it, a
/// list as its items joined by `;`).
fn csv_text(rows: &[Vec<(String, Value)>]) -> anyhow::Result<Vec<u8>> {
    let mut text = Vec::new();
    let mut writer = csv::Writer::from_writer(&mut text);
    if let Some(first) = rows.first() {
        writer.write_record(first.iter().map(|(k, _)| k))?;
    }
    for row in rows {
        writer.write_record(row.iter().map(|(_, v)| match v {
            Value::Array(items) => items.iter().map(csv_cell).collect::<Vec<_>>().join(";"),
            other => csv_cell(other),
        }))?;
    }
    writer.flush()?;
    drop(writer);
    Ok(text)
}

fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
