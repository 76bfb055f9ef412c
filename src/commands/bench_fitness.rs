//! `lineage bench fitness`: how much of a fitness value is seed noise. Trains every baseline at
//! a preset's exploration stage under several campaign seeds — each run exactly as a campaign of
//! that seed trains it on this machine (the same run seed, as many runs at once as the preset
//! has trainers, each on a trainer's share of the compute threads) — and
//! reports per baseline the seed-to-seed spread of the held-out loss and the benchmark score,
//! and of the fitness terms they give against the reference trained with the same seed.
//! docs/discovery.md chooses the fitness scales from these numbers.

use anyhow::Context;
use lineage_actors::config::{self, Overrides};
use lineage_actors::fitness;
use lineage_actors::training::{reproduce, threads_per_trainer};
use lineage_arch::backend::Numerics;
use lineage_arch::baselines;
use lineage_arch::rng::Rng;
use lineage_events::payload::{FitnessConstants, TrainingMetrics};
use serde::Serialize;

use crate::machine::Machine;

/// Mean and sample standard deviation of some measurements.
#[derive(Serialize, serde::Deserialize)]
pub(super) struct Spread {
    pub(super) mean: f64,
    pub(super) std: f64,
    /// `std / |mean|`.
    relative: f64,
}

impl Spread {
    /// Over `values` (a standard deviation of 0 for fewer than two).
    pub(super) fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n.max(1.0);
        let var = if values.len() < 2 {
            0.0
        } else {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        };
        Spread { mean, std: var.sqrt(), relative: var.sqrt() / mean.abs().max(1e-12) }
    }
}

#[derive(Serialize)]
struct Row {
    baseline: String,
    loss: Spread,
    benchmark: Spread,
    /// Relative gains over the reference of the same seed, as the fitness terms read them:
    /// `(L_ref − L)/L_ref` and `(B − B_ref)/B_ref`. Their spread over seeds is the noise a scale
    /// must dwarf.
    loss_gain: Spread,
    benchmark_gain: Spread,
    /// The loss and benchmark terms against the reference of the same seed, under the preset's
    /// constants.
    loss_term: Spread,
    benchmark_term: Spread,
    /// Per seed: (held-out loss, benchmark).
    by_seed: Vec<(f64, f64)>,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    preset: String,
    seeds: Vec<u64>,
    constants: FitnessConstants,
    rows: Vec<Row>,
    /// Median over baselines of the relative spread of the loss and of the benchmark score.
    median_relative_loss: f64,
    median_relative_benchmark: f64,
    /// Median over the other baselines of the spread of their relative gains over the reference:
    /// the seed noise of what the fitness terms measure.
    median_loss_gain_noise: f64,
    median_benchmark_gain_noise: f64,
}

