//! `lineage serve`: the web dashboard (`lineage_web`) on a read-only handle to the store.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use lineage_events::EventStore;
use lineage_web::Dashboard;

pub async fn run(store: Arc<dyn EventStore>, bind: SocketAddr) -> anyhow::Result<()> {
    if !bind.ip().is_loopback() {
        eprintln!(
            "lineage serve: warning: listening on {bind}, beyond this machine: whoever reaches it can read every campaign in the store, programs and prompts included"
        );
    }
    let location = store.location();
    let dashboard = Dashboard::new(store, Arc::new(super::provenance::program_diff));
    let (server, address) =
        lineage_web::bind(dashboard, bind).with_context(|| format!("cannot listen on {bind}"))?;
    eprintln!("lineage serve: http://{address}/ shows the campaigns of {location}; Ctrl-C stops it");
    let handle = server.handle();
    let serving = tokio::spawn(server);
    super::signals::stopped().await;
    handle.stop(true).await;
    serving.await.context("the dashboard stopped")?.context("the dashboard stopped")?;
    super::signals::exit_if_stopped()
}
