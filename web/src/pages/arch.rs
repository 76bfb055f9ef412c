//! An architecture: its program and diff against the parent, the motivation and the evidence it
//! cites, training curves and per-task results, the fitness with the judge's rationale, the
//! verification verdict per seed, the provenance graph, and every event about it as recorded
//! (checks with their diagnostics, repairs with their patches, analyses).

use std::fmt::Write;

use lineage_audit::Provenance;
use lineage_events::payload::Stage;
use lineage_events::{ArchId, EventId};
use lineage_replay::CampaignState;

use crate::charts::{self, ChainStep};
use crate::html::{self, Links, count, esc, num};
use crate::load::Loaded;

/// Event types shown open on the page: what a reader of this architecture looks for first.
const OPEN: &[&str] = &[
    "ImplementationChecked",
    "RepairAttempted",
    "AnalysisRecorded",
    "FitnessAssigned",
    "VerificationConcluded",
];

/// The page of `arch` (already resolved in `loaded.state`).
pub fn page(loaded: &Loaded, arch: &ArchId, provenance: &Provenance) -> String {
    let state = &loaded.state;
    let record = &state.archs[arch];
    let name = loaded.campaign.as_str();
    let links = Links(name);
    let seq_of = |id: &EventId| loaded.seq_of(id);
    let mut body = format!("<h1>{}</h1>", esc(arch.as_str()));
    let _ = write!(
        body,
        "<p class=\"status\">{:?} · experiment {} · proposed by {} · parent {} · <a href=\"/api/campaigns/{}/archs/{}\">JSON</a></p>",
        state.phase(arch),
        record.proposal.experiment,
        esc(&lineage_audit::proposer_label(&record.proposal.proposer)),
        record
            .proposal
            .parent
            .as_ref()
            .map_or("none (seed baseline)".to_owned(), |p| links.arch_a(p.as_str())),
        html::seg(name),
        html::seg(arch.as_str())
    );

    body.push_str("<section><h2>Motivation</h2>");
    let _ = write!(body, "<p class=\"motivation\">{}</p>", esc(&record.proposal.motivation));
    if !record.proposal.evidence.is_empty() {
        body.push_str("<p>Cites: ");
        for id in &record.proposal.evidence {
            match seq_of(id) {
                Some(seq) => {
                    let _ = write!(body, "{} ", links.event_a(seq));
                }
                None => {
                    let _ = write!(body, "<code>{}</code> ", esc(&id.to_string()));
                }
            }
        }
        body.push_str("</p>");
    }
    body.push_str("</section>");

    let _ = write!(body, "<section><h2>Program</h2>{}</section>", html::program(record.program()));
    if let Some(diff) = provenance.diff_of(arch) {
        let _ = write!(body, "<section><h2>Against its parent</h2>{}</section>", html::diff(diff));
    }

    body.push_str(&training(state, arch));
    body.push_str(&fitness(state, arch));
    body.push_str(&verification(state, arch, &links));

    let steps: Vec<ChainStep> = provenance
        .chain()
        .iter()
        .map(|a| {
            let r = &state.archs[a];
            ChainStep {
                arch: a.to_string(),
                href: links.arch(a.as_str()),
                note: format!(
                    "{:?}{}",
                    state.phase(a),
                    r.fitness.as_ref().map_or(String::new(), |(f, _)| format!(", fitness {:.3}", f.total))
                ),
                evidence: r
                    .proposal
                    .evidence
                    .iter()
                    .filter_map(|id| {
                        let seq = seq_of(id)?;
                        let kind = html::event_type(&loaded.log.events[seq as usize]);
                        let short = kind.trim_end_matches("Recorded");
                        Some((format!("{short} #{seq}"), links.event(seq)))
                    })
                    .collect(),
            }
        })
        .collect();
    let _ = write!(
        body,
        "<section><h2>Provenance</h2><p class=\"hint\">Seed baseline first; beside each step, the events its proposal cited. <a href=\"/api/campaigns/{}/archs/{}\">The whole chain as JSON</a>.</p>{}</section>",
        html::seg(name),
        html::seg(arch.as_str()),
        charts::provenance_graph(&steps)
    );

    body.push_str("<section><h2>Every event about it</h2>");
    for &i in &state.events_about(&loaded.log.events, arch) {
        let event = &loaded.log.events[i];
        let kind = html::event_type(event);
        // As stored (before upcasting), as the event page shows it.
        let payload = serde_json::to_string_pretty(&loaded.log.bodies[i]["payload"]).unwrap_or_default();
        let _ = write!(
            body,
            "<details class=\"event\"{}><summary>{} {} by {}/{}</summary><pre>{}</pre></details>",
            if OPEN.contains(&kind) { " open" } else { "" },
            links.event_a(event.seq.0),
            esc(kind),
            esc(&event.actor.kind),
            esc(&event.actor.name),
            esc(&payload)
        );
    }
    body.push_str("</section>");
    let trail = [(name.to_owned(), links.campaign()), (arch.to_string(), links.arch(arch.as_str()))];
    html::page(&format!("{arch} · {name}"), &trail, &body, None)
}

