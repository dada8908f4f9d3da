//! Deterministic resource ids: FNV-1a (128-bit) over the parts that
//! identify a resource, printed as a version-8 UUID.

use arrayvec::ArrayString;

/// An FNV-1a 128-bit hash being fed identifying parts.
///
/// Each part is followed by the byte `0x1F` (unit separator), so
/// `["ab", "c"]` and `["a", "bc"]` hash differently.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key(u128);

const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

impl Key {
    /// A hash of nothing yet, for resources of type `kind`.
    pub(crate) fn new(kind: &str) -> Self {
        Key(OFFSET).part(kind.as_bytes())
    }

    /// Feeds one part.
    #[inline]
    pub(crate) fn part(mut self, bytes: &[u8]) -> Self {
        let mut h = self.0;
        for &b in bytes {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
        h ^= 0x1f;
        h = h.wrapping_mul(PRIME);
        self.0 = h;
        self
    }

    /// Feeds a number as its decimal digits.
    pub(crate) fn num(self, n: usize) -> Self {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.part(&buf[i..])
    }

    /// The id: the hash as a UUID with version 8 and the RFC 9562 variant.
    pub(crate) fn id(self) -> Id {
        let mut v = self.0;
        v &= !(0xF_u128 << 76);
        v |= 0x8_u128 << 76;
        v &= !(0x3_u128 << 62);
        v |= 0x2_u128 << 62;
        // Where each byte's two digits go: dashes after the 4th, 6th, 8th
        // and 10th byte (8-4-4-4-12).
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut out = [b'-'; 36];
        for (byte, at) in v.to_be_bytes().into_iter().zip(AT) {
            out[at..at + 2].copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
        }
        // Checked once here, so the text is written without checks later.
        let text = ArrayString::from_byte_string(&out).expect("ids are ASCII hex and dashes");
        Id { hash: v, text }
    }
}

/// The two lower-case hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX[b >> 4], HEX[b & 0xF]];
        b += 1;
    }
    t
};

/// A resource id: 36 characters of lower-case UUID text, and the number
/// they print (compared first: ids are compared often).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Id {
    hash: u128,
    text: ArrayString<36>,
}

impl Id {
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_separated() {
        let a = Key::new("Patient").part(b"ab").part(b"c").id();
        let b = Key::new("Patient").part(b"a").part(b"bc").id();
        assert_ne!(a, b);
        assert_eq!(a, Key::new("Patient").part(b"ab").part(b"c").id());
        let s = a.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "8");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn ids_do_not_change_between_releases() {
        // A message resent after an upgrade must map to the same ids:
        // this value is FNV-1a 128 computed independently of this code.
        let id = Key::new("Patient").part(b"ab").part(b"c").id();
        assert_eq!(id.as_str(), "a315b0ca-ef06-8d0e-95a6-7c8d048b0593");
    }
}
