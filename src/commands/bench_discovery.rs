//! `lineage bench discovery`: does the proposer's policy find better architectures than chance?
//! Runs campaigns of one preset under the configured policy (or the policies named) and under the
//! random-search control (`selection.policy = "random"`), with the same seeds and budgets, each a
//! `lineage run` child process into one store, and reports per policy the best exploration
//! fitness against experiments (spread over seeds), the best verified gain over the best baseline
//! and the discoveries, a one-sided paired t-test of each policy's final best against the
//! control's (the test verification uses), and a figure. Campaigns are deterministic, so the
//! comparison is exact per seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, bail};
use lineage_actors::config::{self, Overrides};
use lineage_events::payload::{Stage, TrainingFailure};
use lineage_events::{CampaignId, EventStore};
use lineage_replay::policy::Policy;
use lineage_replay::{CampaignState, discovery, fold_log};
use serde::Serialize;

use super::bench_fitness::Spread;
use super::charts::{self, PolicyCurve};
use crate::machine::Machine;

/// What to compare.
pub struct Options<'a> {
    pub preset: &'a str,
    /// Policy names; the random-search control among them. Empty: the preset's and the control.
    pub policies: &'a [String],
    pub seeds: u32,
    pub first_seed: u64,
    pub experiments: Option<u32>,
    pub out: &'a Path,
    pub json: bool,
}

/// One campaign's outcome.
#[derive(Serialize)]
struct Outcome {
    campaign: String,
    seed: u64,
    /// Best exploration fitness of a candidate after experiments 1, 2, … (none before the first).
    best_by_experiment: Vec<Option<f64>>,
    best_baseline_fitness: Option<f64>,
    /// Best exploration benchmark score of a candidate minus the best linear-time baseline's.
    best_benchmark_gain: Option<f64>,
    /// Best mean verified gain over the best baseline among the promoted candidates.
    best_verified_gain: Option<f64>,
    discoveries: u32,
    /// Runs stopped by the wall-clock sanity rule (slower than their peers by the configured
    /// factor): how a busy machine changes a campaign's decisions.
    stopped_too_slow: u32,
    state_hash: String,
}

#[derive(Serialize)]
struct PolicyReport {
    policy: &'static str,
    campaigns: Vec<Outcome>,
    final_best_mean: f64,
    final_best_std: f64,
    verified_gain_mean: Option<f64>,
    discoveries_total: u32,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    preset: String,
    experiments: u32,
    seeds: Vec<u64>,
    policies: Vec<PolicyReport>,
    /// Each policy against the control, paired by seed.
    against_control: Vec<AgainstControl>,
    figure: Vec<String>,
}

