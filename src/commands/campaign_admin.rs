//! `lineage campaigns delete` and `lineage campaigns rename`: the two commands that change what
//! a store holds about a campaign without running it. A delete destroys the record, so it is
//! confirmed by typing the campaign's id (or `--yes`); a rename records a `CampaignNamed`
//! event, and the id never changes.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use lineage_events::payload::{CampaignNamed, Payload};
use lineage_events::{ActorRef, CampaignId, EventId, EventStore, NewEvent, StoreError};

/// Conflicting appends retried before a rename gives up (another writer appended first).
const RENAME_ATTEMPTS: u32 = 5;

/// Every campaign's name in force, with its id: what a campaign may be called. A campaign whose
/// log cannot be read (its chain broken, say) is left out with a warning: it must not stop
/// every other campaign from being found by name (`verify` names what is wrong with it).
pub async fn names(store: &dyn EventStore) -> anyhow::Result<Vec<(String, CampaignId)>> {
    let mut names = Vec::new();
    for summary in store.campaigns().await? {
        let state = match lineage_replay::fold_log(store, &summary.campaign, |_| true).await {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!("campaign {} is left out of the names: {e}", summary.campaign);
                continue;
            }
        };
        if let Some(name) = state.name.filter(|n| n != summary.campaign.as_str()) {
            names.push((name, summary.campaign));
        }
    }
    Ok(names)
}

pub async fn delete(store: &dyn EventStore, name: &str, yes: bool) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store, name).await?;
    let head = store.head(&campaign).await?.with_context(|| format!("campaign {campaign} vanished"))?;
    if !yes {
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "This destroys the record of campaign {campaign}: its {} events (head {}:{}) are deleted from {}, \
             and nothing can verify, replay or recover it afterwards.",
            head.next.0,
            head.next.0 - 1,
            head.hash.to_hex(),
            store.location()
        )?;
        write!(err, "Type the campaign's id ({campaign}) to delete it: ")?;
        err.flush()?;
        let mut typed = String::new();
        std::io::stdin().lock().read_line(&mut typed)?;
        if typed.trim() != campaign.as_str() {
            let how = if std::io::stdin().is_terminal() { "" } else { " (or pass --yes)" };
            bail!("not confirmed{how}: nothing was deleted");
        }
    }
    let deleted = store.delete_campaign(&campaign).await?;
    crate::output::print(&format!("deleted campaign {campaign}: {deleted} events destroyed"))
}

pub async fn rename(store: &dyn EventStore, name: &str, new_name: &str) -> anyhow::Result<()> {
    // A name is used where an id is: it must be one in form.
    CampaignId::new(new_name).map_err(|e| {
        anyhow::anyhow!("name {new_name:?} cannot be used: a name follows the rules of ids ({e})")
    })?;
    let campaign = super::campaign_named(store, name).await?;
    let ids = store.campaigns().await?;
    if ids.iter().any(|s| s.campaign != campaign && s.campaign.as_str().starts_with(new_name)) {
        bail!("name {new_name:?} is the id, or begins the id, of another campaign: pick another");
    }
    if let Some((_, holder)) = names(store).await?.into_iter().find(|(n, c)| n == new_name && *c != campaign)
    {
        bail!("name {new_name:?} is already campaign {holder}'s: pick another");
    }
    let payload = Payload::CampaignNamed(CampaignNamed { name: new_name.to_owned() });
    for _ in 0..RENAME_ATTEMPTS {
        let head = store.head(&campaign).await?.with_context(|| format!("campaign {campaign} vanished"))?;
        let id = EventId::derive(&campaign, &format!("name/{}", head.next.0));
        let event = NewEvent::new(id, ActorRef::new("operator", "lineage-campaigns-rename"), &payload);
        match store.append(&campaign, head.next, vec![event]).await {
            Ok(_) => return crate::output::print(&format!("campaign {campaign} is now named {new_name}")),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("campaign {campaign} kept changing under the rename: nothing was recorded; try again")
}
