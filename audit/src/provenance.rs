//! Provenance: the whole decision chain of one architecture back to the seed baselines — for
//! each ancestor the selection and pool it came from, the motivation and the evidence it cites,
//! the program and its diff against its parent, novelty, checks, repairs, training, analyses,
//! fitness, promotion and verification — as text, JSON, Graphviz DOT or W3C PROV-JSON.

use std::collections::BTreeSet;

use lineage_events::payload::Payload;
use lineage_events::{ArchId, CampaignId, EventStore, RecordedEvent, StoredEvent, Upcasters};
use lineage_replay::{CampaignState, UnknownSubject};
use serde_json::{Value, json};

use crate::AuditError;

/// Every event of a campaign's log, decoded, with its stored body as JSON.
#[derive(Clone, Debug)]
pub struct Log {
    /// The events, in log order.
    pub events: Vec<RecordedEvent>,
    /// Each event's stored body, parsed (what the JSON form shows).
    pub bodies: Vec<Value>,
}

impl Log {
    /// Reads the whole log, checked against its hash chain, and decodes it.
    pub async fn read(store: &dyn EventStore, campaign: &CampaignId) -> Result<Self, AuditError> {
        let mut stored = Vec::new();
        lineage_events::read_verified(store, campaign, |event| stored.push(event)).await?;
        Self::decode(&stored)
    }

    /// Decodes stored events (already checked against the chain).
    pub fn decode(stored: &[StoredEvent]) -> Result<Self, AuditError> {
        let upcasters = Upcasters::standard();
        let (mut events, mut bodies) = (Vec::with_capacity(stored.len()), Vec::with_capacity(stored.len()));
        for s in stored {
            events.push(s.decode(&upcasters)?);
            bodies.push(serde_json::from_str(&s.body)?);
        }
        Ok(Self { events, bodies })
    }

    /// The state the log folds to; an error names an event about something no earlier event
    /// records (a log rewritten with its chain recomputed).
    pub fn state(&self) -> Result<CampaignState, UnknownSubject> {
        CampaignState::from_events(&self.events)
    }
}

/// The provenance of one architecture, ready to render.
pub struct Provenance<'a> {
    campaign: &'a CampaignId,
    log: &'a Log,
    state: &'a CampaignState,
    /// The architecture and its ancestors, seed baseline first.
    chain: Vec<ArchId>,
    /// Per step of the chain: its program's diff against its parent's (none for a baseline, or
    /// where one does not parse).
    diffs: Vec<Option<String>>,
    /// Per step of the chain: positions in the log of the events about it.
    about: Vec<Vec<usize>>,
}

/// How a program changed: `diff(parent_program, program, parent, arch)`, rendered as text
/// with the two names in its header, or `None` where a program does not parse. The program
/// language belongs to the models' crate, which audit does not depend on: the caller supplies
/// it.
pub type ProgramDiff<'d> = &'d dyn Fn(&str, &str, &ArchId, &ArchId) -> Option<String>;

impl<'a> Provenance<'a> {
    /// The provenance of `arch` (recorded in `state`, the fold of `log`).
    pub fn new(
        campaign: &'a CampaignId,
        log: &'a Log,
        state: &'a CampaignState,
        arch: &ArchId,
        diff: ProgramDiff<'_>,
    ) -> Self {
        let chain = state.ancestors(arch);
        let diffs = chain
            .iter()
            .map(|arch| {
                let parent = state.archs[arch].proposal.parent.as_ref()?;
                diff(state.archs[parent].program(), &state.archs[arch].proposal.program, parent, arch)
            })
            .collect();
        let about = chain.iter().map(|arch| state.events_about(&log.events, arch)).collect();
        Self { campaign, log, state, chain, diffs, about }
    }

    /// The architecture and its ancestors, seed baseline first.
    pub fn chain(&self) -> &[ArchId] {
        &self.chain
    }

