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
        let mut out = [0u8; 36];
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut j = 0;
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                out[j] = b'-';
                j += 1;
            }
            let nib = ((v >> (124 - 4 * i)) & 0xF) as usize;
            out[j] = HEX[nib];
            j += 1;
        }
        Id(out)
    }
}

/// A resource id: 36 characters of lower-case UUID text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Id([u8; 36]);

impl Id {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ids are ASCII hex and dashes")
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
}
