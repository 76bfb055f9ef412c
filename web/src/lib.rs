//! `lineage serve`: a read-only web dashboard of the campaigns in one event store.
//!
//! Every page is rendered on the server from the log with the functions the command line uses —
//! the replay fold, the leaderboard of [`lineage_audit::Summary`] (what `lineage replay --json`
//! prints) and [`lineage_audit::Provenance`] — so the numbers agree, and the JSON behind each
//! page is served under `/api/…`. An open campaign page follows the log live: the server keeps
//! one subscription per campaign and pushes each committed event to every open page over
//! server-sent events (`live.rs`); pages never poll. Nothing writes to the store. The stylesheet
//! and script are compiled into the binary.
//!
//! Routes: `/` (campaigns), `/campaigns/{c}` (`?at=N`: as it stood after event N),
//! `/campaigns/{c}/archs/{a}`, `/campaigns/{c}/events/{n}`, `/campaigns/{c}/live` (the event
//! stream), `/campaigns/{c}/sections` (the live parts of the campaign page), and under `/api/`:
//! `campaigns`, `campaigns/{c}` (the summary), `campaigns/{c}/archs/{a}` (the provenance) and
//! `campaigns/{c}/events/{n}` (the event exactly as stored).

mod api;
mod cache;
mod charts;
mod error;
mod html;
mod live;
mod load;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, get, web};
use bytes::Bytes;
use futures_util::stream;
use lineage_audit::Provenance;
use lineage_events::{ArchId, EventStore, Seq};
use serde::Deserialize;

use crate::error::WebError;
use crate::html::Links;

/// Renders a child's program against its parent's: `diff(parent_program, program, parent,
/// arch)`, or `None` where one does not parse. The program language belongs to the models'
/// crate, which the dashboard does not depend on: the caller supplies it.
pub type ProgramDiff = Arc<dyn Fn(&str, &str, &ArchId, &ArchId) -> Option<String> + Send + Sync>;

/// How long a page waits for the store before it answers with an error banner.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every request shares: the store, the live followers, the program diff.
#[derive(Clone)]
pub struct Dashboard {
    store: Arc<dyn EventStore>,
    live: Arc<live::Live>,
    diff: ProgramDiff,
    timeout: Duration,
    sections: Arc<cache::Sections>,
}

impl Dashboard {
    /// A dashboard of `store`. Call from the runtime the store was opened on: the live
    /// followers run there.
    pub fn new(store: Arc<dyn EventStore>, diff: ProgramDiff) -> Self {
        let live = Arc::new(live::Live::new(store.clone(), tokio::runtime::Handle::current()));
        Self { store, live, diff, timeout: STORE_TIMEOUT, sections: Arc::default() }
    }

    /// How many times the live sections of a campaign page were rendered: once per campaign
    /// and head, however many pages asked.
    pub fn sections_rendered(&self) -> u64 {
        self.sections.renders()
    }

    /// The same dashboard, waiting at most `timeout` for the store (default [`STORE_TIMEOUT`]).
    pub fn with_store_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }
}

/// Binds `dashboard` to `bind` (port 0: any free port) and returns the server, to be awaited,
/// and the address it listens on.
pub fn bind(dashboard: Dashboard, bind: SocketAddr) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    let server =
        HttpServer::new(move || App::new().app_data(web::Data::new(dashboard.clone())).configure(routes))
            .workers(4)
            // A page's event stream stays open; stopping the server should not wait for it.
            .shutdown_timeout(1)
            // The caller decides what a signal means (the binary exits 130 or 143).
            .disable_signals()
            .bind(bind)?;
    let address = server.addrs().first().copied().unwrap_or(bind);
    Ok((server.run(), address))
}

/// Every route of the dashboard.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .app_data(web::QueryConfig::default().error_handler(bad_query))
        .service(index_page)
        .service(campaign_page)
        .service(sections_page)
        .service(live_stream)
        .service(arch_page)
        .service(event_page)
        .service(asset_page)
        .service(api::api_campaigns)
        .service(api::api_campaign)
        .service(api::api_arch)
        .service(api::api_event)
        .default_service(web::to(not_found));
}

/// A query that does not parse (`?at=x`): a 400 in the form of the page asked for.
fn bad_query(error: actix_web::error::QueryPayloadError, request: &HttpRequest) -> actix_web::Error {
    let error = WebError::BadRequest(format!(
        "{:?} is not a query this page takes ({error}): `at` and `from` are event numbers",
        request.query_string()
    ));
    if request.path().starts_with("/api/") { error::ApiError(error).into() } else { error.into() }
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}

async fn not_found(request: HttpRequest) -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound(format!("nothing at {}", request.path())))
}