pub async fn run(store_url: Option<&str>, options: &Options<'_>) -> anyhow::Result<()> {
    if options.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    // A bad preset or policy is one line here, not a failed child campaign.
    let (config, _) = config::resolve(options.preset, None, &Overrides::default())?;
    let named: Vec<String> = if options.policies.is_empty() {
        vec![config.selection.policy.to_string(), Policy::Random.name().to_owned()]
    } else {
        options.policies.to_vec()
    };
    let mut policies = Vec::new();
    for name in &named {
        let Some(policy) = Policy::named(name) else {
            let known: Vec<&str> = Policy::ALL.iter().map(|(n, _)| *n).collect();
            bail!("--policies: {name:?} is not a policy; choose from {}", known.join(", "));
        };
        if !policies.contains(&policy) {
            policies.push(policy);
        }
    }
    if !policies.contains(&Policy::Random) || policies.len() < 2 {
        bail!("--policies must name the control, random, and at least one policy to compare with it");
    }
    let (url, _dir) = match store_url {
        Some(url) => (url.to_owned(), None),
        None => {
            let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
            (format!("sqlite://{}", dir.path().join("discovery.db").display()), Some(dir))
        }
    };
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let tag = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let seeds: Vec<u64> = (options.first_seed..options.first_seed + u64::from(options.seeds)).collect();
    let mut outcomes: Vec<Vec<Outcome>> = policies.iter().map(|_| Vec::new()).collect();
    let mut store: Option<Arc<dyn EventStore>> = None;
    for (n, seed) in seeds.iter().enumerate() {
        for (p, policy) in policies.iter().enumerate() {
            let name = format!("disc-{tag}-{}-s{seed}", policy.name());
            let (done, total) = (n * policies.len() + p + 1, seeds.len() * policies.len());
            eprintln!("lineage bench discovery: {name} ({done} of {total})");
            let mut command = tokio::process::Command::new(&exe);
            command.args(["--store", &url, "run", "--preset", options.preset, "--name", &name, "--json"]);
            command.args(["--seed", &seed.to_string()]);
            if let Some(n) = options.experiments {
                command.args(["--experiments", &n.to_string()]);
            }
            let overlay = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
            std::fs::write(overlay.path(), format!("[selection]\npolicy = \"{}\"\n", policy.name()))?;
            command.arg("--config").arg(overlay.path());
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
            let output = command.output().await.with_context(|| format!("cannot start {}", exe.display()))?;
            if !output.status.success() {
                let text = String::from_utf8_lossy(&output.stderr);
                bail!("campaign {name} failed: {}", text.lines().last().unwrap_or("no message"));
            }
            let store = match &store {
                Some(store) => store.clone(),
                None => store.insert(super::open_existing(&url).await?).clone(),
            };
            let campaign = CampaignId::new(name)?;
            let state = fold_log(store.as_ref(), &campaign, |_| true).await?;
            outcomes[p].push(outcome(&campaign, *seed, &state));
        }
    }
    let experiments = outcomes[0].first().map_or(0, |o| o.best_by_experiment.len() as u32);
    let reports: Vec<PolicyReport> =
        policies.iter().zip(outcomes).map(|(policy, campaigns)| summarise(*policy, campaigns)).collect();
    let control = policies.iter().position(|p| *p == Policy::Random).expect("checked above");
    let against_control = reports
        .iter()
        .filter(|r| r.policy != Policy::Random.name())
        .map(|r| compare(r, &reports[control]))
        .collect();
    std::fs::create_dir_all(options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    charts::register_font();
    let curves: Vec<PolicyCurve> = reports
        .iter()
        .map(|r| PolicyCurve {
            label: r.policy.to_owned(),
            runs: r.campaigns.iter().map(|c| c.best_by_experiment.clone()).collect(),
        })
        .collect();
    let mut figure = Vec::new();
    for extension in ["svg", "png"] {
        let path: PathBuf = options.out.join(format!("discovery-{}.{extension}", options.preset));
        let title = format!("{} preset, {} seeds", options.preset, seeds.len());
        charts::policies(&path, &title, &curves)?;
        figure.push(path.display().to_string());
    }
    let report = Report {
        machine: Machine::detect(),
        preset: options.preset.to_owned(),
        experiments,
        seeds,
        policies: reports,
        against_control,
        figure,
    };
    if options.json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    crate::output::print(&text(&report))
}

/// What one campaign found, from its folded log.
fn outcome(campaign: &CampaignId, seed: u64, state: &CampaignState) -> Outcome {
    let experiments = state.config().budget.experiments_max as usize;
    let mut best_by_experiment: Vec<Option<f64>> = vec![None; experiments];
    let mut best_baseline_fitness: Option<f64> = None;
    let (mut best_candidate_bench, mut best_baseline_bench) = (None::<f64>, None::<f64>);
    let mut best_verified_gain: Option<f64> = None;
    let mut discoveries = 0;
    let max = |slot: &mut Option<f64>, value: f64| *slot = Some(slot.map_or(value, |v| v.max(value)));
    for arch in state.archs.values() {
        let benchmark = arch
            .exploration_run
            .as_ref()
            .and_then(|r| state.runs[r].finished.as_ref())
            .map(|(f, _)| f.metrics.benchmark_mean);
        let fitness =
            arch.fitness.as_ref().filter(|(f, _)| f.stage == Stage::Exploration).map(|(f, _)| f.total);
        if arch.is_baseline() {
            fitness.into_iter().for_each(|f| max(&mut best_baseline_fitness, f));
            // Against the linear-time baselines: the quadratic reference is what they approximate.
            if !arch.quadratic_allowed() {
                benchmark.into_iter().for_each(|b| max(&mut best_baseline_bench, b));
            }
            continue;
        }
        benchmark.into_iter().for_each(|b| max(&mut best_candidate_bench, b));
        if let (Some(f), experiment) = (fitness, arch.proposal.experiment as usize) {
            for slot in best_by_experiment.iter_mut().skip(experiment.saturating_sub(1)) {
                max(slot, f);
            }
        }
        if let Some(v) = &arch.verification {
            max(&mut best_verified_gain, v.gain_mean);
            discoveries += v.discovery as u32;
        }
    }
    Outcome {
        campaign: campaign.to_string(),
        seed,
        best_by_experiment,
        best_baseline_fitness,
        best_benchmark_gain: best_candidate_bench.zip(best_baseline_bench).map(|(c, b)| c - b),
        best_verified_gain,
        discoveries,
        stopped_too_slow: state
            .runs
            .values()
            .filter(|r| {
                r.failed.as_ref().is_some_and(|f| matches!(f.failure, TrainingFailure::TooSlow { .. }))
            })
            .count() as u32,
        state_hash: state.state_hash().to_string(),
    }
}

/// A policy's final best fitness against the control's, seed by seed.
#[derive(Serialize)]
struct AgainstControl {
    policy: &'static str,
    /// Per seed: the policy's final best fitness minus the control's.
    differences: Vec<f64>,
    mean_difference: f64,
    /// The one-sided paired t-test that the policy's mean is higher, as verification uses.
    t: Option<f64>,
    p_value: f64,
}

fn compare(policy: &PolicyReport, control: &PolicyReport) -> AgainstControl {
    let finals = |r: &PolicyReport| -> BTreeMap<u64, f64> {
        r.campaigns
            .iter()
            .filter_map(|c| Some((c.seed, c.best_by_experiment.last().copied().flatten()?)))
            .collect()
    };
    let (mine, theirs) = (finals(policy), finals(control));
    let differences: Vec<f64> = mine.iter().filter_map(|(s, f)| Some(f - theirs.get(s)?)).collect();
    let verdict = &discovery::verdicts(&[mine], &theirs)[0];
    AgainstControl {
        policy: policy.policy,
        mean_difference: mean_std(&differences).0,
        differences,
        t: verdict.test.t,
        p_value: verdict.test.p_value,
    }
}

fn summarise(policy: Policy, campaigns: Vec<Outcome>) -> PolicyReport {
    let finals: Vec<f64> =
        campaigns.iter().filter_map(|c| c.best_by_experiment.last().copied().flatten()).collect();
    let gains: Vec<f64> = campaigns.iter().filter_map(|c| c.best_verified_gain).collect();
    let (final_best_mean, final_best_std) = mean_std(&finals);
    PolicyReport {
        policy: policy.name(),
        final_best_mean,
        final_best_std,
        verified_gain_mean: (!gains.is_empty()).then(|| mean_std(&gains).0),
        discoveries_total: campaigns.iter().map(|c| c.discoveries).sum(),
        campaigns,
    }
}

/// Mean and sample standard deviation (0 for fewer than two values).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let spread = Spread::of(values);
    (spread.mean, spread.std)
}

