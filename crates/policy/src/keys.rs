//! Keys for keyed hashing, tokenisation, date shifting and substitution.
//! A policy names where a key comes from; the key itself lives only in a
//! [`Keyring`], prepared once for HMAC-SHA256 and never printed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::block_api::compress256;
use sha2::{Digest as _, Sha256};

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
    /// SHA-256 states after the key's inner and outer pad blocks, so that a
    /// short message costs two block compressions and nothing else.
    inner: [u32; 8],
    outer: [u32; 8],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The longest message that fits one block with SHA-256's padding.
const ONE_BLOCK: usize = 55;

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
        // RFC 2104: a key longer than the block is hashed first; then
        // zero-padded to the block and XORed with 0x36 (inner), 0x5c (outer).
        let mut block = [0u8; 64];
        if bytes.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(bytes));
        } else {
            block[..bytes.len()].copy_from_slice(bytes);
        }
        let pad = |byte: u8| {
            let mut state = SHA256_IV;
            compress256(&mut state, &[block.map(|b| b ^ byte)]);
            state
        };
        Ok(Key {
            mac,
            inner: pad(0x36),
            outer: pad(0x5c),
        })
    }

    /// HMAC-SHA256 of the concatenated parts.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > ONE_BLOCK {
            let mut mac = self.mac.clone();
            for part in parts {
                mac.update(part);
            }
            return mac.finalize().into_bytes().into();
        }
        // The message and its padding in one block: 0x80, zeros, and the
        // length in bits of everything hashed (the pad block and the message).
        let mut block = [0u8; 64];
        let mut at = 0;
        for part in parts {
            block[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        block[at] = 0x80;
        block[56..].copy_from_slice(&(((64 + len) * 8) as u64).to_be_bytes());
        let mut state = self.inner;
        compress256(&mut state, &[block]);
        let mut outer = [0u8; 64];
        for (i, word) in state.iter().enumerate() {
            outer[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        outer[32] = 0x80;
        outer[56..].copy_from_slice(&((64 + 32) * 8_u64).to_be_bytes());
        let mut state = self.outer;
        compress256(&mut state, &[outer]);
        let mut out = [0u8; 32];
        for (i, word) in state.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        out
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
    /// unmasked output. A relative key file is read from the current
    /// directory ([`Keyring::from_sources_in`] reads it beside the policy).
    pub fn from_sources(policy: &Policy) -> Result<Self, KeyError> {
        Self::from_sources_in(policy, Path::new(""))
    }

    /// [`Keyring::from_sources`], with relative key files taken from `dir`
    /// (the policy file's folder, say).
    pub fn from_sources_in(policy: &Policy, dir: &Path) -> Result<Self, KeyError> {
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
                    std::fs::read(dir.join(path)).map_err(|e| unavailable(e.kind().to_string()))?
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
        // Short keys, block-sized keys and keys longer than a block; messages
        // of every length around the one-block shortcut, in one or two parts.
        for key_len in [32, 64, 65, 100] {
            let key_bytes: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
            let key = Key::new("k", &key_bytes).expect("a long enough key");
            for len in 0..=130 {
                let message: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
                let mut expected = Hmac::<Sha256>::new_from_slice(&key_bytes).expect("key");
                expected.update(&message);
                let expected: [u8; 32] = expected.finalize().into_bytes().into();
                let (a, b) = message.split_at(len / 3);
                assert_eq!(key.mac(&[a, b]), expected, "key {key_len}, message {len}");
            }
        }
        // RFC 4231, test case 6 (a key longer than a block).
        let key = Key::new("k", &[0xaa; 131]).expect("131 bytes");
        let mac = key.mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(format!("{key:?}"), "Key(..)");
        let e = Key::new("k", b"short").expect_err("5 bytes");
        assert_eq!(
            e.to_string(),
            "[POLICY-0003] key k: 5 bytes, fewer than the 32 required"
        );
    }
}
