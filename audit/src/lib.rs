//! `lineage-audit`: the audit views of a campaign, as library functions that the command line
//! and a dashboard call alike — its one job is to say what a log records and whether it holds:
//!
//! - [`provenance`]: an architecture's decision chain back to the seed baselines, as text, JSON,
//!   Graphviz DOT and W3C PROV-JSON;
//! - [`counterfactual`]: the campaign re-ranked under other fitness weights or selection rules;
//! - [`summary`]: the leaderboard and the counts, as data (JSON) and as a table;
//! - [`verify()`]: the hash chain (against an anchored head, when given), schemas, references,
//!   internal consistency ([`consistency`]), the end of the log, signed checkpoints (against a
//!   trusted key, when given) and the replayed state hash, as a report of named checks;
//! - [`anchor`]: a verified log's head as a compact statement to publish.
//!
//! It reads the log and folds it with `lineage-replay`; it trains nothing (reproducing a run
//! needs the models, which live elsewhere) and knows nothing of the terminal.

#![warn(missing_docs)]

pub mod anchor;
pub mod consistency;
pub mod counterfactual;
mod leases;
pub mod listing;
pub mod provenance;
mod replies;
pub mod summary;
pub mod verify;

pub use anchor::{Anchor, AnchorError};
pub use counterfactual::{Counterfactual, Policy};
pub use listing::{Listing, Standing};
pub use provenance::{Log, Provenance};
pub use summary::{Row, RowTest, Summary, proposer_label};
pub use verify::{AnchoredHead, Check, Expected, InvalidHead, Verification, verify, verify_against};

use lineage_events::{DecodeError, StoreError};

/// Why an audit view could not read a campaign's log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed, or the log is not intact (the error names the first bad event). Tell
    /// the user; `lineage verify` says more.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event does not decode: written by a broken or incompatible writer. Tell the user.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A stored body is not JSON (the chain held, so it was written that way). Tell the user.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl AuditError {
    /// Whether it is damage to what the store holds ([`StoreError::is_damage`]; an undecodable
    /// event or body always is) rather than the store's failure.
    pub fn is_damage(&self) -> bool {
        match self {
            AuditError::Store(e) => e.is_damage(),
            AuditError::Decode(_) | AuditError::Json(_) => true,
        }
    }
}
