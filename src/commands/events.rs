//! `lineage events`: print (and follow) a campaign's log.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use lineage_events::{CampaignId, EventStore, Seq, StoreError, Subscription, Upcasters};

use crate::cli::EventsArgs;
use crate::output;

pub async fn run(store: Arc<dyn EventStore>, args: &EventsArgs) -> anyhow::Result<()> {
    let campaign = CampaignId::new(&args.campaign)?;
    if store.head(&campaign).await?.is_none() {
        return Err(StoreError::UnknownCampaign(campaign).into());
    }
    let upcasters = Upcasters::standard();
    let mut subscription = Subscription::new(store, campaign, Seq(args.from));
    let print = |out: &mut dyn Write, event| -> anyhow::Result<()> {
        let mut out = out;
        if args.json {
            output::write_event_json(&mut out, &event)
        } else {
            output::write_event_text(&mut out, &event, &upcasters)
        }
    };
    if args.follow {
        // Unbuffered beyond the line: a follower downstream should see each event at once.
        let mut out = std::io::stdout().lock();
        loop {
            let event = tokio::select! {
                event = subscription.next() => event?,
                // A closed pipe is success, as when a write finds it (main treats it so).
                () = output::stdout_closed() => return Ok(()),
            };
            print(&mut out, event)?;
            out.flush()?;
        }
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    while let Some(event) = subscription.try_next().await? {
        print(&mut out, event)?;
    }
    out.flush()?;
    Ok(())
}
