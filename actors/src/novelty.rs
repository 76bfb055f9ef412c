//! Novelty: exact duplicates by canonical program hash; near duplicates by structure (distance
//! between canonical forms) *and* behaviour (the mixer's output on fixed probe inputs with
//! fixed-seed weights). A proposal is a near duplicate only when both distances are under the
//! configured minimums, so a small edit that changes what the mixer computes still counts as new.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use dashmap::DashMap;
use lineage_arch::lang::{Dims, Program, canonical_text, check, program_hash};
use lineage_arch::model::{ModelSize, init_weights, mixer};
use lineage_arch::rng::Rng;
use lineage_events::ArchId;
use lineage_events::payload::{NoveltyConfig, NoveltyJudged, NoveltyVerdict};

/// Size of the behavioural probe: small, it only has to tell programs apart.
const PROBE_DIMS: Dims = Dims { d: 16, h: 2 };
const PROBE_LEN: usize = 24;
const PROBE_SEED: u64 = 0x9e37;

/// A program's canonical lines, counted: what structural distance compares.
pub struct Lines(BTreeMap<String, u32>);

impl Lines {
    /// The lines of `program`'s canonical form.
    pub fn of(program: &Program) -> Self {
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for line in canonical_text(program).lines() {
            *counts.entry(line.trim().to_owned()).or_default() += 1;
        }
        Lines(counts)
    }

    /// Fraction of lines not shared (Jaccard distance over the counted lines): 0 for the same
    /// program, 1 for programs with nothing in common.
    pub fn distance(&self, other: &Lines) -> f64 {
        let (a, b) = (&self.0, &other.0);
        let (mut shared, mut total) = (0u32, 0u32);
        for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
            let (x, y) = (a.get(key).copied().unwrap_or(0), b.get(key).copied().unwrap_or(0));
            shared += x.min(y);
            total += x.max(y);
        }
        if total == 0 { 0.0 } else { 1.0 - shared as f64 / total as f64 }
    }
}

/// Mixer outputs on the probe, by canonical hash; `None` for programs that do not type-check at
/// the probe size. Shared between actors: computing one is a forward pass, looking it up is not.
#[derive(Clone, Default)]
pub struct Fingerprints(Arc<DashMap<[u8; 32], Option<Fingerprint>>>);

/// The probe outputs of one program.
pub type Fingerprint = Arc<Vec<f32>>;

impl Fingerprints {
    /// The fingerprint of `program`.
    pub fn get(&self, program: &Program, device: &Device) -> Option<Fingerprint> {
        let key = program_hash(program).0;
        if let Some(hit) = self.0.get(&key) {
            return hit.clone();
        }
        let value = probe(program, device).map(Arc::new);
        self.0.insert(key, value.clone());
        value
    }
}

fn probe(program: &Program, device: &Device) -> Option<Vec<f32>> {
    let graph = check(program, PROBE_DIMS).graph?;
    let weights = init_weights(&graph, ModelSize { layers: 1, vocab: 4 }, PROBE_SEED, device);
    let mut rng = Rng::stream(PROBE_SEED, "novelty-probe");
    let d = PROBE_DIMS.d as usize;
    let x: Vec<f32> = (0..PROBE_LEN * d).map(|_| rng.normal() as f32).collect();
    let input = Tensor::<3>::from_data(TensorData::new(x, [1, PROBE_LEN, d]), device);
    let out = mixer(&graph, &weights.blocks[0].mixer, input).into_data().try_to_vec::<f32>().ok()?;
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// `‖a − b‖ / max(‖a‖, ‖b‖)`: 0 for identical outputs, about 1 or more for unrelated ones.
pub fn behavioural_distance(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 1.0;
    }
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>().sqrt();
    diff / norm(a).max(norm(b)).max(1e-12)
}

/// Judges `candidate` against every earlier program of the campaign.
pub fn judge(
    arch: &ArchId,
    candidate: &Program,
    earlier: &[(ArchId, Program)],
    config: &NoveltyConfig,
    fingerprints: &Fingerprints,
    device: &Device,
) -> NoveltyJudged {
    let hash = program_hash(candidate);
    if let Some((twin, _)) = earlier.iter().find(|(_, p)| program_hash(p) == hash) {
        return NoveltyJudged {
            arch: arch.clone(),
            verdict: NoveltyVerdict::ExactDuplicate,
            nearest: Some(twin.clone()),
            structural_distance: Some(0.0),
            behavioural_distance: Some(0.0),
        };
    }
    let mine = fingerprints.get(candidate, device);
    let lines = Lines::of(candidate);
    let mut nearest: Option<(&ArchId, f64, Option<f64>)> = None;
    for (id, program) in earlier {
        let structural = lines.distance(&Lines::of(program));
        let behavioural = match (&mine, fingerprints.get(program, device)) {
            (Some(a), Some(b)) => Some(behavioural_distance(a, &b)),
            _ => None,
        };
        if nearest.is_none_or(|(_, s, _)| structural < s) {
            nearest = Some((id, structural, behavioural));
        }
        if structural < config.structural_distance_min
            && behavioural.is_some_and(|b| b < config.behavioural_distance_min)
        {
            return NoveltyJudged {
                arch: arch.clone(),
                verdict: NoveltyVerdict::NearDuplicate,
                nearest: Some(id.clone()),
                structural_distance: Some(structural),
                behavioural_distance: behavioural,
            };
        }
    }
    NoveltyJudged {
        arch: arch.clone(),
        verdict: NoveltyVerdict::Novel,
        nearest: nearest.map(|(id, _, _)| id.clone()),
        structural_distance: nearest.map(|(_, s, _)| s),
        behavioural_distance: nearest.and_then(|(_, _, b)| b),
    }
}

#[cfg(test)]
mod tests {
    use lineage_arch::baselines;
    use lineage_arch::lang::parse;

    use super::*;

    #[test]
    fn renamed_programs_are_exact_duplicates_and_edits_are_novel() {
        let device = Device::flex();
        let deltanet = baselines::get("deltanet").unwrap().program();
        let renamed = parse(&lineage_arch::lang::print(&deltanet).replace("beta", "gate")).unwrap();
        let gated = parse(
            &lineage_arch::lang::print(&deltanet)
                .replace("return proj(rmsnorm(o), d)", "return proj(rmsnorm(o) * silu(proj(x, d)), d)"),
        )
        .unwrap();
        let id = |s: &str| ArchId::new(s).unwrap();
        let (a, b) = (id("a"), id("b"));
        let config = NoveltyConfig {
            structural_distance_min: 0.05,
            behavioural_distance_min: 1e-3,
            reproposals_max: 3,
        };
        let fp = Fingerprints::default();
        let earlier = [(a.clone(), deltanet.clone())];
        assert_eq!(
            judge(&b, &renamed, &earlier, &config, &fp, &device).verdict,
            NoveltyVerdict::ExactDuplicate
        );
        let judged = judge(&b, &gated, &earlier, &config, &fp, &device);
        assert_eq!(judged.verdict, NoveltyVerdict::Novel);
        assert!(judged.structural_distance.unwrap() > 0.0 && judged.behavioural_distance.unwrap() > 1e-3);
        // Near duplicate: structurally close *and* the same behaviour at the probe.
        let strict = NoveltyConfig { structural_distance_min: 1.0, behavioural_distance_min: 10.0, ..config };
        assert_eq!(judge(&b, &gated, &earlier, &strict, &fp, &device).verdict, NoveltyVerdict::NearDuplicate);
    }
}