#[get("/")]
async fn index_page(dashboard: web::Data<Dashboard>) -> Result<HttpResponse, WebError> {
    let listed = api::listed(&dashboard).await?;
    Ok(html(pages::campaigns::page(&listed, &dashboard.store.location())))
}

/// `?at=N`: the campaign as it stood after event N.
#[derive(Deserialize)]
struct At {
    at: Option<u64>,
}

#[get("/campaigns/{campaign}")]
async fn campaign_page(
    dashboard: web::Data<Dashboard>,
    path: web::Path<String>,
    query: web::Query<At>,
) -> Result<HttpResponse, WebError> {
    let loaded = load::log(&dashboard, &path, query.at).await?;
    Ok(html(pages::campaign::page(&loaded)))
}

#[get("/campaigns/{campaign}/sections")]
async fn sections_page(
    dashboard: web::Data<Dashboard>,
    path: web::Path<String>,
    query: web::Query<At>,
) -> Result<HttpResponse, WebError> {
    match query.at {
        None => Ok(html(dashboard.sections.at_head(&dashboard, &path).await?.to_string())),
        Some(at) => Ok(html(pages::campaign::sections(&load::log(&dashboard, &path, Some(at)).await?))),
    }
}

#[get("/campaigns/{campaign}/archs/{arch}")]
async fn arch_page(
    dashboard: web::Data<Dashboard>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (name, arch) = path.into_inner();
    let (loaded, arch) = load::arch(&dashboard, &name, &arch).await?;
    let provenance =
        Provenance::new(&loaded.campaign, &loaded.log, &loaded.state, &arch, dashboard.diff.as_ref());
    Ok(html(pages::arch::page(&loaded, &arch, &provenance)))
}

#[get("/campaigns/{campaign}/events/{seq}")]
async fn event_page(
    dashboard: web::Data<Dashboard>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (name, seq) = path.into_inner();
    let loaded = load::log(&dashboard, &name, None).await?;
    let seq = event_seq(&seq, loaded.len(), &name)?;
    Ok(html(pages::event::page(&loaded, seq)))
}

/// An event number in `0..len`, or a 404 that says what there is.
fn event_seq(text: &str, len: u64, campaign: &str) -> Result<u64, WebError> {
    match text.parse::<u64>() {
        Ok(seq) if seq < len => Ok(seq),
        _ => Err(WebError::NotFound(format!(
            "campaign {campaign} has events 0 to {}; there is no event {text:?}",
            len.saturating_sub(1)
        ))),
    }
}

/// `?from=N`: the first event the page has not shown.
#[derive(Deserialize)]
struct From {
    from: Option<u64>,
}

/// The campaign's events from `from` on, as server-sent events: `event: logged` with the feed
/// line as JSON for each, `event: failed` once if the store fails (the page shows a banner).
#[get("/campaigns/{campaign}/live")]
async fn live_stream(
    request: HttpRequest,
    dashboard: web::Data<Dashboard>,
    path: web::Path<String>,
    query: web::Query<From>,
) -> Result<HttpResponse, WebError> {
    let (campaign, _) = load::campaign(&dashboard, &path).await?;
    // A reconnecting page says what it saw last: go on from there, not from the page's start.
    let resumed = request
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|last| last + 1);
    let feed = dashboard.live.feed(&campaign, Seq(resumed.or(query.from).unwrap_or(0)));
    let links = Links(campaign.as_str()).campaign();
    let events = stream::unfold(Some(feed), move |feed| {
        let links = links.clone();
        async move {
            let mut feed = feed?;
            let message = match feed.next().await {
                Ok(item) => {
                    let data = serde_json::json!({ "item": item, "campaign": links });
                    Some(format!("event: logged\nid: {}\ndata: {data}\n\n", item.seq))
                }
                Err(message) => {
                    let data = serde_json::json!({ "error": message });
                    let chunk = format!("event: failed\ndata: {data}\n\n");
                    return Some((Ok::<_, actix_web::Error>(Bytes::from(chunk)), None));
                }
            };
            message.map(|m| (Ok(Bytes::from(m)), Some(feed)))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(events))
}

const CSS: &str = include_str!("../assets/dashboard.css");
const JS: &str = include_str!("../assets/dashboard.js");

#[get("/assets/{name}")]
async fn asset_page(path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let (kind, body) = match path.as_str() {
        "dashboard.css" => ("text/css; charset=utf-8", CSS),
        "dashboard.js" => ("text/javascript; charset=utf-8", JS),
        other => return Err(WebError::NotFound(format!("no asset {other:?}"))),
    };
    Ok(HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(body))
}
