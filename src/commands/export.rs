//! `lineage export`: one row per architecture, flat, for analysis outside lineage.

use std::collections::BTreeSet;
use std::sync::Arc;

use lineage_audit::proposer_label;
use lineage_events::EventStore;
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
            row
        })
        .collect()
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

/// A header line, then one line per row (nulls empty, strings unquoted unless CSV needs it).
fn csv_text(rows: &[Vec<(String, Value)>]) -> anyhow::Result<Vec<u8>> {
    let mut text = Vec::new();
    let mut writer = csv::Writer::from_writer(&mut text);
    if let Some(first) = rows.first() {
        writer.write_record(first.iter().map(|(k, _)| k))?;
    }
    for row in rows {
        writer.write_record(row.iter().map(|(_, v)| match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    writer.flush()?;
    drop(writer);
    Ok(text)
}
