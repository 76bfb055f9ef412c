//! The JSON behind the pages, under `/api/`: the same values the pages render, from the same
//! library functions as the command line (`lineage replay --json`, `lineage provenance
//! --format json`).

use actix_web::{HttpResponse, get, web};
use lineage_audit::{Listing, Provenance, Summary};
use lineage_events::Seq;

use crate::error::{ApiError, WebError};
use crate::{At, Dashboard, load};

/// Every campaign of the store as the index lists it, a damaged one with its damage.
pub async fn listed(dashboard: &Dashboard) -> Result<Vec<Listing>, WebError> {
    let mut listed = Vec::new();
    for summary in load::campaigns(dashboard).await? {
        listed.extend(load::listing(dashboard, &summary).await?);
    }
    Ok(listed)
}

#[get("/api/campaigns")]
pub(crate) async fn api_campaigns(dashboard: web::Data<Dashboard>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(listed(&dashboard).await?))
}

/// The summary `lineage replay --json` prints (`?at=N`: `lineage replay --until N --json`).
#[get("/api/campaigns/{campaign}")]
pub(crate) async fn api_campaign(
    dashboard: web::Data<Dashboard>,
    path: web::Path<String>,
    query: web::Query<At>,
) -> Result<HttpResponse, ApiError> {
    let loaded = load::log(&dashboard, &path, query.at).await?;
    let head = match loaded.at {
        Some(at) => lineage_events::Head { next: Seq(at + 1), hash: loaded.log.events[at as usize].hash },
        None => lineage_events::Head::EMPTY,
    };
    let summary = Summary::of(&loaded.campaign, &loaded.state).at_head(head);
    Ok(HttpResponse::Ok().json(summary))
}

/// The provenance `lineage provenance --format json` prints.
#[get("/api/campaigns/{campaign}/archs/{arch}")]
pub(crate) async fn api_arch(
    dashboard: web::Data<Dashboard>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, arch) = path.into_inner();
    let (loaded, arch) = load::arch(&dashboard, &name, &arch).await?;
    let provenance =
        Provenance::new(&loaded.campaign, &loaded.log, &loaded.state, &arch, dashboard.diff.as_ref());
    Ok(HttpResponse::Ok().json(provenance.json()))
}

/// The event's body byte for byte as stored; its chain hash in `X-Lineage-Hash`.
#[get("/api/campaigns/{campaign}/events/{seq}")]
pub(crate) async fn api_event(
    dashboard: web::Data<Dashboard>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let (campaign, len) = load::campaign(&dashboard, &name).await?;
    let seq = crate::event_seq(&seq, len, &name)?;
    let stored = load::stored(&dashboard, &campaign, Seq(seq)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("X-Lineage-Hash", stored.hash.to_string()))
        .body(stored.body))
}
