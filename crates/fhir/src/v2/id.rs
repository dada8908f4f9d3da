//! Deterministic resource ids: FNV-1a (128-bit) over the parts that
//! identify a resource, printed as a version-8 UUID.

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
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut j = 0;
        for (i, byte) in v.to_be_bytes().into_iter().enumerate() {
            // Dashes after the 4th, 6th, 8th and 10th byte (8-4-4-4-12).
            if matches!(i, 4 | 6 | 8 | 10) {
                j += 1;
            }
            out[j] = HEX[usize::from(byte >> 4)];
            out[j + 1] = HEX[usize::from(byte & 0xF)];
            j += 2;
        }
        Id { hash: v, text: out }
    }
}

/// A resource id: 36 characters of lower-case UUID text, and the number
/// they print (compared first: ids are compared often).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Id {
    hash: u128,
    text: [u8; 36],
}

impl Id {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("ids are ASCII hex and dashes")
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