pub fn run(preset: &str, seeds: u32, json: bool) -> anyhow::Result<()> {
    let (config, _) = config::resolve(preset, None, &Overrides::default())?;
    let stage = config.exploration.clone();
    let names: Vec<&str> = if config.baselines.is_empty() {
        baselines::ALL.iter().map(|b| b.name).collect()
    } else {
        config.baselines.iter().map(String::as_str).collect()
    };
    let seeds: Vec<u64> = (1..=u64::from(seeds)).collect();
    // Jobs (baseline, seed), trained as the campaign's trainers would: as many at once, each on
    // its share of the threads (the count that decides the bits).
    let (trainers, threads) = (config.trainers.max(1), threads_per_trainer(config.trainers));
    let jobs: Vec<(usize, usize)> =
        (0..names.len()).flat_map(|b| (0..seeds.len()).map(move |s| (b, s))).collect();
    let device = lineage_arch::backend::device();
    let results = super::jobs::run_all(trainers, jobs.len(), |job| {
        let (b, s) = jobs[job];
        let baseline = baselines::get(names[b]).expect("configs name known baselines");
        // A campaign of seed s trains every exploration run with this seed.
        let seed = Rng::stream(seeds[s], "exploration").next_u64();
        eprintln!("lineage bench fitness: {} seed {} ({} of {})", names[b], seeds[s], job + 1, jobs.len());
        reproduce(baseline.source, &stage, seed, threads, Numerics::CURRENT, &device)
            .map_err(|e| anyhow::anyhow!("{}: {e}", names[b]))
    });
    let mut metrics: Vec<Vec<TrainingMetrics>> = vec![Vec::new(); names.len()];
    for ((b, _), result) in jobs.iter().zip(results) {
        metrics[*b].push(result?);
    }
    let reference = names
        .iter()
        .position(|n| *n == config.fitness.reference_arch.as_str())
        .context("the reference architecture is among the baselines")?;
    let rows: Vec<Row> = names
        .iter()
        .zip(&metrics)
        .map(|(name, runs)| {
            let terms: Vec<(f64, f64)> = runs
                .iter()
                .zip(&metrics[reference])
                .map(|(mine, reference)| fitness::terms(mine, reference, &config.fitness))
                .collect();
            let paired: Vec<(&TrainingMetrics, &TrainingMetrics)> =
                runs.iter().zip(&metrics[reference]).collect();
            let loss_gain: Vec<f64> = paired
                .iter()
                .map(|(m, r)| (r.loss_val_final - m.loss_val_final) / r.loss_val_final.max(1e-6))
                .collect();
            let benchmark_gain: Vec<f64> = paired
                .iter()
                .map(|(m, r)| (m.benchmark_mean - r.benchmark_mean) / r.benchmark_mean.max(1e-6))
                .collect();
            Row {
                baseline: (*name).to_owned(),
                loss_gain: Spread::of(&loss_gain),
                benchmark_gain: Spread::of(&benchmark_gain),
                loss: Spread::of(&runs.iter().map(|m| m.loss_val_final).collect::<Vec<_>>()),
                benchmark: Spread::of(&runs.iter().map(|m| m.benchmark_mean).collect::<Vec<_>>()),
                loss_term: Spread::of(&terms.iter().map(|t| t.0).collect::<Vec<_>>()),
                benchmark_term: Spread::of(&terms.iter().map(|t| t.1).collect::<Vec<_>>()),
                by_seed: runs.iter().map(|m| (m.loss_val_final, m.benchmark_mean)).collect(),
            }
        })
        .collect();
    let others: Vec<&Row> = rows.iter().filter(|r| r.baseline != names[reference]).collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let report = Report {
        machine: Machine::detect(),
        preset: preset.to_owned(),
        seeds,
        median_relative_loss: median(rows.iter().map(|r| r.loss.relative).collect()),
        median_relative_benchmark: median(rows.iter().map(|r| r.benchmark.relative).collect()),
        median_loss_gain_noise: median(others.iter().map(|r| r.loss_gain.std).collect()),
        median_benchmark_gain_noise: median(others.iter().map(|r| r.benchmark_gain.std).collect()),
        constants: config.fitness.clone(),
        rows,
    };
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    let mut out = format!(
        "machine: {}\npreset {} exploration stage, seeds {:?}; terms against {} of the same seed\n\n",
        report.machine, report.preset, report.seeds, report.constants.reference_arch
    );
    out += "baseline             loss (± std, rel)          benchmark (± std, rel)     loss gain (± std)   bench gain (± std)   loss term      benchmark term\n";
    for r in &report.rows {
        out += &format!(
            "{:<18} {:>7.4} ± {:.4} ({:>5.1}%)   {:>6.3} ± {:.3} ({:>5.1}%)   {:>+7.4} ± {:.4}   {:>+7.3} ± {:.3}   {:.3} ± {:.3}   {:.3} ± {:.3}\n",
            r.baseline,
            r.loss.mean,
            r.loss.std,
            100.0 * r.loss.relative,
            r.benchmark.mean,
            r.benchmark.std,
            100.0 * r.benchmark.relative,
            r.loss_gain.mean,
            r.loss_gain.std,
            r.benchmark_gain.mean,
            r.benchmark_gain.std,
            r.loss_term.mean,
            r.loss_term.std,
            r.benchmark_term.mean,
            r.benchmark_term.std,
        );
    }
    out += &format!(
        "\nmedian relative spread: loss {:.2}%, benchmark {:.1}%; of the gains over {}: loss {:.2}%, benchmark {:.1}%",
        100.0 * report.median_relative_loss,
        100.0 * report.median_relative_benchmark,
        report.constants.reference_arch,
        100.0 * report.median_loss_gain_noise,
        100.0 * report.median_benchmark_gain_noise,
    );
    crate::output::print(&out)
}