    /// The program diff of `arch` against its parent's, if `arch` is on the chain and both
    /// programs parse.
    pub fn diff_of(&self, arch: &ArchId) -> Option<&str> {
        let step = self.chain.iter().position(|a| a == arch)?;
        self.diffs[step].as_deref()
    }

    /// The steps of the chain with their diffs and the events about them.
    fn steps(&self) -> impl Iterator<Item = (&ArchId, Option<&str>, impl Iterator<Item = &RecordedEvent>)> {
        self.chain
            .iter()
            .zip(&self.diffs)
            .zip(&self.about)
            .map(|((arch, diff), about)| (arch, diff.as_deref(), about.iter().map(|&i| &self.log.events[i])))
    }

    /// JSON: per step the architecture, parent, phase, program, diff and every event about it,
    /// as stored.
    pub fn json(&self) -> Value {
        let steps: Vec<Value> = self
            .chain
            .iter()
            .zip(&self.diffs)
            .zip(&self.about)
            .map(|((arch, diff), about)| {
                let record = &self.state.archs[arch];
                json!({
                    "arch": arch,
                    "parent": record.proposal.parent,
                    "phase": self.state.phase(arch),
                    "program": record.program(),
                    "diff_against_parent": diff,
                    "events": about.iter().map(|&i| self.log.bodies[i].clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "campaign": self.campaign, "arch": self.chain.last(), "lineage": steps })
    }

    /// Text: the chain on one line, then per step its motivation, diff and events, one line
    /// each (training progress left out: the JSON form has the curve).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "provenance of {}: {}",
            self.chain.last().expect("non-empty"),
            self.chain.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" → ")
        ));
        for (arch, diff, events) in self.steps() {
            self.step_header(arch, diff, &mut line);
            for event in events {
                event_lines(event, &mut line);
            }
        }
        out.trim_end().to_owned()
    }

    fn step_header(&self, arch: &ArchId, diff: Option<&str>, line: &mut impl FnMut(String)) {
        let record = &self.state.archs[arch];
        line(String::new());
        line(format!("== {arch} ({:?}, experiment {})", self.state.phase(arch), record.proposal.experiment));
        let Some(parent) = &record.proposal.parent else {
            return line(format!("seed baseline: {}", record.proposal.motivation));
        };
        line(format!("motivation: {}", record.proposal.motivation));
        if let Some(diff) = diff {
            line(format!("program, against {parent}:"));
            for l in diff.lines() {
                line(format!("    {l}"));
            }
        }
    }

    /// Graphviz DOT: the chain and the architectures it drew on as references, with fitness.
    pub fn dot(&self) -> String {
        let state = self.state;
        let mut out = String::from(
            "digraph provenance {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        );
        let mut nodes: BTreeSet<&ArchId> = self.chain.iter().collect();
        let mut edges = Vec::new();
        for arch in &self.chain {
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
    pub fn prov(&self) -> Value {
        let mut prov = Prov::default();
        for (arch, _, events) in self.steps() {
            let program = format!("lineage:program/{arch}");
            prov.entity[&program] =
                json!({ "prov:type": "program", "prov:value": self.state.archs[arch].program() });
            if let Some(parent) = &self.state.archs[arch].proposal.parent {
                let derived = json!({
                    "prov:generatedEntity": program,
                    "prov:usedEntity": format!("lineage:program/{parent}"),
                });
                prov.relation(Relation::Derived, derived);
            }
            for event in events {
                prov.activity(event, &program);
            }
        }
        prov.into_json(self.campaign)
    }
}

/// The lines of one event in the text form.
fn event_lines(event: &RecordedEvent, line: &mut impl FnMut(String)) {
    let payload = event.payload.known();
    if let Some(Payload::TrainingProgress(_)) = payload {
        return; // the curve is in the JSON form; the result line follows
    }
    let summary = payload.map_or_else(|| "(unknown event type)".into(), Payload::summary);
    let kind = payload.map_or("?", Payload::type_name);
    line(format!("  {:>6} {:<24} {} [{}]", event.seq.0, kind, summary, event.id));
    if let Some(Payload::LlmExchanged(x)) = payload
        && !x.reply.is_empty()
    {
        let reply: String = x.reply.chars().take(200).collect::<String>().replace('\n', " ");
        line(format!("         reply: {reply}{}", if x.reply.chars().count() > 200 { "…" } else { "" }));
    }
    if let Some(Payload::RepairAttempted(r)) = payload {
        line(format!("         diagnosis: {}", r.diagnosis));
    }
    if let Some(Payload::FitnessAssigned(f)) = payload {
        line(format!(
            "         components: loss {:.4}, benchmark {:.4}, judge {:.4}; judge: {}",
            f.components.loss_term, f.components.benchmark_term, f.components.judge_term, f.judge.rationale
        ));
    }
}

/// The PROV-JSON relations used.
#[derive(Clone, Copy)]
enum Relation {
    Generated,
    Used,
    Associated,
    Derived,
}

/// A PROV-JSON document being built.
#[derive(Default)]
struct Prov {
    entity: Value,
    activity: Value,
    agent: Value,
    /// `wasGeneratedBy`, `used`, `wasAssociatedWith`, `wasDerivedFrom`.
    relations: [Value; 4],
    /// Relations so far (their ids, `_:rN`, count across all four).
    count: usize,
}

impl Prov {
    fn relation(&mut self, relation: Relation, body: Value) {
        self.count += 1;
        let map = &mut self.relations[relation as usize];
        if map.is_null() {
            *map = json!({});
        }
        map[format!("_:r{}", self.count)] = body;
    }

    /// The activity an event records, if it is one PROV shows, with its agent and relations to
    /// `program`.
    fn activity(&mut self, event: &RecordedEvent, program: &str) {
        let Some(p) = event.payload.known() else { return };
        let kind = match p {
            Payload::ArchitectureProposed(_) => "proposal",
            Payload::ImplementationChecked(_) | Payload::RepairAttempted(_) => "check",
            Payload::TrainingFinished(_) => "training",
            Payload::AnalysisRecorded(_) | Payload::FitnessAssigned(_) => "analysis",
            _ => return,
        };
        let id = format!("lineage:event/{}", event.id);
        self.activity[&id] = json!({
            "prov:type": kind,
            "prov:label": p.summary(),
            "prov:startTime": event.recorded_at.to_rfc3339(),
            "lineage:seq": event.seq.0,
        });
        let who = format!("lineage:agent/{}", event.actor.name);
        self.agent[&who] = json!({ "prov:type": event.actor.kind, "lineage:version": event.actor.version });
        self.relation(Relation::Associated, json!({ "prov:activity": id, "prov:agent": who }));
        match p {
            Payload::ArchitectureProposed(_) => {
                self.relation(Relation::Generated, json!({ "prov:entity": program, "prov:activity": id }))
            }
            Payload::TrainingFinished(f) => {
                let result = format!("lineage:result/{}", f.run);
                self.entity[&result] = json!({
                    "prov:type": "result",
                    "lineage:benchmark": f.metrics.benchmark_mean,
                    "lineage:loss": f.metrics.loss_val_final,
                    "lineage:seed": f.seed,
                });
                self.relation(Relation::Generated, json!({ "prov:entity": result, "prov:activity": id }));
                self.relation(Relation::Used, json!({ "prov:activity": id, "prov:entity": program }));
            }
            _ => self.relation(Relation::Used, json!({ "prov:activity": id, "prov:entity": program })),
        }
    }

    fn into_json(self, campaign: &CampaignId) -> Value {
        let object = |v: Value| if v.is_null() { json!({}) } else { v };
        let [generated, used, associated, derived] = self.relations.map(object);
        json!({
            "prefix": { "lineage": format!("urn:lineage:{campaign}:"), "prov": "http://www.w3.org/ns/prov#" },
            "entity": object(self.entity),
            "activity": object(self.activity),
            "agent": object(self.agent),
            "wasGeneratedBy": generated,
            "used": used,
            "wasAssociatedWith": associated,
            "wasDerivedFrom": derived,
        })
    }
}