fn text(report: &Report) -> String {
    let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:+.3}"));
    let mut out = format!(
        "machine: {}\npreset {}, {} experiments, seeds {:?}\n\n",
        report.machine, report.preset, report.experiments, report.seeds
    );
    out += "policy         seed  best fitness  best baseline  bench gain  verified gain  discoveries\n";
    for policy in &report.policies {
        for c in &policy.campaigns {
            out += &format!(
                "{:<14} {:>4}  {:>12}  {:>13}  {:>10}  {:>13}  {:>11}\n",
                policy.policy,
                c.seed,
                c.best_by_experiment.last().copied().flatten().map_or("-".into(), |f| format!("{f:.3}")),
                c.best_baseline_fitness.map_or("-".into(), |f| format!("{f:.3}")),
                show(c.best_benchmark_gain),
                show(c.best_verified_gain),
                c.discoveries
            );
        }
    }
    out += "\n";
    for policy in &report.policies {
        out += &format!(
            "{:<14} final best fitness {:.3} ± {:.3}; mean best verified gain {}; {} discoveries\n",
            policy.policy,
            policy.final_best_mean,
            policy.final_best_std,
            show(policy.verified_gain_mean),
            policy.discoveries_total
        );
    }
    for c in &report.against_control {
        let wins = c.differences.iter().filter(|d| **d > 0.0).count();
        out += &format!(
            "{} over random, paired by seed: {wins} of {} seeds better, mean difference {:+.3}; one-sided paired t-test p = {:.3}\n",
            c.policy,
            c.differences.len(),
            c.mean_difference,
            c.p_value,
        );
    }
    let slow: u32 = report.policies.iter().flat_map(|p| &p.campaigns).map(|c| c.stopped_too_slow).sum();
    if slow > 0 {
        out += &format!(
            "warning: {slow} run(s) were stopped as too slow, a wall-clock rule: the machine was busy, so these campaigns are not the ones a quiet machine gives; run again on a quiet one\n"
        );
    }
    out += &format!("figure: {}", report.figure.join(", "));
    out
}
