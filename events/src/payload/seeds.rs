//! Seeds as JSON strings. A seed is a full 64-bit value — a derived one is above 2^53 almost
//! always — and the JSON readers researchers use hold numbers as doubles (jq, SQLite's
//! `json_extract`, JavaScript, pandas): they round such a number, so a seed read outside lineage
//! would be wrong. The payload versions that record a seed write it as a decimal string (the
//! table in docs/events.md); [`numbers_to_text`] upcasts the numbers of the versions before.
//! The state hash keeps hashing seeds as numbers: it never depended on a payload's JSON.

use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "seed_text")]`: a `u64` as a decimal string, and only as one.
pub mod seed_text {
    use super::*;

    /// Writes the seed as a decimal string.
    pub fn serialize<S: Serializer>(seed: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(seed)
    }

    /// Reads a decimal string; a number is an error (an old version's number is upcast first).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        crate::text::with_str(deserializer, "a seed as a decimal string", canonical)
    }
}

/// The seed a string writes, only in the form [`seed_text::serialize`] writes it: one value, one
/// text (no sign, no leading zeros).
fn canonical(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|seed| seed.to_string() == text)
        .ok_or_else(|| format!("seed {text:?} is not a u64 in decimal"))
}

/// `#[serde(with = "seeds_text")]`: a list of `u64` as decimal strings.
pub mod seeds_text {
    use serde::ser::SerializeSeq;

    use super::*;

    /// Writes each seed as a decimal string.
    pub fn serialize<S: Serializer>(seeds: &[u64], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(seeds.len()))?;
        for seed in seeds {
            seq.serialize_element(&seed.to_string())?;
        }
        seq.end()
    }

    /// Reads a list of decimal strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|s| canonical(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Rewrites the seeds at `pointers` (JSON pointers into the payload; an absent or null one is
/// skipped: the field is optional there) from numbers to decimal strings. A seed that is not a
/// whole number in `u64`, or is a string already, is an error: the older version wrote numbers.
pub(super) fn numbers_to_text(
    mut value: serde_json::Value,
    pointers: &[&str],
) -> Result<serde_json::Value, String> {
    for pointer in pointers {
        let Some(field) = value.pointer_mut(pointer) else { continue };
        match field {
            serde_json::Value::Null => {}
            serde_json::Value::Array(items) => {
                for item in items {
                    *item = text(item, pointer)?;
                }
            }
            other => *other = text(other, pointer)?,
        }
    }
    Ok(value)
}

fn text(number: &serde_json::Value, pointer: &str) -> Result<serde_json::Value, String> {
    number
        .as_u64()
        .map(|seed| serde_json::Value::String(seed.to_string()))
        .ok_or_else(|| format!("the seed at {pointer} is {number}, not a whole number as this version wrote"))
}
