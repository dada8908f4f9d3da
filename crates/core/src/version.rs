//! Versions of a record and their total order.
//!
//! A [`Version`] says how new one state of a record is. It is ordered first by
//! [`EventTime`] (when the source says the change happened), then by a
//! [`Tiebreaker`] taken from the source: a FHIR `meta.versionId`, an HL7 v2
//! message control id (MSH-10), a PostgreSQL LSN. The merge engine keeps, for
//! every key, the change with the greatest version.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// When a change happened at its source, in microseconds since the Unix epoch (UTC).
///
/// Microseconds match Delta Lake and PostgreSQL timestamps, so an event time
/// survives a round trip through either without rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(i64);

impl EventTime {
    /// The earliest representable time; sorts before every real event.
    pub const MIN: EventTime = EventTime(i64::MIN);

    /// An event time from microseconds since the Unix epoch.
    pub const fn from_unix_micros(micros: i64) -> Self {
        EventTime(micros)
    }

    /// An event time from milliseconds since the Unix epoch, saturating at the
    /// ends of the range.
    pub const fn from_unix_millis(millis: i64) -> Self {
        EventTime(millis.saturating_mul(1_000))
    }

    /// An event time from whole seconds since the Unix epoch, saturating at the
    /// ends of the range.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        EventTime(seconds.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }
}

/// What orders two changes that carry the same [`EventTime`].
///
/// Kinds order as `None < Sequence < Text`; one source should use one kind.
/// Text tiebreakers compare in *natural* order: runs of ASCII digits compare by
/// numeric value, so control id `MSG9` sorts before `MSG10`, and FHIR
/// versionId `"9"` before `"10"`. Texts that are equal in natural order but
/// differ in bytes (`"007"` and `"7"`) are then ordered by their bytes, so the
/// order is total and agrees with equality.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Tiebreaker {
    /// The source gives nothing beyond the event time.
    #[default]
    None,
    /// A number that grows with every change: a PostgreSQL LSN, a numeric
    /// FHIR versionId, a Delta commit version.
    Sequence(u64),
    /// An opaque identifier such as an HL7 v2 message control id.
    Text(Box<str>),
}

impl Tiebreaker {
    /// A text tiebreaker; a text made only of ASCII digits that fits a `u64`
    /// becomes a [`Tiebreaker::Sequence`], so numeric FHIR versionIds and
    /// numeric control ids order the same whichever constructor a parser used.
    /// Leading zeros of such a number are not significant: `"042"` and `"42"`
    /// are the same tiebreaker.
    pub fn from_text(text: &str) -> Self {
        if !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = text.parse::<u64>()
        {
            return Tiebreaker::Sequence(n);
        }
        Tiebreaker::Text(text.into())
    }

    fn rank(&self) -> u8 {
        match self {
            Tiebreaker::None => 0,
            Tiebreaker::Sequence(_) => 1,
            Tiebreaker::Text(_) => 2,
        }
    }
}

impl Ord for Tiebreaker {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Tiebreaker::Sequence(a), Tiebreaker::Sequence(b)) => a.cmp(b),
            (Tiebreaker::Text(a), Tiebreaker::Text(b)) => natural_cmp(a, b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Tiebreaker {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Natural order of two texts, total and consistent with byte equality.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let (run_x, next_i) = digit_run(x, i);
            let (run_y, next_j) = digit_run(y, j);
            let (sig_x, sig_y) = (trim_zeros(run_x), trim_zeros(run_y));
            let by_value = sig_x.len().cmp(&sig_y.len()).then_with(|| sig_x.cmp(sig_y));
            if by_value != Ordering::Equal {
                return by_value;
            }
            i = next_i;
            j = next_j;
        } else {
            match x[i].cmp(&y[j]) {
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
                other => return other,
            }
        }
    }
    let by_rest = (x.len() - i).cmp(&(y.len() - j));
    by_rest.then_with(|| x.cmp(y))
}

fn digit_run(bytes: &[u8], start: usize) -> (&[u8], usize) {
    let end = bytes[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(bytes.len(), |n| start + n);
    (&bytes[start..end], end)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}

/// The version of one state of a record: event time, then tiebreaker.
///
/// ```
/// use caresync_core::{EventTime, Tiebreaker, Version};
///
/// let t = EventTime::from_unix_seconds(1_700_000_000);
/// let first = Version::new(t, Tiebreaker::from_text("MSG9"));
/// let second = Version::new(t, Tiebreaker::from_text("MSG10"));
/// let later = Version::new(EventTime::from_unix_seconds(1_700_000_001), Tiebreaker::None);
/// assert!(first < second && second < later);
///
/// // The canonical text form round-trips.
/// assert_eq!(second.to_string(), "1700000000000000:tMSG10");
/// assert_eq!("1700000000000000:tMSG10".parse::<Version>(), Ok(second));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    time: EventTime,
    tiebreaker: Tiebreaker,
}

impl Default for EventTime {
    fn default() -> Self {
        EventTime::MIN
    }
}

impl Version {
    /// A version from its parts.
    pub const fn new(time: EventTime, tiebreaker: Tiebreaker) -> Self {
        Version { time, tiebreaker }
    }

    /// When the change happened at its source.
    pub const fn time(&self) -> EventTime {
        self.time
    }

    /// What orders changes with the same event time.
    pub const fn tiebreaker(&self) -> &Tiebreaker {
        &self.tiebreaker
    }
}

/// The canonical text form: `<micros>:-`, `<micros>:s<number>` or `<micros>:t<text>`.
///
/// It is how versions are stored in string columns and DLQ rows. Version
/// tiebreakers are source identifiers (control ids, LSNs), never patient values.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.time.0)?;
        match &self.tiebreaker {
            Tiebreaker::None => f.write_str("-"),
            Tiebreaker::Sequence(n) => write!(f, "s{n}"),
            Tiebreaker::Text(t) => write!(f, "t{t}"),
        }
    }
}

