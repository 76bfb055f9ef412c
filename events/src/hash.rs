//! The hash of the chain: `hash_n = SHA-256(hash_{n-1} || body_n)`, with `hash_{-1}` = 32 zero
//! bytes. Checking a chain against this rule is [`crate::chain`]'s work.
//!
//! `body_n` is the exact UTF-8 text the store holds for event `n`, never a re-serialisation, so
//! anyone can check a log with `sqlite3`, `psql` and a SHA-256 tool. SHA-256 rather than BLAKE3
//! for that reason: every language's standard library has it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex::decode_hex;

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first event of every campaign.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// The hash of the event whose stored body is `body`, following the event hashed `prev`.
    pub fn chain(prev: &Hash, body: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(prev.0);
        hasher.update(body);
        Hash(hasher.finalize().into())
    }

    /// SHA-256 of arbitrary bytes (programs, projection states).
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// The digest as hex text.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    /// Hex, written from the stack: a long campaign's state digest writes one per architecture.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0_u8; 64];
        hex::encode_to_slice(self.0, &mut hex).expect("64 hex digits for 32 bytes");
        f.write_str(std::str::from_utf8(&hex).expect("hex is ASCII"))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..12])
    }
}

/// SHA-256 of whatever is written into it: hashes a serialisation as it streams out, without
/// holding it in memory.
#[derive(Default)]
pub struct HashWriter(Sha256);

impl HashWriter {
    /// The digest of everything written.
    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid hash {0:?}: expected 64 hex digits")]
pub struct InvalidHash(pub String);

impl FromStr for Hash {
    type Err = InvalidHash;
    fn from_str(s: &str) -> Result<Self, InvalidHash> {
        decode_hex(s).map(Hash).ok_or_else(|| InvalidHash(s.to_owned()))
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::with_str(deserializer, "a hex SHA-256 hash", str::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_sha256_of_prev_then_body() {
        // Independent check of the documented rule, using a known SHA-256 vector:
        // SHA-256 of 32 zero bytes followed by "abc".
        let mut input = vec![0u8; 32];
        input.extend_from_slice(b"abc");
        assert_eq!(Hash::chain(&Hash::GENESIS, b"abc"), Hash::of(&input));
        assert_eq!(
            Hash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_text_round_trips() {
        let h = Hash::of(b"x");
        assert_eq!(h.to_hex().parse::<Hash>().unwrap(), h);
        assert_eq!(h.to_hex().to_uppercase().parse::<Hash>().unwrap(), h);
        assert!("00".parse::<Hash>().is_err());
        let mut bad = h.to_hex();
        bad.replace_range(63..64, "g");
        assert!(bad.parse::<Hash>().is_err());
        bad.replace_range(63..64, "é");
        assert!(bad.parse::<Hash>().is_err());
        // Every ASCII byte that is not a hex digit is refused, wherever it stands.
        for byte in (0u8..128).filter(|b| !b.is_ascii_hexdigit()) {
            for at in [0, 1, 31, 62, 63] {
                let mut text = h.to_hex().into_bytes();
                text[at] = byte;
                let text = String::from_utf8(text).unwrap();
                assert!(text.parse::<Hash>().is_err(), "{text:?}");
            }
        }
    }
}
