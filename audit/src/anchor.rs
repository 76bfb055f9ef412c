//! A compact statement of where a verified campaign's log stands — to paste into a paper, a
//! commit message or a timestamping service, so that anyone can later prove the log still
//! extends it (`lineage verify CAMPAIGN --head SEQ:HASH`).
//!
//! The text form is one paragraph on one line, fields in this order (docs/audit.md):
//!
//! ```text
//! lineage campaign C: head SEQ:HASH, recorded at TIME (N events); finished, state hash S | not
//! finished; signed at event E over head SEQ2:HASH2 by Ed25519 key K, signature SIG | not signed.
//! Check: lineage verify C --head SEQ:HASH [--public-key K]
//! ```

use lineage_events::payload::{HeadSigned, Payload};
use lineage_events::{CampaignId, EventStore};
use serde::Serialize;

use crate::verify::{Expected, last_head, verify_log};

/// The last signed checkpoint of a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorSignature {
    /// Position of the `HeadSigned` event.
    pub event_seq: u64,
    /// Position of the head it signs.
    pub seq: u64,
    /// The hash of that head, hex.
    pub head_hash: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
}

/// Where a verified campaign's log stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The campaign.
    pub campaign: String,
    /// Position of the last event.
    pub head_seq: u64,
    /// Its hash, hex.
    pub head_hash: String,
    /// When it was recorded (RFC 3339, UTC, microseconds).
    pub head_recorded_at: String,
    /// Events in the log.
    pub events: u64,
    /// Whether the campaign finished.
    pub finished: bool,
    /// The state hash its `CampaignFinished` recorded (and replay reproduced), once finished.
    pub state_hash: Option<String>,
    /// The last signed checkpoint, if the campaign ran with a signing key.
    pub signature: Option<AnchorSignature>,
    /// The command that proves a log still extends this head (with the signing key, when the
    /// signatures cover the campaign's end).
    pub check: String,
}

/// Why a campaign cannot be anchored. Tell the user: `lineage verify` says more.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// A check of `verify` failed: a log that does not hold is not worth anchoring.
    #[error("campaign {campaign} fails verification ({check}: {detail}); nothing to anchor")]
    Unverified {
        /// The campaign.
        campaign: CampaignId,
        /// The first check that failed.
        check: &'static str,
        /// What it found.
        detail: String,
    },
}

impl Anchor {
    /// Verifies the campaign's log (every check of [`crate::verify()`]) and states where it stands.
    pub async fn of(store: &dyn EventStore, campaign: &CampaignId) -> Result<Anchor, AnchorError> {
        let (verification, read) = verify_log(store, campaign, &Expected::default()).await;
        let unverified = |check: &'static str, detail: String| AnchorError::Unverified {
            campaign: campaign.clone(),
            check,
            detail,
        };
        if let Some(failed) = verification.first_failure() {
            return Err(unverified(failed.name, failed.detail.clone()));
        }
        let read = read.expect("a verified log was read");
        let (Some(head), Some(last)) = (last_head(&read), read.events.last()) else {
            return Err(unverified("hash chain", "the log has no events".into()));
        };
        let state = verification.state.as_ref().expect("a verified log is folded");
        let signature = read.events.iter().rev().find_map(|e| match e.payload.known() {
            Some(Payload::HeadSigned(p)) => Some(signature(e.seq.0, p)),
            _ => None,
        });
        let head_seq = head.next.0 - 1;
        let mut check = format!("lineage verify {campaign} --head {head_seq}:{}", head.hash);
        // `verify --public-key` asks that a finished campaign's end be signed.
        if let Some(s) = signature.as_ref().filter(|s| state.finished_seq.is_none_or(|f| s.seq >= f.0)) {
            check.push_str(&format!(" --public-key {}", s.public_key));
        }
        Ok(Anchor {
            campaign: campaign.to_string(),
            head_seq,
            head_hash: head.hash.to_hex(),
            head_recorded_at: last.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            events: head.next.0,
            finished: state.finished.is_some(),
            state_hash: state.finished.as_ref().map(|f| f.state_hash.to_hex()),
            signature,
            check,
        })
    }

    /// The statement as one paragraph (see the module docs for its exact form).
    pub fn text(&self) -> String {
        let finished = match &self.state_hash {
            Some(hash) => format!("finished, state hash {hash}"),
            None => "not finished".to_owned(),
        };
        let signed = match &self.signature {
            Some(s) => format!(
                "signed at event {} over head {}:{} by Ed25519 key {}, signature {}",
                s.event_seq, s.seq, s.head_hash, s.public_key, s.signature
            ),
            None => "not signed".to_owned(),
        };
        format!(
            "lineage campaign {}: head {}:{}, recorded at {} ({} events); {finished}; {signed}. Check: {}",
            self.campaign, self.head_seq, self.head_hash, self.head_recorded_at, self.events, self.check
        )
    }
}

fn signature(event_seq: u64, p: &HeadSigned) -> AnchorSignature {
    AnchorSignature {
        event_seq,
        seq: p.seq,
        head_hash: p.head_hash.to_hex(),
        public_key: p.public_key.clone(),
        signature: p.signature.clone(),
    }
}
