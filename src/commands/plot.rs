//! `lineage plot`: the figures a researcher puts in a report, from the log alone — the
//! discovery curve against experiments and against compute (the paper's scaling plot), the
//! family tree coloured by fitness, and fitness against parameter count — each as PNG and SVG.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use lineage_events::payload::{Payload, Proposer, Stage};
use lineage_events::{ArchId, DecodedPayload, EventStore};
use lineage_replay::{CampaignState, fold_log};

use super::charts::{self, Curve, CurvePoint, Node, Scatter};
use crate::cli::PlotFormat;

pub async fn run(
    store: Arc<dyn EventStore>,
    campaign: &str,
    out: Option<&Path>,
    formats: &[PlotFormat],
) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    // The curve is sampled from the events as they are folded; the tree and the scatter come
    // from the final state.
    let mut curve = CurveBuilder::default();
    let state = fold_log(store.as_ref(), &campaign, |event| {
        if let DecodedPayload::Known(payload) = &event.payload {
            curve.see(payload);
        }
        true
    })
    .await?;
    if state.ranked().is_empty() {
        bail!("campaign {campaign} has no scored architecture yet: nothing to plot");
    }
    let dir = out.map_or_else(|| PathBuf::from("plots").join(campaign.as_str()), Path::to_path_buf);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    charts::register_font();

    // Titles name the campaign as its researcher does: by its name, with the id beside it.
    let title = match &state.name {
        Some(name) if name != campaign.as_str() => format!("{name} ({campaign})"),
        _ => campaign.to_string(),
    };
    let title = title.as_str();
    let curve = curve.finish();
    let nodes = tree(&state);
    let scatter = scatter(&state);
    let mut written = Vec::new();
    for extension in formats.iter().map(PlotFormat::extension) {
        let path = |name: &str| dir.join(format!("{name}.{extension}"));
        charts::discovery(&path("discovery-experiments"), title, &curve, charts::Axis::Experiments)?;
        charts::discovery(&path("discovery-compute"), title, &curve, charts::Axis::Compute)?;
        charts::family_tree(&path("family-tree"), title, &nodes)?;
        charts::fitness_params(&path("fitness-params"), title, &scatter)?;
        written.extend(
            ["discovery-experiments", "discovery-compute", "family-tree", "fitness-params"].map(path),
        );
    }
    let list: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    crate::output::print(&list.join("\n"))
}

/// Best fitness and discoveries so far, sampled after every exploration score and verdict.
#[derive(Default)]
struct CurveBuilder {
    baselines: HashSet<ArchId>,
    experiments: u32,
    compute_ms: u64,
    best_candidate: Option<f64>,
    best_baseline: Option<f64>,
    discoveries: u32,
    points: Vec<CurvePoint>,
}

impl CurveBuilder {
    fn see(&mut self, payload: &Payload) {
        match payload {
            Payload::ArchitectureProposed(p) if matches!(p.proposer, Proposer::Baseline { .. }) => {
                self.baselines.insert(p.arch.clone());
            }
            Payload::ParentSelected(p) => self.experiments = self.experiments.max(p.experiment),
            Payload::BudgetSpent(p) => self.compute_ms += p.compute_ms,
            Payload::FitnessAssigned(p) if p.stage == Stage::Exploration => {
                let best = if self.baselines.contains(&p.arch) {
                    &mut self.best_baseline
                } else {
                    &mut self.best_candidate
                };
                *best = Some(best.map_or(p.total, |b: f64| b.max(p.total)));
                self.sample();
            }
            Payload::VerificationConcluded(p) => {
                self.discoveries += p.discovery as u32;
                self.sample();
            }
            _ => {}
        }
    }

    fn sample(&mut self) {
        self.points.push(CurvePoint {
            experiments: self.experiments,
            compute_s: self.compute_ms as f64 / 1000.0,
            best_candidate: self.best_candidate,
            discoveries: self.discoveries,
        });
    }

    fn finish(self) -> Curve {
        Curve { points: self.points, best_baseline: self.best_baseline }
    }
}

/// Every architecture with its place in the drawing: x is its experiment, y its lane. Lanes
/// come from a depth-first walk from each baseline (children in experiment order): a leaf takes
/// the next lane, a parent sits at the mean of its children, so lineages never cross.
fn tree(state: &CampaignState) -> Vec<Node> {
    let mut index = std::collections::HashMap::new();
    let mut nodes: Vec<Node> = Vec::with_capacity(state.order.len());
    let mut children: Vec<Vec<usize>> = Vec::with_capacity(state.order.len());
    for id in &state.order {
        let record = &state.archs[id];
        let parent = record.proposal.parent.as_ref().and_then(|p| index.get(p).copied());
        index.insert(id.clone(), nodes.len());
        if let Some(p) = parent {
            children[p].push(nodes.len());
        }
        children.push(Vec::new());
        nodes.push(Node {
            label: id.to_string(),
            experiment: record.proposal.experiment,
            lane: 0.0,
            parent,
            fitness: record.fitness.as_ref().map(|(f, _)| f.total),
            baseline: record.is_baseline(),
            discovery: record.verification.as_ref().is_some_and(|v| v.discovery),
        });
    }
    // Iterative post-order (a long campaign's lineages can be thousands deep).
    let mut next_lane = 0.0;
    let roots: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].parent.is_none()).collect();
    for root in roots {
        let mut stack = vec![(root, false)];
        while let Some((node, expanded)) = stack.pop() {
            if children[node].is_empty() {
                nodes[node].lane = next_lane;
                next_lane += 1.0;
            } else if expanded {
                let sum: f64 = children[node].iter().map(|&c| nodes[c].lane).sum();
                nodes[node].lane = sum / children[node].len() as f64;
            } else {
                stack.push((node, true));
                stack.extend(children[node].iter().rev().map(|&c| (c, false)));
            }
        }
    }
    nodes
}

/// Scored architectures: parameters against fitness.
fn scatter(state: &CampaignState) -> Vec<Scatter> {
    state
        .ranked()
        .into_iter()
        .filter_map(|(id, fitness)| {
            let record = &state.archs[id];
            Some(Scatter {
                label: id.to_string(),
                params: state.metrics(id)?.params,
                fitness,
                baseline: record.is_baseline(),
                discovery: record.verification.as_ref().is_some_and(|v| v.discovery),
            })
        })
        .collect()
}
