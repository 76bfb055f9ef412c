//! `lineage provenance`: the whole decision chain of one architecture back to the seed
//! baselines, as text, JSON, Graphviz DOT or W3C PROV-JSON (built by `lineage_audit::provenance`).

use std::sync::Arc;

use anyhow::Context;
use lineage_arch::lang;
use lineage_audit::{Log, Provenance};
use lineage_events::{ArchId, EventStore};

use crate::cli::ProvenanceFormat;

pub async fn run(
    store: Arc<dyn EventStore>,
    campaign: &str,
    arch: &str,
    format: ProvenanceFormat,
) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let log = Log::read(store.as_ref(), &campaign).await?;
    let state = log
        .state()
        .with_context(|| format!("campaign {campaign}'s log is inconsistent (see `lineage verify`)"))?;
    let arch = state.resolve_arch(arch)?.clone();
    let provenance = Provenance::new(&campaign, &log, &state, &arch, &program_diff);
    let text = match format {
        ProvenanceFormat::Text => return crate::output::print_text(&provenance.text()),
        ProvenanceFormat::Json => serde_json::to_string_pretty(&provenance.json())?,
        ProvenanceFormat::Dot => provenance.dot(),
        ProvenanceFormat::Prov => serde_json::to_string_pretty(&provenance.prov())?,
    };
    crate::output::print(&text)
}

/// A child's program against its parent's, as the language's diff renders it.
pub(super) fn program_diff(
    parent_program: &str,
    program: &str,
    parent: &ArchId,
    arch: &ArchId,
) -> Option<String> {
    let a = lang::parse(parent_program).ok()?;
    let b = lang::parse(program).ok()?;
    Some(lang::diff(&a, &b).render(parent.as_str(), arch.as_str()))
}