/// Loss curves of every run of the architecture, and the per-task held-out results.
fn training(state: &CampaignState, arch: &ArchId) -> String {
    let mut runs: Vec<_> = state.runs.values().filter(|r| &r.scheduled.arch == arch).collect();
    runs.sort_by(|a, b| a.scheduled.run.as_str().cmp(b.scheduled.run.as_str()));
    if runs.is_empty() {
        return "<section><h2>Training</h2><p>Not trained.</p></section>".to_owned();
    }
    // A run's steps go round its stage's tasks (step i trains task i mod n): each point of its
    // loss curve is marked with the task it trained.
    let mut tasks: Vec<String> = Vec::new();
    let mut curves: Vec<charts::Curve> = Vec::new();
    for r in &runs {
        let (Some((finished, _)), Some(started)) = (r.finished.as_ref(), &state.started) else { continue };
        let specs = match r.scheduled.stage {
            Stage::Exploration => &started.config.exploration.tasks,
            Stage::Verification => &started.config.verification.tasks,
        };
        let index: Vec<usize> = specs
            .iter()
            .map(|spec| {
                let name = match &spec.corpus {
                    Some(corpus) => format!("{}:{corpus}", spec.name),
                    None => spec.name.to_string(),
                };
                tasks.iter().position(|t| *t == name).unwrap_or_else(|| {
                    tasks.push(name);
                    tasks.len() - 1
                })
            })
            .collect();
        let points = finished
            .metrics
            .loss_curve
            .iter()
            .map(|p| (p.step, p.loss, index.get(p.step as usize % index.len().max(1)).copied().unwrap_or(0)))
            .collect();
        curves.push((
            format!("{} ({}, seed {})", r.scheduled.run, stage(r.scheduled.stage), r.scheduled.seed),
            points,
        ));
    }
    let mut out = format!("<section><h2>Training</h2>{}", charts::loss_curves(&curves, &tasks));
    out.push_str("<table><thead><tr><th>run</th><th>stage</th><th>seed</th><th>task</th><th>accuracy</th><th>held-out loss</th></tr></thead><tbody>");
    for r in &runs {
        let outcome = match (&r.finished, &r.failed) {
            (Some((f, _)), _) => f
                .metrics
                .tasks
                .iter()
                .map(|(task, m)| (task.clone(), num(m.accuracy), num(m.loss)))
                .collect::<Vec<_>>(),
            (None, Some(failed)) => vec![("failed".to_owned(), String::new(), esc(&format!("{failed:?}")))],
            (None, None) => vec![("not finished".to_owned(), String::new(), String::new())],
        };
        for (task, accuracy, loss) in outcome {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{accuracy}</td><td>{loss}</td></tr>",
                esc(r.scheduled.run.as_str()),
                stage(r.scheduled.stage),
                r.scheduled.seed,
                esc(&task)
            );
        }
    }
    out.push_str("</tbody></table></section>");
    out
}

fn stage(stage: Stage) -> &'static str {
    match stage {
        Stage::Exploration => "exploration",
        Stage::Verification => "verification",
    }
}

/// The fitness terms and the judge's score and rationale.
fn fitness(state: &CampaignState, arch: &ArchId) -> String {
    let Some((fitness, _)) = &state.archs[arch].fitness else { return String::new() };
    let components = serde_json::to_value(fitness.components).unwrap_or_default();
    let mut out = format!("<section><h2>Fitness {:.4}</h2><table><tbody>", fitness.total);
    if let Some(map) = components.as_object() {
        for (term, value) in map {
            let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(term), esc(&value.to_string()));
        }
    }
    let _ = write!(
        out,
        "<tr><th>reference baseline</th><td>{}</td></tr><tr><th>judge</th><td>{:.3} (performance {:.3}, innovation {:.3}, complexity {:.3})</td></tr></tbody></table><p class=\"rationale\">{}</p></section>",
        esc(fitness.reference.as_str()),
        fitness.judge.score,
        fitness.judge.performance,
        fitness.judge.innovation,
        fitness.judge.complexity,
        esc(&fitness.judge.rationale)
    );
    out
}

/// The verdict and each verification seed's result.
fn verification(state: &CampaignState, arch: &ArchId, links: &Links) -> String {
    let Some(verdict) = &state.archs[arch].verification else { return String::new() };
    let mut out = format!(
        "<section><h2>Verification: {}</h2><p>Mean gain over {} {:.4} (std {:.4})",
        if verdict.discovery { "<b class=\"yes\">a discovery</b>" } else { "not a discovery" },
        links.arch_a(verdict.best_baseline.as_str()),
        verdict.gain_mean,
        verdict.gain_std
    );
    if let Some(t) = &verdict.test {
        let _ = write!(
            out,
            "; paired t-test p {:.4}, Holm-adjusted {:.4} over {} candidate(s) at α {}{}",
            t.p_value,
            t.p_adjusted,
            t.family,
            t.alpha,
            t.lower_bound.map_or(String::new(), |b| format!(", lower bound {b:.4}"))
        );
    }
    if let Some(text) = &verdict.real_text {
        let _ = write!(
            out,
            ". On real text ({}): gain {:.4}, Holm-adjusted p {:.4}",
            esc(&text.task),
            text.gain_mean,
            text.test.p_adjusted
        );
    }
    out.push_str(".</p><table><thead><tr><th>run</th><th>seed</th><th>benchmark</th><th>held-out loss</th><th>parameters</th></tr></thead><tbody>");
    for run in &verdict.runs {
        let Some(record) = state.runs.get(run) else { continue };
        let metrics = record.finished.as_ref().map(|(f, _)| &f.metrics);
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(run.as_str()),
            record.scheduled.seed,
            num(metrics.map(|m| m.benchmark_mean)),
            num(metrics.map(|m| m.loss_val_final)),
            metrics.map_or("–".to_owned(), |m| count(m.params))
        );
    }
    out.push_str("</tbody></table></section>");
    out
}
