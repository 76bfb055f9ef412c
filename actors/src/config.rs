//! Campaign configuration: a preset (complete TOML shipped with the binary), overlaid by a
//! user's TOML file (any subset of the same keys), overlaid by command-line flags, validated,
//! and resolved into the [`CampaignConfig`] recorded in `CampaignStarted`.

use lineage_arch::baselines;
use lineage_arch::tasks;
use lineage_events::payload::{CampaignConfig, StageConfig};

/// The built-in presets: name, what it is for, TOML.
pub const PRESETS: &[(&str, &str, &str)] = &[
    ("smoke", "a handful of experiments in a few minutes (CI)", include_str!("../presets/smoke.toml")),
    ("quick", "about 10-15 minutes on 2 cores: the README's campaign", include_str!("../presets/quick.toml")),
    (
        "standard",
        "hours on a workstation; bigger models and budgets",
        include_str!("../presets/standard.toml"),
    ),
];

/// Built-in analysts a config may name.
pub const ANALYSTS: &[&str] = &["edit-stats", "pareto", "stagnation"];

/// Values from the command line that override the files.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--experiments`.
    pub experiments: Option<u32>,
    /// `--time`, seconds.
    pub wall_s: Option<u64>,
    /// `--trainers`.
    pub trainers: Option<u32>,
}

/// A configuration problem, said in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

fn fail<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// Resolves preset + file + flags. `file` is `(name for messages, TOML text)`.
pub fn resolve(
    preset: &str,
    file: Option<(&str, &str)>,
    overrides: &Overrides,
) -> Result<CampaignConfig, ConfigError> {
    let Some((_, _, text)) = PRESETS.iter().find(|(name, _, _)| *name == preset) else {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        return fail(format!("unknown preset {preset:?}; choose from {}", names.join(", ")));
    };
    let mut merged: toml::Table = text.parse().expect("built-in presets are valid TOML");
    if let Some((name, user)) = file {
        let user: toml::Table = user.parse().map_err(|e: toml::de::Error| {
            ConfigError(format!("{name}: {}", e.message().lines().next().unwrap_or("invalid TOML")))
        })?;
        overlay(&mut merged, user, "").map_err(|key| ConfigError(format!("{name}: unknown key `{key}`")))?;
    }
    merged.insert("preset".into(), toml::Value::String(preset.into()));
    // The path of a wrongly typed value names the key, as an unknown key's error does.
    let mut config: CampaignConfig = serde_path_to_error::deserialize(toml::Value::Table(merged))
        .map_err(|e| ConfigError(format!("config key `{}`: {}", e.path(), e.inner().message())))?;
    if let Some(n) = overrides.experiments {
        config.budget.experiments_max = n;
    }
    if let Some(s) = overrides.wall_s {
        config.budget.wall_s_max = Some(s);
    }
    if let Some(t) = overrides.trainers {
        config.trainers = t;
    }
    validate(&config)?;
    Ok(config)
}

/// Writes `user` over `base`; tables merge key by key, anything else replaces. A key the preset
/// does not have is an error (returned as its dotted path), so a typo is never silently ignored.
fn overlay(base: &mut toml::Table, user: toml::Table, prefix: &str) -> Result<(), String> {
    for (key, value) in user {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (base.get_mut(&key), value) {
            (None, _) => return Err(path),
            (Some(toml::Value::Table(inner)), toml::Value::Table(user_inner)) => {
                overlay(inner, user_inner, &path)?
            }
            (Some(slot), value) => *slot = value,
        }
    }
    Ok(())
}

/// The baselines a campaign seeds with.
pub fn seed_baselines(config: &CampaignConfig) -> Vec<&'static str> {
    if config.baselines.is_empty() {
        baselines::ALL.iter().map(|b| b.name).collect()
    } else {
        config.baselines.iter().filter_map(|n| baselines::get(n)).map(|b| b.name).collect()
    }
}

