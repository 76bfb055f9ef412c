//! Signed checkpoints of a campaign's head: Ed25519 over a domain-separated message naming the
//! campaign, a position and the hash of the event there ([`head_message`]).
//!
//! A campaign run with a signing key records [`HeadSigned`] events; `lineage verify
//! --public-key` checks them. The chain alone proves nothing against someone who can rewrite
//! the store and recompute every hash; a signature proves that the key holder attested this
//! head, which a rewritten log cannot carry for its rewritten head without the key.
//!
//! The secret is 32 bytes, written as 64 hex digits (in a key file, or the environment variable
//! `LINEAGE_SIGNING_KEY`); it is never recorded. Public keys are 64 hex digits, signatures 128.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, VerifyingKey};

use crate::hash::Hash;
use crate::hex::decode_hex;
use crate::ids::{CampaignId, Seq};
use crate::payload::HeadSigned;

/// The first bytes of every signed message: a signature made for anything else (another
/// program, another lineage message) never verifies as a head signature.
pub const HEAD_SIGNATURE_DOMAIN: &[u8] = b"lineage head signature v1\0";

/// The exact bytes a head signature covers: [`HEAD_SIGNATURE_DOMAIN`], the campaign id (UTF-8),
/// a zero byte, `seq` as 8 bytes big-endian, and the 32 bytes of the event's hash.
pub fn head_message(campaign: &CampaignId, seq: Seq, head_hash: &Hash) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEAD_SIGNATURE_DOMAIN.len() + campaign.as_str().len() + 41);
    message.extend_from_slice(HEAD_SIGNATURE_DOMAIN);
    message.extend_from_slice(campaign.as_str().as_bytes());
    message.push(0);
    message.extend_from_slice(&seq.0.to_be_bytes());
    message.extend_from_slice(&head_hash.0);
    message
}

/// Why a signing key could not be read or made. Tell the user: the key file or variable holds
/// something other than 64 hex digits, or the system gave no randomness for a new key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not a 32-byte secret in hex. The secret itself is never shown.
    #[error(
        "not a signing key: expected the 64 hex digits (32 bytes) that `lineage keygen` writes, found {0} characters"
    )]
    NotHex(usize),
    /// A public key that is not 64 hex digits of a valid Ed25519 point.
    #[error("invalid public key {0:?}: expected the 64 hex digits that `lineage keygen` printed")]
    PublicKey(String),
    /// The operating system's random source failed while making a new key.
    #[error("cannot draw a random key: {0}")]
    Random(String),
}

/// An Ed25519 secret key that signs campaign heads. Its `Debug` form hides the secret.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key())
    }
}

impl SigningKey {
    /// The key whose 32-byte secret is `text` in hex (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let secret = decode_hex::<32>(text).ok_or(KeyError::NotHex(text.len()))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&secret)))
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&secret)))
    }

    /// The secret as 64 hex digits: what a key file holds.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key that checks this key's signatures.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signed checkpoint of `campaign`'s head: event `seq`, whose hash is `head_hash`.
    pub fn sign_head(&self, campaign: &CampaignId, seq: Seq, head_hash: Hash) -> HeadSigned {
        let signature = self.0.sign(&head_message(campaign, seq, &head_hash));
        HeadSigned {
            seq: seq.0,
            head_hash,
            public_key: self.public_key().to_string(),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// An Ed25519 public key, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_hex::<32>(text.trim()).ok_or_else(|| KeyError::PublicKey(text.to_owned()))?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| KeyError::PublicKey(text.to_owned()))
    }
}

/// Why a [`HeadSigned`] event does not hold. Tell the user: the log carries a signature that its
/// key did not make over what it claims (a forged or altered checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The recorded public key is not a valid key.
    #[error("its public key {0:?} is not an Ed25519 key in hex")]
    PublicKey(String),
    /// The recorded signature is not 128 hex digits.
    #[error("its signature is not 128 hex digits")]
    Malformed,
    /// The signature does not verify: not made by that key over that campaign, position and
    /// hash.
    #[error("its signature does not verify for head {seq}:{head_hash} under key {public_key}")]
    Invalid {
        /// The position it claims to sign.
        seq: u64,
        /// The hash it claims to sign.
        head_hash: Hash,
        /// The key it claims.
        public_key: String,
    },
}

