//! The dashboard's pages in process, against an in-memory store: text from the log is escaped
//! wherever it shows, bad ids are 404 pages, a store that does not answer is an error banner,
//! an edited event is refused, and the JSON is the command line's.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, test, web};
use async_trait::async_trait;
use lineage_events::store::{Appended, CampaignSummary, Head};
use lineage_events::{
    ActorRef, CampaignId, EventId, EventStore, MemoryStore, NewEvent, Seq, StoreError, StoredEvent, synthetic,
};
use lineage_web::{Dashboard, routes};
use tokio::sync::watch;

const HOSTILE: &str = "<script>alert('lineage')</script>\u{202e}\u{1b}[31m";

/// A campaign whose only architecture's program and motivation carry a script tag.
async fn hostile_store() -> Arc<dyn EventStore> {
    let store = MemoryStore::new();
    let campaign = CampaignId::new("hostile").unwrap();
    let program = format!("# {HOSTILE}\nmixer m {{\n  return proj(x, d)\n}}\n");
    let events =
        synthetic::seed_campaign(&campaign, "seed", &program, &format!("because {HOSTILE}"), HOSTILE);
    store.append(&campaign, Seq(0), events).await.unwrap();
    Arc::new(store)
}

fn diff() -> lineage_web::ProgramDiff {
    Arc::new(|_: &str, _: &str, _: &lineage_events::ArchId, _: &lineage_events::ArchId| None)
}

