//! Keys for keyed hashing, tokenisation, date shifting and substitution.
//! A policy names where a key comes from; the key itself lives only in a
//! [`Keyring`], prepared once for HMAC-SHA256 and never printed.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::model::{KeySource, Policy};

/// The shortest key accepted, in bytes (HMAC-SHA256's output size).
pub const MIN_KEY_BYTES: usize = 32;

/// A key that cannot be used. Names the key and its source, never its bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The source holds nothing.
    #[error("[POLICY-0003] key {name}: {origin} is not set or cannot be read ({reason})")]
    Unavailable {
        /// The key's name in the policy.
        name: String,
        /// Where it was looked for.
        origin: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The key is too short.
    #[error("[POLICY-0003] key {name}: {len} bytes, fewer than the 32 required")]
    TooShort {
        /// The key's name in the policy.
        name: String,
        /// Its length.
        len: usize,
    },
}

impl KeyError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        "POLICY-0003"
    }
}

/// One key, ready for HMAC-SHA256.
#[derive(Clone)]
pub struct Key {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A key from its bytes; at least [`MIN_KEY_BYTES`] long.
    pub fn new(name: &str, bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                name: name.to_owned(),
                len: bytes.len(),
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(bytes).map_err(|_| KeyError::TooShort {
            name: name.to_owned(),
            len: bytes.len(),
        })?;
        Ok(Key { mac })
    }

    /// HMAC-SHA256 of the concatenated parts.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The keys a policy's rules use, by name.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: BTreeMap<String, Key>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key `name`.
    pub fn insert(&mut self, name: &str, bytes: &[u8]) -> Result<(), KeyError> {
        self.keys.insert(name.to_owned(), Key::new(name, bytes)?);
        Ok(())
    }

    /// The key `name`.
    pub fn get(&self, name: &str) -> Option<&Key> {
        self.keys.get(name)
    }

    /// Reads every key `policy` declares from its environment variable or
    /// file. The key is the bytes as given (one trailing newline dropped),
    /// so a 64-digit hex or a 44-character base64 text works as is. A key
    /// that is missing or short is an error; nothing falls back to
    /// unmasked output.
    pub fn from_sources(policy: &Policy) -> Result<Self, KeyError> {
        let mut ring = Keyring::new();
        for (name, source) in &policy.keys {
            let unavailable = |reason: String| KeyError::Unavailable {
                name: name.clone(),
                origin: source.to_string(),
                reason,
            };
            let mut bytes = match source {
                KeySource::Env(var) => std::env::var_os(var)
                    .ok_or_else(|| unavailable("not set".to_owned()))?
                    .into_encoded_bytes(),
                KeySource::File(path) => {
                    std::fs::read(path).map_err(|e| unavailable(e.kind().to_string()))?
                }
            };
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            ring.insert(name, &bytes)?;
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hmac_sha256_and_never_shown() {
        // The parts are one message: the same MAC as over their concatenation.
        let key = Key::new("k", &[0x0b; 32]).expect("32 bytes");
        let mut expected = Hmac::<Sha256>::new_from_slice(&[0x0b; 32]).expect("key");
        expected.update(b"Hi There");
        let expected: [u8; 32] = expected.finalize().into_bytes().into();
        assert_eq!(key.mac(&[b"Hi ", b"There"]), expected);
        assert_eq!(format!("{key:?}"), "Key(..)");
        let e = Key::new("k", b"short").expect_err("5 bytes");
        assert_eq!(
            e.to_string(),
            "[POLICY-0003] key k: 5 bytes, fewer than the 32 required"
        );
    }
}
