//! `lineage campaigns`: every campaign of the store as `lineage_audit::Listing` describes it
//! (the dashboard's index shows the same), filtered and ordered. A damaged campaign is listed
//! too, whatever the filters, and fails the command once the others are listed.

use lineage_audit::{Listing, Standing};
use lineage_events::EventStore;

use crate::cli::{CampaignOrder, StateFilter};

pub async fn list(
    store: &dyn EventStore,
    state: Option<StateFilter>,
    preset: Option<&str>,
    order: CampaignOrder,
) -> anyhow::Result<Vec<Listing>> {
    let wanted = state.map(|s| match s {
        StateFilter::Finished => Standing::Finished,
        StateFilter::Paused => Standing::Paused,
        StateFilter::Unfinished => Standing::Unfinished,
        StateFilter::Damaged => Standing::Damaged,
    });
    let mut listed = Vec::new();
    for summary in store.campaigns().await? {
        let folded = lineage_replay::fold_log_to_head(store, &summary.campaign, |_| true).await;
        let Some(listing) = Listing::of_fold(&summary, folded)? else { continue };
        let damaged = listing.state == Standing::Damaged;
        if damaged
            || (wanted.is_none_or(|s| s == listing.state)
                && preset.is_none_or(|p| listing.preset.as_deref() == Some(p)))
        {
            listed.push(listing);
        }
    }
    match order {
        CampaignOrder::Created => {}
        CampaignOrder::Updated => listed.sort_by_key(|l| std::cmp::Reverse(l.updated_at)),
        CampaignOrder::Best => listed.sort_by(|a, b| {
            let fitness = |l: &Listing| l.best_fitness.unwrap_or(f64::NEG_INFINITY);
            fitness(b).total_cmp(&fitness(a))
        }),
        CampaignOrder::Experiments => listed.sort_by_key(|l| std::cmp::Reverse(l.experiments)),
        CampaignOrder::Name => listed.sort_by(|a, b| a.campaign.cmp(&b.campaign)),
    }
    Ok(listed)
}

/// The error for the damaged campaigns of a listing, in one line, if any.
pub fn damage(listed: &[Listing]) -> anyhow::Result<()> {
    let damaged: Vec<String> = listed
        .iter()
        .filter(|l| l.state == Standing::Damaged)
        .map(|l| {
            // Most problems already begin with the campaign; say it once.
            let problem = l.damage.as_deref().unwrap_or_default();
            let problem = problem.strip_prefix(&format!("campaign {}: ", l.campaign)).unwrap_or(problem);
            format!("campaign {} is damaged: {problem}", l.campaign)
        })
        .collect();
    match damaged.len() {
        0 => Ok(()),
        n => anyhow::bail!(
            "{} (`lineage verify CAMPAIGN` says more; {n} of {} campaigns listed are damaged)",
            damaged.join("; "),
            listed.len()
        ),
    }
}