fn validate_stage(name: &str, stage: &StageConfig) -> Result<(), ConfigError> {
    if stage.layers == 0 || stage.steps == 0 || stage.batch == 0 || stage.seeds == 0 {
        return fail(format!("{name}: layers, steps, batch and seeds must be at least 1"));
    }
    if stage.heads == 0 || stage.d_model == 0 || !stage.d_model.is_multiple_of(stage.heads) {
        return fail(format!(
            "{name}: d_model ({}) must be a positive multiple of heads ({})",
            stage.d_model, stage.heads
        ));
    }
    if !(stage.learning_rate.is_finite() && stage.learning_rate > 0.0) {
        return fail(format!("{name}: learning_rate must be positive"));
    }
    if stage.tasks.is_empty() {
        return fail(format!("{name}: at least one task is needed"));
    }
    for task in &stage.tasks {
        tasks::build(&task.name, &task.settings)
            .map_err(|e| ConfigError(format!("{name}: task {}: {}", e.task, e.message)))?;
    }
    Ok(())
}

fn validate(config: &CampaignConfig) -> Result<(), ConfigError> {
    for name in &config.baselines {
        if baselines::get(name).is_none() {
            return fail(format!("baselines: unknown baseline {name:?} (see `lineage arch baselines`)"));
        }
    }
    if !seed_baselines(config).contains(&config.fitness.reference_arch.as_str()) {
        return fail(format!(
            "fitness.reference_arch {:?} must be one of the seed baselines",
            config.fitness.reference_arch
        ));
    }
    if config.trainers == 0 {
        return fail("trainers must be at least 1");
    }
    let s = &config.selection;
    if s.policy != "top-k-uniform" {
        return fail(format!(
            "selection.policy {:?} is not known; the one policy is \"top-k-uniform\"",
            s.policy
        ));
    }
    if s.parent_ranks.0 == 0
        || s.parent_ranks.0 > s.parent_ranks.1
        || s.reference_ranks.0 > s.reference_ranks.1
    {
        return fail("selection: ranks start at 1 and each range must be [low, high] with low ≤ high");
    }
    let f = &config.fitness;
    let numbers =
        [f.loss_scale, f.benchmark_scale, f.steepness, f.loss_weight, f.benchmark_weight, f.judge_weight];
    if numbers.iter().any(|x| !x.is_finite() || *x < 0.0) || f.loss_scale == 0.0 || f.benchmark_scale == 0.0 {
        return fail("fitness: constants must be finite and non-negative, scales positive");
    }
    if !(config.sanity.leakage_loss_ratio > 0.0 && config.sanity.leakage_loss_ratio < 1.0) {
        return fail("sanity.leakage_loss_ratio must be between 0 and 1");
    }
    if config.sanity.slow_factor <= 1.0 {
        return fail("sanity.slow_factor must be above 1");
    }
    for analyst in &config.analysts {
        if !ANALYSTS.contains(&analyst.as_str()) {
            return fail(format!("analysts: unknown analyst {analyst:?}; built-in: {}", ANALYSTS.join(", ")));
        }
    }
    validate_stage("exploration", &config.exploration)?;
    validate_stage("verification", &config.verification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves() {
        for (name, _, _) in PRESETS {
            let config = resolve(name, None, &Overrides::default()).unwrap();
            assert_eq!(config.preset.as_deref(), Some(*name));
        }
    }

    #[test]
    fn a_file_overrides_the_preset_and_flags_override_the_file() {
        let file = "trainers = 2\n[budget]\nexperiments_max = 7\n[exploration]\nsteps = 11\n";
        let flags = Overrides { experiments: Some(9), ..Default::default() };
        let config = resolve("smoke", Some(("my.toml", file)), &flags).unwrap();
        assert_eq!((config.trainers, config.budget.experiments_max, config.exploration.steps), (2, 9, 11));
        assert_eq!(config.exploration.d_model, 32, "keys the file does not name keep the preset's value");
    }

    #[test]
    fn bad_configs_are_one_clear_line() {
        let cases = [
            ("[budget]\nexperimentz = 3\n", "unknown key `budget.experimentz`"),
            ("trainers = \"two\"\n", "config key `trainers`: invalid type"),
            ("[exploration]\nheads = 3\n", "multiple of heads"),
            ("[exploration]\ntasks = [{ name = \"mqar\", settings = { pairs = 99 } }]\n", "task mqar"),
            ("baselines = [\"nope\"]\n", "unknown baseline"),
            ("trainers = [1\n", "my.toml"),
        ];
        for (text, expected) in cases {
            let error =
                resolve("smoke", Some(("my.toml", text)), &Overrides::default()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?} gave {error:?}, expected it to mention {expected:?}");
            assert_eq!(error.lines().count(), 1, "{error:?}");
        }
        assert!(
            resolve("nope", None, &Overrides::default()).unwrap_err().to_string().contains("unknown preset")
        );
    }
}
