//! The HTML pages, rendered on the server from the log.

pub mod arch;
pub mod campaign;
pub mod campaigns;
pub mod event;

use lineage_replay::CampaignState;

use crate::charts::Point;
use crate::html::Links;

/// Every architecture of `state`, in proposal order, as the figures draw it.
fn points<'a>(state: &'a CampaignState, links: &Links) -> Vec<Point<'a>> {
    state
        .order
        .iter()
        .map(|id| {
            let record = &state.archs[id];
            Point {
                arch: id.as_str(),
                href: links.arch(id.as_str()),
                experiment: record.proposal.experiment,
                parent: record.proposal.parent.as_ref().map(|p| p.as_str()),
                fitness: record.fitness.as_ref().map(|(f, _)| f.total),
                params: state.metrics(id).map(|m| m.params).or(record.params),
                discovery: record.verification.as_ref().is_some_and(|v| v.discovery),
                baseline: record.is_baseline(),
            }
        })
        .collect()
}