/// Why a text is not a canonical [`Version`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionParseError {
    /// There is no `:` between the event time and the tiebreaker.
    #[error("version has no ':' separator")]
    MissingSeparator,
    /// The event time is not a decimal `i64`.
    #[error("version event time is not a whole number of microseconds")]
    BadEventTime,
    /// The tiebreaker does not start with `-`, `s` or `t`, or has text after `-`.
    #[error("version tiebreaker kind at byte {position} is not '-', 's' or 't'")]
    BadTiebreakerKind {
        /// Byte offset of the tiebreaker within the input.
        position: usize,
    },
    /// A sequence tiebreaker is not a decimal `u64`.
    #[error("version sequence at byte {position} is not a whole number")]
    BadSequence {
        /// Byte offset of the sequence within the input.
        position: usize,
    },
}

impl FromStr for Version {
    type Err = VersionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (time, rest) = s
            .split_once(':')
            .ok_or(VersionParseError::MissingSeparator)?;
        let digits = time.strip_prefix('-').unwrap_or(time);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionParseError::BadEventTime);
        }
        let micros: i64 = time.parse().map_err(|_| VersionParseError::BadEventTime)?;
        let position = time.len() + 1;
        let tiebreaker = match rest.as_bytes().first() {
            Some(b'-') if rest.len() == 1 => Tiebreaker::None,
            Some(b's') => {
                let n = &rest[1..];
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VersionParseError::BadSequence {
                        position: position + 1,
                    });
                }
                Tiebreaker::Sequence(n.parse().map_err(|_| VersionParseError::BadSequence {
                    position: position + 1,
                })?)
            }
            Some(b't') => Tiebreaker::Text(rest[1..].into()),
            _ => return Err(VersionParseError::BadTiebreakerKind { position }),
        };
        Ok(Version::new(EventTime(micros), tiebreaker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(s: &str) -> Tiebreaker {
        Tiebreaker::Text(s.into())
    }

    #[test]
    fn natural_order_of_control_ids() {
        let mut ids = ["MSG10", "MSG9", "MSG009", "MSG1", "MSG1a", "MSG", "msg2"].map(text);
        ids.sort();
        let sorted: Vec<String> = ids
            .iter()
            .map(|t| match t {
                Tiebreaker::Text(s) => s.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sorted,
            ["MSG", "MSG1", "MSG1a", "MSG009", "MSG9", "MSG10", "msg2"]
        );
    }

    #[test]
    fn huge_digit_runs_compare_by_value_without_overflow() {
        let small = text("A99999999999999999999999999");
        let big = text("A100000000000000000000000000");
        assert!(small < big);
    }

    #[test]
    fn numeric_text_becomes_a_sequence() {
        assert_eq!(Tiebreaker::from_text("42"), Tiebreaker::Sequence(42));
        assert_eq!(Tiebreaker::from_text("042"), Tiebreaker::Sequence(42));
        assert_eq!(Tiebreaker::from_text("4a"), text("4a"));
        assert_eq!(Tiebreaker::from_text(""), text(""));
        // Too big for u64: stays text, still ordered after smaller numbers' texts.
        assert_eq!(
            Tiebreaker::from_text("99999999999999999999999"),
            text("99999999999999999999999")
        );
    }

    #[test]
    fn event_time_decides_before_tiebreaker() {
        let early = Version::new(EventTime::from_unix_millis(1), text("Z"));
        let late = Version::new(EventTime::from_unix_millis(2), Tiebreaker::None);
        assert!(early < late);
    }

    #[test]
    fn parse_errors_name_the_position() {
        assert_eq!(
            "12".parse::<Version>(),
            Err(VersionParseError::MissingSeparator)
        );
        assert_eq!(
            "x:-".parse::<Version>(),
            Err(VersionParseError::BadEventTime)
        );
        assert_eq!(
            "+1:-".parse::<Version>(),
            Err(VersionParseError::BadEventTime)
        );
        assert_eq!(
            "12:q".parse::<Version>(),
            Err(VersionParseError::BadTiebreakerKind { position: 3 })
        );
        assert_eq!(
            "12:-x".parse::<Version>(),
            Err(VersionParseError::BadTiebreakerKind { position: 3 })
        );
        assert_eq!(
            "12:s".parse::<Version>(),
            Err(VersionParseError::BadSequence { position: 4 })
        );
        assert_eq!(
            "12:s99999999999999999999".parse::<Version>(),
            Err(VersionParseError::BadSequence { position: 4 })
        );
    }

    fn any_tiebreaker() -> impl Strategy<Value = Tiebreaker> {
        prop_oneof![
            Just(Tiebreaker::None),
            any::<u64>().prop_map(Tiebreaker::Sequence),
            "[A-Z0-9:]{0,8}".prop_map(|s| Tiebreaker::Text(s.into())),
        ]
    }

    fn any_version() -> impl Strategy<Value = Version> {
        (any::<i64>(), any_tiebreaker()).prop_map(|(t, tb)| Version::new(EventTime(t), tb))
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(v in any_version()) {
            prop_assert_eq!(v.to_string().parse::<Version>(), Ok(v));
        }

        #[test]
        fn order_is_total_and_agrees_with_equality(a in any_version(), b in any_version()) {
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        }

        #[test]
        fn order_is_transitive(a in any_tiebreaker(), b in any_tiebreaker(), c in any_tiebreaker()) {
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            if a >= b && b >= c {
                prop_assert!(a >= c);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<Version>();
        }
    }
}