async fn get(dashboard: Dashboard, path: &str) -> (u16, String) {
    let app = test::init_service(App::new().app_data(web::Data::new(dashboard)).configure(routes)).await;
    let response = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
    let status = response.status().as_u16();
    let body = test::read_body(response).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[actix_web::test]
async fn text_from_the_log_is_escaped_on_every_page() {
    let dashboard = Dashboard::new(hostile_store().await, diff());
    for path in ["/", "/campaigns/hostile", "/campaigns/hostile/archs/seed", "/campaigns/hostile/events/1"] {
        let (status, body) = get(dashboard.clone(), path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains("<script>alert"), "{path} lets a script through:\n{body}");
        assert!(!body.contains(['\u{202e}', '\u{1b}']), "{path} lets a control character through:\n{body}");
        if path.contains("archs") {
            assert!(body.contains("&lt;script&gt;alert"), "{path} shows the text, escaped");
            assert!(body.contains("\\u{202e}\\u{1b}[31m"), "{path} shows the controls as escapes");
        }
    }
}

#[actix_web::test]
async fn a_bad_id_is_a_404_page_and_a_bad_query_a_400() {
    let dashboard = Dashboard::new(hostile_store().await, diff());
    for (path, status) in [
        ("/campaigns/nothing", 404),
        ("/campaigns/hostile/archs/nothing", 404),
        ("/campaigns/hostile/events/2", 404),
        ("/campaigns/hostile/events/-1", 404),
        ("/campaigns/hostile/events/99999999999999999999999", 404),
        ("/campaigns/%3Cscript%3E", 404),
        ("/no/such/page", 404),
        ("/assets/passwd", 404),
        ("/campaigns/hostile?at=2", 400),
        ("/campaigns/hostile?at=x", 400),
        ("/api/campaigns/hostile?at=-3", 400),
        ("/campaigns/hostile/live?from=abc", 400),
        ("/api/campaigns/nothing", 404),
        ("/api/campaigns/hostile/archs/nothing", 404),
    ] {
        let (got, body) = get(dashboard.clone(), path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(!body.contains("<script>"), "{path} echoes its input unescaped: {body}");
    }
    // A malformed query says what is wrong, as a page or, under /api/, as JSON.
    let (_, page) = get(dashboard.clone(), "/campaigns/hostile?at=x").await;
    assert!(page.contains("class=\"banner\"") && page.contains("event numbers"), "{page}");
    let (_, api) = get(dashboard, "/api/campaigns/hostile?at=-3").await;
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert!(api["error"].as_str().unwrap().contains("event numbers"), "{api}");
}

#[actix_web::test]
async fn the_json_is_what_the_command_line_prints() {
    let store = hostile_store().await;
    let dashboard = Dashboard::new(store.clone(), diff());
    let campaign = CampaignId::new("hostile").unwrap();
    let folded = lineage_replay::fold_log_to_head(store.as_ref(), &campaign, |_| true).await.unwrap();
    let expected = lineage_audit::Summary::of(&campaign, &folded.state).at_head(folded.head);
    let (status, body) = get(dashboard.clone(), "/api/campaigns/hostile").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
    // An event exactly as stored.
    let stored = store.read(&campaign, Seq(1), 1).await.unwrap().remove(0);
    let (status, body) = get(dashboard, "/api/campaigns/hostile/events/1").await;
    assert_eq!((status, body), (200, stored.body));
}

/// A store that never answers.
struct Hanging(watch::Sender<u64>);

#[async_trait]
impl EventStore for Hanging {
    fn location(&self) -> String {
        "a store that never answers".into()
    }
    async fn append(&self, _: &CampaignId, _: Seq, _: Vec<NewEvent>) -> Result<Appended, StoreError> {
        std::future::pending().await
    }
    async fn read(&self, _: &CampaignId, _: Seq, _: u32) -> Result<Vec<StoredEvent>, StoreError> {
        std::future::pending().await
    }
    async fn head(&self, _: &CampaignId) -> Result<Option<Head>, StoreError> {
        std::future::pending().await
    }
    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        std::future::pending().await
    }
    async fn delete_campaign(&self, _: &CampaignId) -> Result<u64, StoreError> {
        std::future::pending().await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

#[actix_web::test]
async fn a_store_that_does_not_answer_gives_an_error_banner_not_a_hung_page() {
    let store = Arc::new(Hanging(watch::channel(0).0));
    let dashboard = Dashboard::new(store, diff()).with_store_timeout(Duration::from_millis(200));
    for path in ["/", "/campaigns/any", "/campaigns/any/archs/a", "/api/campaigns"] {
        // Without its timeout the page would wait for ever: fail instead of hanging.
        let answered = tokio::time::timeout(Duration::from_secs(30), get(dashboard.clone(), path)).await;
        let (status, body) = answered.unwrap_or_else(|_| panic!("{path} waited on the store"));
        assert_eq!(status, 503, "{path}: {body}");
        assert!(body.contains("did not answer"), "{path}: {body}");
    }
}

/// A store that hands out event 1 of campaign `hostile` with one byte of its body changed, its
/// stored hash kept.
struct Edited(Arc<dyn EventStore>);

#[async_trait]
impl EventStore for Edited {
    fn location(&self) -> String {
        "a store with an edited event".into()
    }
    async fn append(
        &self,
        c: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        self.0.append(c, expected, events).await
    }
    async fn read(&self, c: &CampaignId, from: Seq, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = self.0.read(c, from, limit).await?;
        for event in events.iter_mut().filter(|e| e.seq == Seq(1) && c.as_str() == "hostile") {
            event.body = event.body.replacen("because", "Because", 1);
        }
        Ok(events)
    }
    async fn head(&self, c: &CampaignId) -> Result<Option<Head>, StoreError> {
        self.0.head(c).await
    }
    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        self.0.campaigns().await
    }
    async fn delete_campaign(&self, c: &CampaignId) -> Result<u64, StoreError> {
        self.0.delete_campaign(c).await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.0.changes()
    }
}

#[actix_web::test]
async fn an_edited_event_is_not_served_as_stored() {
    let dashboard = Dashboard::new(Arc::new(Edited(hostile_store().await)), diff());
    let (status, body) = get(dashboard.clone(), "/api/campaigns/hostile/events/0").await;
    assert_eq!(status, 200, "{body}");
    for path in ["/api/campaigns/hostile/events/1", "/campaigns/hostile/events/1", "/api/campaigns/hostile"] {
        let (status, body) = get(dashboard.clone(), path).await;
        assert_eq!(status, 500, "{path}: {body}");
        assert!(body.contains("stored body hashes to"), "{path}: {body}");
        assert!(path.starts_with("/api/") || body.contains("damaged record"), "{path}: {body}");
        assert!(!body.contains("Because"), "{path} shows the edited text: {body}");
    }
}

#[actix_web::test]
async fn the_index_lists_a_damaged_campaign_as_damaged_beside_the_healthy_ones() {
    let store = hostile_store().await;
    let healthy = CampaignId::new("healthy").unwrap();
    let started = synthetic::one_of_each().into_iter().next().unwrap();
    let event = NewEvent::new(EventId::derive(&healthy, "e0"), ActorRef::new("test", "writer"), &started);
    store.append(&healthy, Seq(0), vec![event]).await.unwrap();
    let dashboard = Dashboard::new(Arc::new(Edited(store)), diff());

    let (status, body) = get(dashboard.clone(), "/api/campaigns").await;
    assert_eq!(status, 200, "{body}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let states: Vec<(&str, &str)> =
        listed.iter().map(|l| (l["campaign"].as_str().unwrap(), l["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("hostile", "damaged"), ("healthy", "unfinished")]);
    let damage = listed[0]["damage"].as_str().unwrap();
    assert!(damage.contains("event 1") && damage.contains("stored body hashes to"), "{damage}");
    assert_eq!(listed[0]["experiments"], serde_json::Value::Null, "unknown, not 0");
    assert!(listed[1].get("damage").is_none(), "{}", listed[1]);

    let (status, page) = get(dashboard, "/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("damaged (") && page.contains("stored body hashes to"), "{page}");
    assert!(page.contains("/campaigns/healthy"), "{page}");
}
