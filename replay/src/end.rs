//! Where a campaign's log ends. `CampaignFinished` is the campaign's last decision: after it,
//! only what cannot change the campaign may follow — conclusions of analysts attached from
//! elsewhere (`AnalysisRecorded`, `InsightRecorded`: they only comment on it), signed
//! checkpoints of the head (`HeadSigned`), a new name (`CampaignNamed`), a raised budget
//! (`CampaignExtended`, which reopens the campaign: a new end follows), and events of types this build does not know (it
//! skips them). Anything else after the finish — a verdict, a fitness, a run, a second finish —
//! continues a log past its end: no campaign writes it, so `verify` fails the log and `replay`
//! warns, naming the first such event.

use lineage_events::payload::Payload;
use lineage_events::{DecodedPayload, EventId, Seq};
use serde::Serialize;

/// Whether an event may follow `CampaignFinished` (see the module docs).
pub fn may_follow_finish(payload: &DecodedPayload) -> bool {
    match payload {
        DecodedPayload::Unknown(_) => true,
        DecodedPayload::Known(payload) => matches!(
            payload,
            Payload::AnalysisRecorded(_)
                | Payload::InsightRecorded(_)
                | Payload::HeadSigned(_)
                | Payload::CampaignNamed(_)
                | Payload::CampaignExtended(_)
        ),
    }
}

/// The first event that continues a log past its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PastEnd {
    /// Position of the (first) `CampaignFinished`.
    pub finished_seq: Seq,
    /// Position of the first event after it that may not follow it.
    pub seq: Seq,
    /// That event's id.
    pub id: EventId,
    /// Its type.
    #[serde(rename = "type")]
    pub type_name: &'static str,
}

impl std::fmt::Display for PastEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} ({}, {}) comes after CampaignFinished (event {}): the log continues past its end",
            self.seq, self.id, self.type_name, self.finished_seq
        )
    }
}