impl HeadSigned {
    /// Checks the signature against the key the event names, for `campaign`; returns that key.
    /// (That the key is one you trust, and that event `seq` has hash `head_hash`, are for the
    /// caller to check.)
    pub fn verify(&self, campaign: &CampaignId) -> Result<PublicKey, SignatureError> {
        let key: PublicKey =
            self.public_key.parse().map_err(|_| SignatureError::PublicKey(self.public_key.clone()))?;
        let bytes = decode_hex::<64>(&self.signature).ok_or(SignatureError::Malformed)?;
        let message = head_message(campaign, Seq(self.seq), &self.head_hash);
        key.0.verify_strict(&message, &Signature::from_bytes(&bytes)).map_err(|_| {
            SignatureError::Invalid {
                seq: self.seq,
                head_hash: self.head_hash,
                public_key: self.public_key.clone(),
            }
        })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_hex(&hex::encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_signed_head_verifies_and_any_change_breaks_it() {
        let campaign = CampaignId::new("signed").unwrap();
        let signed = key(7).sign_head(&campaign, Seq(41), Hash::of(b"head"));
        assert_eq!(signed.verify(&campaign).unwrap(), key(7).public_key());
        assert_eq!(signed.public_key.len(), 64);
        assert_eq!(signed.signature.len(), 128);

        let other = CampaignId::new("other").unwrap();
        assert!(matches!(signed.verify(&other), Err(SignatureError::Invalid { .. })), "another campaign");
        let moved = HeadSigned { seq: 42, ..signed.clone() };
        assert!(matches!(moved.verify(&campaign), Err(SignatureError::Invalid { .. })), "another position");
        let rehashed = HeadSigned { head_hash: Hash::of(b"rewritten"), ..signed.clone() };
        assert!(matches!(rehashed.verify(&campaign), Err(SignatureError::Invalid { .. })), "another hash");
        let rekeyed = HeadSigned { public_key: key(8).public_key().to_string(), ..signed.clone() };
        assert!(matches!(rekeyed.verify(&campaign), Err(SignatureError::Invalid { .. })), "another key");
        let garbled = HeadSigned { signature: "00".into(), ..signed };
        assert_eq!(garbled.verify(&campaign), Err(SignatureError::Malformed));
    }

    #[test]
    fn keys_round_trip_through_hex_and_bad_text_is_refused() {
        let fresh = SigningKey::generate().unwrap();
        let again = SigningKey::from_hex(&format!("  {}\n", fresh.to_hex())).unwrap();
        assert_eq!(again.public_key(), fresh.public_key());
        assert_ne!(SigningKey::generate().unwrap().public_key(), fresh.public_key());
        let public = fresh.public_key().to_string();
        assert_eq!(public.parse::<PublicKey>().unwrap(), fresh.public_key());
        assert_eq!(SigningKey::from_hex("abc").unwrap_err(), KeyError::NotHex(3));
        assert!(SigningKey::from_hex(&"g".repeat(64)).is_err());
        assert!("xyz".parse::<PublicKey>().is_err());
        assert!(!format!("{fresh:?}").contains(&fresh.to_hex()), "Debug hides the secret");
    }

    #[test]
    fn the_message_is_domain_campaign_seq_and_hash() {
        let campaign = CampaignId::new("c1").unwrap();
        let hash = Hash([0xab; 32]);
        let message = head_message(&campaign, Seq(258), &hash);
        let mut expected = b"lineage head signature v1\0c1\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        expected.extend_from_slice(&[0xab; 32]);
        assert_eq!(message, expected);
    }
}
