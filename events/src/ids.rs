//! Identifiers and counters that appear in the log.
//!
//! Every id is a newtype so that a campaign id can never be passed where an architecture id is
//! expected. Persisted counters are `u64`/`u32`, never `usize`, so the log means the same on
//! every platform.

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::limits::ID_LEN_MAX;

/// Position of an event within its campaign: dense, starting at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The position right after this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {kind} {value:?}: use 1-{max} characters from A-Z a-z 0-9 '-' '_' '.'",
    max = ID_LEN_MAX
)]
pub struct InvalidId {
    /// Which kind of id was being parsed ("campaign id", ...).
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
}

fn validate(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let ok = !value.is_empty()
        && value.len() <= ID_LEN_MAX
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(InvalidId { kind, value: value.to_owned() }) }
}

/// Defines a validated string id: safe to print, to put in a URL path and in a SQL parameter.
///
/// Ids are stored inline up to 24 bytes (`CompactString`): a long log holds and decodes
/// millions of them, and almost all are short.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// Validates `value` (1-64 characters from `[A-Za-z0-9._-]`).
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                validate($kind, &value)?;
                Ok(Self(CompactString::from(value)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.into_string()
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                validate($kind, s)?;
                Ok(Self(CompactString::from(s)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::text::with_str(deserializer, concat!("a string: the ", $kind), str::parse)
            }
        }
    };
}

string_id!(
    /// A campaign: one independent log with its own sequence numbers and hash chain.
    CampaignId,
    "campaign id"
);
string_id!(
    /// An architecture (a candidate program), the correlation id of the events about it.
    ArchId,
    "architecture id"
);
string_id!(
    /// One training run of one architecture (an architecture is trained once per stage and seed).
    RunId,
    "run id"
);

impl CampaignId {
    /// A fresh random campaign id such as `c-3f9a0c2d1b7e`.
    pub fn random() -> Self {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("c-{}", &hex[..12]).into())
    }
}

/// Identity of one event: 128 bits, written as 32 lowercase hex digits.
///
/// Events that record a decision get a *derived* id: a hash of the campaign and a key that names
/// the decision (for example `propose/experiment-17`). A writer that crashes after appending and
/// retries the same decision produces the same id, which the store recognises as already
/// appended instead of duplicating it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId([u8; 16]);

impl EventId {
    /// The id of the decision named by `key` within `campaign`; the same inputs always give the
    /// same id.
    pub fn derive(campaign: &CampaignId, key: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"lineage-event-id\0");
        hasher.update(campaign.as_str().as_bytes());
        hasher.update([0u8]);
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }

    /// A random id, for events that record an observation rather than a repeatable decision.
    pub fn random() -> Self {
        Self(*uuid::Uuid::new_v4().as_bytes())
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        let invalid = || InvalidId { kind: "event id", value: s.to_owned() };
        crate::hex::decode_hex(s).map(Self).ok_or_else(invalid)
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::with_str(deserializer, "an event id", str::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let c = CampaignId::new("c1").unwrap();
        assert_eq!(EventId::derive(&c, "a"), EventId::derive(&c, "a"));
        assert_ne!(EventId::derive(&c, "a"), EventId::derive(&c, "b"));
        let other = CampaignId::new("c2").unwrap();
        assert_ne!(EventId::derive(&c, "a"), EventId::derive(&other, "a"));
    }

    #[test]
    fn event_id_text_round_trips() {
        let id = EventId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<EventId>().unwrap(), id);
        assert!("xyz".parse::<EventId>().is_err());
    }

    #[test]
    fn ids_reject_unsafe_text() {
        assert!(CampaignId::new("").is_err());
        assert!(CampaignId::new("a b").is_err());
        assert!(CampaignId::new("x'; drop table").is_err());
        assert!(CampaignId::new("a".repeat(65)).is_err());
        assert!(CampaignId::new("quick-2026.11_a").is_ok());
        let err = serde_json::from_str::<ArchId>("\"bad id\"").unwrap_err();
        assert!(err.to_string().contains("invalid architecture id"));
    }
}
