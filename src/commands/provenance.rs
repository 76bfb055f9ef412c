//! `lineage provenance`: the whole decision chain of one architecture back to the seed
//! baselines — for each ancestor the selection and pool it came from, the motivation and the
//! evidence it cites, the program and its diff against its parent, novelty, checks, repairs,
//! training, analyses, fitness, promotion and verification — as text, JSON, Graphviz DOT or
//! W3C PROV-JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, bail};
use lineage_arch::lang;
use lineage_events::payload::Payload;
use lineage_events::{ArchId, CampaignId, DecodedPayload, EventId, EventStore, RecordedEvent, Upcasters};
use lineage_replay::CampaignState;
use serde_json::{Value, json};

use crate::cli::ProvenanceFormat;

/// Every event of the log, decoded, with its stored body as JSON.
struct Log {
    events: Vec<(RecordedEvent, Value)>,
    by_id: BTreeMap<EventId, usize>,
}

async fn read_log(store: &dyn EventStore, campaign: &CampaignId) -> anyhow::Result<Log> {
    let mut stored = Vec::new();
    lineage_events::read_verified(store, campaign, |event| stored.push(event)).await?;
    let upcasters = Upcasters::standard();
    let events = stored
        .into_iter()
        .map(|s| Ok((s.decode(&upcasters)?, serde_json::from_str(&s.body)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let by_id = events.iter().enumerate().map(|(i, (e, _))| (e.id, i)).collect();
    Ok(Log { events, by_id })
}

fn payload(event: &RecordedEvent) -> Option<&Payload> {
    match &event.payload {
        DecodedPayload::Known(p) => Some(p),
        DecodedPayload::Unknown(_) => None,
    }
}

/// The architecture named by id or unique id prefix.
fn resolve<'a>(state: &'a CampaignState, name: &str) -> anyhow::Result<&'a ArchId> {
    if let Some(id) = state.order.iter().find(|a| a.as_str() == name) {
        return Ok(id);
    }
    let matches: Vec<&ArchId> = state.order.iter().filter(|a| a.as_str().starts_with(name)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("no architecture {name:?} in this campaign"),
        many => {
            bail!("{name:?} is ambiguous: {}", many.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "))
        }
    }
}

/// The architecture and its ancestors, baseline first.
fn lineage(state: &CampaignState, arch: &ArchId) -> Vec<ArchId> {
    let mut chain = vec![arch.clone()];
    while let Some(parent) = state.archs[chain.last().expect("non-empty")].proposal.parent.clone() {
        chain.push(parent);
    }
    chain.reverse();
    chain
}

/// Indices of the events about `arch`: those it correlates with, its experiment's selection,
/// and the evidence its proposal cites.
fn events_about(log: &Log, state: &CampaignState, arch: &ArchId) -> Vec<usize> {
    let record = &state.archs[arch];
    let mut picked: BTreeSet<usize> = BTreeSet::new();
    for (i, (event, _)) in log.events.iter().enumerate() {
        if event.correlation.as_ref() == Some(arch) {
            picked.insert(i);
        }
        if let Some(Payload::ParentSelected(p)) = payload(event)
            && p.experiment == record.proposal.experiment
            && record.proposal.parent.is_some()
        {
            picked.insert(i);
        }
    }
    picked.extend(record.proposal.evidence.iter().filter_map(|id| log.by_id.get(id).copied()));
    picked.into_iter().collect()
}

pub async fn run(
    store: Arc<dyn EventStore>,
    campaign: &str,
    arch: &str,
    format: ProvenanceFormat,
) -> anyhow::Result<()> {
    let campaign = CampaignId::new(campaign)?;
    let log = read_log(store.as_ref(), &campaign).await?;
    let state = CampaignState::from_events(log.events.iter().map(|(e, _)| e))
        .with_context(|| format!("campaign {campaign}'s log is inconsistent (see `lineage verify`)"))?;
    let arch = resolve(&state, arch)?.clone();
    let chain = lineage(&state, &arch);
    let text = match format {
        ProvenanceFormat::Text => text(&log, &state, &chain),
        ProvenanceFormat::Json => serde_json::to_string_pretty(&as_json(&log, &state, &campaign, &chain))?,
        ProvenanceFormat::Dot => dot(&state, &chain),
        ProvenanceFormat::Prov => serde_json::to_string_pretty(&prov(&log, &state, &campaign, &chain))?,
    };
    crate::output::print(&text)
}

fn as_json(log: &Log, state: &CampaignState, campaign: &CampaignId, chain: &[ArchId]) -> Value {
    let steps: Vec<Value> = chain
        .iter()
        .map(|arch| {
            let record = &state.archs[arch];
            let diff = record.proposal.parent.as_ref().and_then(|p| program_diff(state, p, arch));
            json!({
                "arch": arch,
                "parent": record.proposal.parent,
                "phase": state.phase(arch),
                "program": record.program(),
                "diff_against_parent": diff,
                "events": events_about(log, state, arch).into_iter().map(|i| log.events[i].1.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "campaign": campaign, "arch": chain.last(), "lineage": steps })
}

fn program_diff(state: &CampaignState, parent: &ArchId, arch: &ArchId) -> Option<String> {
    let a = lang::parse(state.archs[parent].program()).ok()?;
    let b = lang::parse(&state.archs[arch].proposal.program).ok()?;
    Some(lang::diff(&a, &b).render(parent.as_str(), arch.as_str()))
}

fn text(log: &Log, state: &CampaignState, chain: &[ArchId]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "provenance of {}: {}",
        chain.last().expect("non-empty"),
        chain.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" → ")
    ));
    for arch in chain {
        let record = &state.archs[arch];
        line(String::new());
        line(format!("== {arch} ({:?}, experiment {})", state.phase(arch), record.proposal.experiment));
        if let Some(parent) = &record.proposal.parent {
            line(format!("motivation: {}", record.proposal.motivation));
            if let Some(diff) = program_diff(state, parent, arch) {
                line(format!("program, against {parent}:"));
                for l in diff.lines() {
                    line(format!("    {l}"));
                }
            }
        } else {
            line(format!("seed baseline: {}", record.proposal.motivation));
        }
        for i in events_about(log, state, arch) {
            let (event, _) = &log.events[i];
            if let Some(Payload::TrainingProgress(_)) = payload(event) {
                continue; // the curve is in the JSON form; the result line follows
            }
            let summary = payload(event).map_or_else(|| "(unknown event type)".into(), Payload::summary);
            let kind = payload(event).map_or("?", Payload::type_name);
            line(format!("  {:>6} {:<24} {} [{}]", event.seq.0, kind, summary, event.id));
            if let Some(Payload::RepairAttempted(r)) = payload(event) {
                line(format!("         diagnosis: {}", r.diagnosis));
            }
            if let Some(Payload::FitnessAssigned(f)) = payload(event) {
                line(format!(
                    "         components: loss {:.4}, benchmark {:.4}, judge {:.4}; judge: {}",
                    f.components.loss_term,
                    f.components.benchmark_term,
                    f.components.judge_term,
                    f.judge.rationale
                ));
            }
        }
    }
    out.trim_end().to_owned()
}

fn dot(state: &CampaignState, chain: &[ArchId]) -> String {
    let mut out =
        String::from("digraph provenance {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    let mut nodes: BTreeSet<&ArchId> = chain.iter().collect();
    let mut edges = Vec::new();
    for arch in chain {
        let p = &state.archs[arch].proposal;
        if let Some(parent) = &p.parent {
            edges.push(format!("  \"{parent}\" -> \"{arch}\" [label=\"parent\"];"));
        }
        for r in &p.references {
            nodes.insert(r);
            edges.push(format!("  \"{r}\" -> \"{arch}\" [style=dashed, label=\"reference\"];"));
        }
    }
    for arch in nodes {
        let fitness =
            state.archs[arch].fitness.as_ref().map_or("-".to_owned(), |(f, _)| format!("{:.3}", f.total));
        let style = if state.archs[arch].is_baseline() { ", style=rounded" } else { "" };
        out.push_str(&format!("  \"{arch}\" [label=\"{arch}\\nfitness {fitness}\"{style}];\n"));
    }
    for e in edges {
        out.push_str(&e);
        out.push('\n');
    }
    out.push('}');
    out
}

/// W3C PROV-JSON: programs and results are entities; proposal, check, training and analysis
/// are activities; the actors are agents.
fn prov(log: &Log, state: &CampaignState, campaign: &CampaignId, chain: &[ArchId]) -> Value {
    let (mut entity, mut activity, mut agent) = (json!({}), json!({}), json!({}));
    let (mut generated, mut used, mut associated, mut derived) = (json!({}), json!({}), json!({}), json!({}));
    let mut n = 0;
    let mut relation = |map: &mut Value, body: Value| {
        n += 1;
        map[format!("_:r{n}")] = body;
    };
    for arch in chain {
        let program = format!("lineage:program/{arch}");
        entity[&program] = json!({ "prov:type": "program", "prov:value": state.archs[arch].program() });
        if let Some(parent) = &state.archs[arch].proposal.parent {
            relation(
                &mut derived,
                json!({ "prov:generatedEntity": program, "prov:usedEntity": format!("lineage:program/{parent}") }),
            );
        }
        for i in events_about(log, state, arch) {
            let (event, _) = &log.events[i];
            let Some(p) = payload(event) else { continue };
            let kind = match p {
                Payload::ArchitectureProposed(_) => "proposal",
                Payload::ImplementationChecked(_) | Payload::RepairAttempted(_) => "check",
                Payload::TrainingFinished(_) => "training",
                Payload::AnalysisRecorded(_) | Payload::FitnessAssigned(_) => "analysis",
                _ => continue,
            };
            let id = format!("lineage:event/{}", event.id);
            activity[&id] = json!({
                "prov:type": kind,
                "prov:label": p.summary(),
                "prov:startTime": event.recorded_at.to_rfc3339(),
                "lineage:seq": event.seq.0,
            });
            let who = format!("lineage:agent/{}", event.actor.name);
            agent[&who] = json!({ "prov:type": event.actor.kind, "lineage:version": event.actor.version });
            relation(&mut associated, json!({ "prov:activity": id, "prov:agent": who }));
            match p {
                Payload::ArchitectureProposed(_) => {
                    relation(&mut generated, json!({ "prov:entity": program, "prov:activity": id }))
                }
                Payload::TrainingFinished(f) => {
                    let result = format!("lineage:result/{}", f.run);
                    entity[&result] = json!({
                        "prov:type": "result",
                        "lineage:benchmark": f.metrics.benchmark_mean,
                        "lineage:loss": f.metrics.loss_val_final,
                        "lineage:seed": f.seed,
                    });
                    relation(&mut generated, json!({ "prov:entity": result, "prov:activity": id }));
                    relation(&mut used, json!({ "prov:activity": id, "prov:entity": program }));
                }
                _ => relation(&mut used, json!({ "prov:activity": id, "prov:entity": program })),
            }
        }
    }
    json!({
        "prefix": { "lineage": format!("urn:lineage:{campaign}:"), "prov": "http://www.w3.org/ns/prov#" },
        "entity": entity,
        "activity": activity,
        "agent": agent,
        "wasGeneratedBy": generated,
        "used": used,
        "wasAssociatedWith": associated,
        "wasDerivedFrom": derived,
    })
}
