//! Log sequence numbers.

use std::fmt;
use std::str::FromStr;

/// A position in PostgreSQL's write-ahead log, printed as PostgreSQL prints
/// it (`16/B374D848`: the high and low 32 bits in hexadecimal).
///
/// ```
/// use caresync_cdc::Lsn;
///
/// let lsn: Lsn = "16/B374D848".parse()?;
/// assert_eq!(lsn.as_u64(), 0x16_B374_D848);
/// assert_eq!(lsn.to_string(), "16/B374D848");
/// # Ok::<(), caresync_cdc::ParseLsnError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The invalid position `0/0`, which PostgreSQL uses for "none".
    pub const INVALID: Lsn = Lsn(0);

    /// The position as one number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The position as a Delta application transaction version or an Arrow
    /// `Int64` value. Positions fit: PostgreSQL would need to write 8 EiB
    /// of WAL to reach the sign bit.
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// The position from an `Int64` written by [`Lsn::as_i64`]; negative
    /// numbers give `None`.
    pub fn from_i64(value: i64) -> Option<Lsn> {
        u64::try_from(value).ok().map(Lsn)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// A text that is not an LSN of the form `HIGH/LOW` in hexadecimal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[CDC-0001] not a WAL position (expected HIGH/LOW in hexadecimal)")]
pub struct ParseLsnError;

impl FromStr for Lsn {
    type Err = ParseLsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (high, low) = s.split_once('/').ok_or(ParseLsnError)?;
        let part = |p: &str| {
            if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseLsnError);
            }
            u32::from_str_radix(p, 16).map_err(|_| ParseLsnError)
        };
        Ok(Lsn((u64::from(part(high)?) << 32) | u64::from(part(low)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_postgresql() {
        for text in ["0/0", "0/16B3748", "FFFFFFFF/FFFFFFFF", "1/0"] {
            let lsn: Lsn = text.parse().expect("valid");
            assert_eq!(lsn.to_string(), text);
        }
        assert_eq!("0/16b3748".parse::<Lsn>().map(Lsn::as_u64), Ok(0x16B_3748));
        for bad in ["", "0", "/1", "1/", "G/0", "1/2/3", "123456789/0", "+1/0"] {
            assert_eq!(bad.parse::<Lsn>(), Err(ParseLsnError), "{bad}");
        }
    }

    #[test]
    fn orders_as_numbers() {
        let a: Lsn = "0/FFFFFFFF".parse().expect("valid");
        let b: Lsn = "1/0".parse().expect("valid");
        assert!(a < b);
        assert_eq!(Lsn::from_i64(b.as_i64()), Some(b));
        assert_eq!(Lsn::from_i64(-1), None);
    }
}
