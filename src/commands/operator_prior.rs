//! `lineage operator-prior`: what earlier campaigns learned about the built-in operators, as a
//! config a new campaign can start from. Pools each campaign's edit statistics (which operators
//! raised fitness over the parent) and prints them as a `[selection.operator_prior]` table — a
//! config file for `lineage run --config`, its evidence in comments.

use std::sync::Arc;

use anyhow::bail;
use lineage_actors::insights::{GAIN_SLOPE, PRIOR_SHRINK_USES, pooled_operator_statistics};
use lineage_actors::mutate::{OPERATOR_WEIGHT_MAX, OPERATOR_WEIGHT_MIN};
use lineage_events::{CampaignId, EventStore};
use lineage_replay::fold_log;

pub async fn run(store: Arc<dyn EventStore>, names: &[String]) -> anyhow::Result<()> {
    let campaigns = named(store.as_ref(), names).await?;
    let mut states = Vec::with_capacity(campaigns.len());
    for campaign in &campaigns {
        states.push(fold_log(store.as_ref(), campaign, |_| true).await?);
    }
    let pooled = pooled_operator_statistics(&states);
    if pooled.is_empty() {
        bail!("no scored proposal in {} campaign(s): nothing to learn a prior from", campaigns.len());
    }
    let uses: u32 = pooled.iter().map(|p| p.uses).sum();
    let mut text = format!(
        "# Operator weights learned from {} campaign(s) ({uses} scored uses of an operator) by\n\
         # `lineage operator-prior`: exp({GAIN_SLOPE} x the mean fitness gain over the parent, shrunk\n\
         # by uses/(uses + {PRIOR_SHRINK_USES})), clamped to [{OPERATOR_WEIGHT_MIN}, {OPERATOR_WEIGHT_MAX}]. Campaigns:\n",
        campaigns.len(),
    );
    for campaign in &campaigns {
        text.push_str(&format!("#   {campaign}\n"));
    }
    text.push_str("#\n# operator              uses  mean gain  weight\n");
    for p in &pooled {
        text.push_str(&format!(
            "# {:<20} {:>5}  {:>+9.3}  {:>6.2}\n",
            p.operator, p.uses, p.mean_gain, p.weight
        ));
    }
    text.push_str("\n[selection.operator_prior]\n");
    for p in &pooled {
        text.push_str(&format!("{} = {:.2}\n", p.operator, p.weight));
    }
    crate::output::print(text.trim_end())
}

/// The campaigns `names` name, each once: an id, a unique prefix or a name, or `PREFIX*` for every
/// campaign whose id starts with PREFIX.
async fn named(store: &dyn EventStore, names: &[String]) -> anyhow::Result<Vec<CampaignId>> {
    let mut campaigns: Vec<CampaignId> = Vec::new();
    for name in names {
        let found = match name.strip_suffix('*') {
            Some(prefix) => {
                let matching = super::campaigns_beginning(store, prefix).await?;
                if matching.is_empty() {
                    bail!("no campaign id begins {prefix:?} (see `lineage campaigns`)");
                }
                matching
            }
            None => vec![super::campaign_named(store, name).await?],
        };
        for campaign in found {
            if !campaigns.contains(&campaign) {
                campaigns.push(campaign);
            }
        }
    }
    Ok(campaigns)
}
