//! HL7 v2 date/time values: the `DTM` type, and the first component of `TS`.
//!
//! A value has the form `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`: a
//! year, then as many further two-digit components as the sender knows, an
//! optional fraction of a second of one to four digits, and an optional
//! offset from UTC as `+HHMM` or `-HHMM`. [`Timestamp::parse`] reads one
//! such value from raw field bytes, keeps how precise it was
//! ([`Precision`]), and prints it back unchanged ([`Timestamp`]'s `Display`).
//! [`Timestamp::to_event_time`] turns it into a UTC instant.
//!
//! ```
//! use caresync_hl7v2::time::{Part, Precision, Timestamp, TimestampError};
//!
//! // MSH-7 of a message sent from New York on a leap day.
//! let sent = Timestamp::parse(b"20240229123456.1234-0500")?;
//! assert_eq!(sent.precision(), Precision::Fraction(4));
//! assert_eq!((sent.month(), sent.day(), sent.hour()), (2, 29, 12));
//! assert_eq!(sent.offset_minutes(), Some(-300));
//! assert_eq!(sent.to_string(), "20240229123456.1234-0500");
//! // 17:34:56.1234 UTC; the sender's own offset wins over the default.
//! assert_eq!(sent.to_event_time(0).as_unix_micros(), 1_709_228_096_123_400);
//!
//! // A bare date is the start of that day, at the offset the caller supplies.
//! let day: Timestamp = "19700102".parse()?;
//! assert_eq!(day.precision(), Precision::Day);
//! assert_eq!(day.unix_micros(0), 86_400_000_000);
//! assert_eq!(day.unix_micros(60), 82_800_000_000);
//!
//! // Errors name the byte and what was expected, never the value itself.
//! let err = Timestamp::parse(b"20240230").unwrap_err();
//! assert_eq!(err, TimestampError::OutOfRange { offset: 6, part: Part::Day });
//! assert_eq!(err.code().code(), "HL7-0104");
//! assert_eq!(
//!     err.to_string(),
//!     "day of the month at byte 6 is out of range (expected 01 to the last day of the month)",
//! );
//! # Ok::<(), TimestampError>(())
//! ```
//!
//! # What is accepted
//!
//! The grammar above, plus these choices for what HL7 leaves open or
//! senders get wrong:
//!
//! - **Years** `0001` to `9999`. Year `0000` is refused: senders use
//!   `00000000` as a placeholder for "unknown", and it must not become a date.
//! - **Calendar** is the proleptic Gregorian one: month `01`-`12`, day
//!   within its month (29 February only in leap years: 2000 and 2024 are,
//!   1900 is not), hour `00`-`23`, minute and second `00`-`59`. A leap second
//!   (`60`) is refused: Unix time cannot represent it, no sender we know
//!   emits one, and accepting `60` everywhere would let typos through.
//! - **Fraction** of a second: only after seconds, one to four digits (as
//!   HL7 defines); a fifth digit is an error rather than silently dropped.
//! - **Offset** `+HHMM` or `-HHMM`, after any component, with minutes
//!   `00`-`59` and a value from `-1200` to `+1400` (the offsets in use on
//!   Earth). `-0000` is read as `+0000`.
//! - **`Z`** (upper case only), where an offset may stand, is read as
//!   `+0000`. HL7 does not define it, but ISO 8601 minded senders append it
//!   and its meaning is unambiguous. It prints back as `+0000`.
//! - **Nothing else**: no separators (`-`, `:`, `T`), no surrounding spaces,
//!   no two-digit offsets, no `^` precision component (older `TS` values
//!   carry a degree of precision in a second component; pass only the first
//!   component: the digits present already say how precise the value is).
//!
//! Printing is canonical, so parse followed by print is the identity for
//! every value accepted except those spelled with `Z` or `-0000`.
//!
//! Parsing never panics and reads each byte at most once: an error is
//! reported at the first byte that does not fit.

use std::fmt;
use std::str::FromStr;

use caresync_core::calendar::days_from_civil;
use caresync_core::{ErrorClass, ErrorCode, EventTime};

/// How much of a date/time the sender gave; absent parts are the start of
/// the period (month 1, day 1, midnight).
///
/// Precisions are ordered from coarse to fine:
/// `Year < Month < ... < Second < Fraction(1) < ... < Fraction(4)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// `YYYY`.
    Year,
    /// `YYYYMM`.
    Month,
    /// `YYYYMMDD`.
    Day,
    /// `YYYYMMDDHH`.
    Hour,
    /// `YYYYMMDDHHMM`.
    Minute,
    /// `YYYYMMDDHHMMSS`.
    Second,
    /// `YYYYMMDDHHMMSS.S` to `YYYYMMDDHHMMSS.SSSS`: the number of fraction
    /// digits, always 1 to 4.
    Fraction(u8),
}

/// A parsed HL7 v2 date/time, exactly as precise as the sender wrote it.
///
/// Parts the sender did not give read as the start of the period: a value
/// of [`Precision::Day`] has `hour() == 0`, one of [`Precision::Year`] has
/// `month() == 1` and `day() == 1`. Equality is of the written value (`2024`
/// and `20240101` differ), not of the instant: compare
/// [`Timestamp::to_event_time`] results to compare instants.
///
/// A timestamp may be a birth date, which is patient data, so `Debug` shows
/// only its precision and whether it has an offset; `Display` prints the
/// value (for writing HL7 back, not for logs).
///
/// ```
/// use caresync_hl7v2::time::{Precision, Timestamp};
///
/// let ts = Timestamp::parse(b"202403").expect("a month");
/// assert_eq!((ts.year(), ts.month(), ts.day()), (2024, 3, 1));
/// assert_eq!(ts.precision(), Precision::Month);
/// assert_eq!(format!("{ts:?}"), "Timestamp { precision: Month, has_offset: false, value: <redacted> }");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    micros: u32,
    precision: Precision,
    offset_minutes: Option<i16>,
}

impl Timestamp {
    /// Parses one date/time value from the raw bytes of a field or component.
    ///
    /// See the [module documentation](self) for the accepted forms. Any byte
    /// sequence is safe to pass, including non-ASCII and very long ones.
    pub fn parse(bytes: &[u8]) -> Result<Self, TimestampError> {
        parse(bytes)
    }

    /// The year, 1 to 9999.
    pub const fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1 to 12; 1 when the precision is [`Precision::Year`].
    pub const fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month, from 1; 1 when not given.
    pub const fn day(&self) -> u8 {
        self.day
    }

    /// The hour, 0 to 23; 0 when not given.
    pub const fn hour(&self) -> u8 {
        self.hour
    }

    /// The minute, 0 to 59; 0 when not given.
    pub const fn minute(&self) -> u8 {
        self.minute
    }

    /// The second, 0 to 59; 0 when not given.
    pub const fn second(&self) -> u8 {
        self.second
    }

    /// The fraction of the second in microseconds, 0 to 999 900 (HL7 gives
    /// at most four digits, so the last two are always zero); 0 when not
    /// given.
    pub const fn micros(&self) -> u32 {
        self.micros
    }

    /// How much of the value the sender gave.
    pub const fn precision(&self) -> Precision {
        self.precision
    }

    /// The sender's offset from UTC in minutes (east positive, so `-0500` is
    /// `-300`), when the value carries one.
    pub const fn offset_minutes(&self) -> Option<i16> {
        self.offset_minutes
    }

    /// The instant this value names, in microseconds since the Unix epoch.
    ///
    /// Parts not given are the start of their period (`2024` is
    /// `2024-01-01T00:00:00`). A value without an offset is read at
    /// `default_offset_minutes` (east positive): HL7 says such a value is in
    /// the sender's local time, which only the caller can know, typically
    /// from the offset in MSH-7 or the feed's configuration. The default is
    /// used as given, without a range check.
    pub const fn unix_micros(&self, default_offset_minutes: i16) -> i64 {
        let offset = match self.offset_minutes {
            Some(offset) => offset,
            None => default_offset_minutes,
        };
        let days = days_from_civil(self.year as i64, self.month as i64, self.day as i64);
        let seconds =
            days * 86_400 + self.hour as i64 * 3_600 + self.minute as i64 * 60 + self.second as i64
                - offset as i64 * 60;
        // Years 1..=9999 are about ±3.2e17 µs, far inside i64.
        seconds * 1_000_000 + self.micros as i64
    }

    /// The instant this value names, as the merge engine's [`EventTime`];
    /// see [`Timestamp::unix_micros`] for how missing parts and a missing
    /// offset are filled in.
    pub const fn to_event_time(&self, default_offset_minutes: i16) -> EventTime {
        EventTime::from_unix_micros(self.unix_micros(default_offset_minutes))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Timestamp {{ precision: {:?}, has_offset: {}, value: <redacted> }}",
            self.precision,
            self.offset_minutes.is_some()
        )
    }
}

/// The canonical HL7 form at the value's own precision, e.g.
/// `20240229123456.1234-0500` or `19600704`; offsets print as `+HHMM` or
/// `-HHMM` (zero as `+0000`).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        let parts = [
            (Precision::Month, self.month),
            (Precision::Day, self.day),
            (Precision::Hour, self.hour),
            (Precision::Minute, self.minute),
            (Precision::Second, self.second),
        ];
        for (precision, value) in parts {
            if self.precision >= precision {
                write!(f, "{value:02}")?;
            }
        }
        if let Precision::Fraction(digits) = self.precision {
            // `digits` is 1..=4 by construction.
            let width = usize::from(digits);
            let scaled = self.micros / 10u32.pow(6 - u32::from(digits));
            write!(f, ".{scaled:0width$}")?;
        }
        if let Some(offset) = self.offset_minutes {
            let sign = if offset < 0 { '-' } else { '+' };
            let abs = offset.unsigned_abs();
            write!(f, "{sign}{:02}{:02}", abs / 60, abs % 60)?;
        }
        Ok(())
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s.as_bytes())
    }
}

/// A part of a date/time value, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// `YYYY`.
    Year,
    /// `MM` after the year.
    Month,
    /// `DD`.
    Day,
    /// `HH`.
    Hour,
    /// `MM` after the hour.
    Minute,
    /// `SS`.
    Second,
    /// The digits after `.`.
    Fraction,
    /// `+HHMM` or `-HHMM`.
    Offset,
}

impl Part {
    /// The name used in error messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Part::Year => "year",
            Part::Month => "month",
            Part::Day => "day of the month",
            Part::Hour => "hour",
            Part::Minute => "minute",
            Part::Second => "second",
            Part::Fraction => "fraction of a second",
            Part::Offset => "time zone offset",
        }
    }

    const fn digits(self) -> &'static str {
        match self {
            Part::Year => "four digits",
            Part::Fraction => "one to four digits",
            Part::Offset => "four digits (HHMM)",
            Part::Month | Part::Day | Part::Hour | Part::Minute | Part::Second => "two digits",
        }
    }

    const fn range(self) -> &'static str {
        match self {
            Part::Year => "0001 to 9999",
            Part::Month => "01 to 12",
            Part::Day => "01 to the last day of the month",
            Part::Hour => "00 to 23",
            Part::Minute => "00 to 59",
            Part::Second => "00 to 59, no leap second",
            Part::Fraction => "0 to 9999",
            Part::Offset => "-1200 to +1400 with minutes 00 to 59",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the parser would have accepted where it met an unexpected byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// The next two-digit component, a time zone offset, or the end.
    DigitsOffsetOrEnd,
    /// `.` and a fraction of a second, a time zone offset, or the end.
    FractionOffsetOrEnd,
    /// A time zone offset or the end.
    OffsetOrEnd,
    /// The end of the value.
    End,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::DigitsOffsetOrEnd => "two more digits, '+', '-', 'Z' or the end",
            Expected::FractionOffsetOrEnd => "'.', '+', '-', 'Z' or the end",
            Expected::OffsetOrEnd => "'+', '-', 'Z' or the end",
            Expected::End => "the end of the value",
        })
    }
}

/// Why bytes are not an HL7 v2 date/time.
///
/// Offsets are in bytes from the start of the value. No variant holds or
/// prints any part of the value: it may be a birth date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The value has no bytes at all.
    #[error("date/time is empty")]
    Empty,
    /// A component is cut short or holds a byte that is not an ASCII digit.
    #[error("expected {} for the {part} at byte {offset}", .part.digits())]
    ExpectedDigits {
        /// Where the missing or non-digit byte is (the value's length when it
        /// ends too early).
        offset: usize,
        /// The component being read.
        part: Part,
    },
    /// A complete value is followed by a byte that cannot come next.
    #[error("unexpected byte at {offset}: expected {expected}")]
    UnexpectedByte {
        /// Where the byte is.
        offset: usize,
        /// What could have come there instead.
        expected: Expected,
    },
    /// A component is well formed but not a valid value: month 13, 30
    /// February, hour 24, second 60, offset +1500, year 0000.
    #[error("{part} at byte {offset} is out of range (expected {})", .part.range())]
    OutOfRange {
        /// Where the component starts (for an offset, its sign).
        offset: usize,
        /// The component.
        part: Part,
    },
    /// The fraction of a second has a fifth digit.
    #[error("fraction of a second has more than four digits (fifth digit at byte {offset})")]
    FractionTooLong {
        /// Where the fifth digit is.
        offset: usize,
    },
}

const EMPTY: ErrorCode = ErrorCode::new(ErrorClass::Parse, "HL7-0101", "date/time is empty");
const EXPECTED_DIGITS: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "HL7-0102",
    "date/time component is cut short or not digits",
);
const UNEXPECTED_BYTE: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "HL7-0103",
    "unexpected byte after a date/time component",
);
const OUT_OF_RANGE: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "HL7-0104",
    "date/time component out of range",
);
const FRACTION_TOO_LONG: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "HL7-0105",
    "fraction of a second longer than four digits",
);

/// Every code a [`TimestampError`] can have (`HL7-0101` to `HL7-0105`; up
/// to `HL7-0109` is reserved for this module).
pub const CODES: &[ErrorCode] = &[
    EMPTY,
    EXPECTED_DIGITS,
    UNEXPECTED_BYTE,
    OUT_OF_RANGE,
    FRACTION_TOO_LONG,
];

impl TimestampError {
    /// The stable code of this error, for dead-letter rows and metrics.
    pub const fn code(&self) -> ErrorCode {
        match self {
            TimestampError::Empty => EMPTY,
            TimestampError::ExpectedDigits { .. } => EXPECTED_DIGITS,
            TimestampError::UnexpectedByte { .. } => UNEXPECTED_BYTE,
            TimestampError::OutOfRange { .. } => OUT_OF_RANGE,
            TimestampError::FractionTooLong { .. } => FRACTION_TOO_LONG,
        }
    }

    /// The byte offset within the value where parsing failed (0 for
    /// [`TimestampError::Empty`]); add the field's own offset for a position
    /// in the message.
    pub const fn offset(&self) -> usize {
        match *self {
            TimestampError::Empty => 0,
            TimestampError::ExpectedDigits { offset, .. }
            | TimestampError::UnexpectedByte { offset, .. }
            | TimestampError::OutOfRange { offset, .. }
            | TimestampError::FractionTooLong { offset } => offset,
        }
    }
}

/// Most fraction digits HL7 allows.
const MAX_FRACTION_DIGITS: usize = 4;
/// Offsets in use on Earth: UTC-12:00 to UTC+14:00, in minutes.
const OFFSET_RANGE: std::ops::RangeInclusive<i16> = -720..=840;

fn parse(bytes: &[u8]) -> Result<Timestamp, TimestampError> {
    if bytes.is_empty() {
        return Err(TimestampError::Empty);
    }
    let year = digits(bytes, 0, 4, Part::Year)?;
    if year == 0 {
        return Err(TimestampError::OutOfRange {
            offset: 0,
            part: Part::Year,
        });
    }
    let mut ts = Timestamp {
        year: narrow(year),
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        micros: 0,
        precision: Precision::Year,
        offset_minutes: None,
    };
    let mut pos = 4;

    // Each further component is two digits; a non-digit ends the sequence.
    let steps = [
        (Part::Month, Precision::Month),
        (Part::Day, Precision::Day),
        (Part::Hour, Precision::Hour),
        (Part::Minute, Precision::Minute),
        (Part::Second, Precision::Second),
    ];
    for (part, precision) in steps {
        if !bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            break;
        }
        let value = digits(bytes, pos, 2, part)?;
        let valid = match part {
            Part::Month => (1..=12).contains(&value),
            Part::Day => value >= 1 && value <= days_in_month(year, u32::from(ts.month)),
            Part::Hour => value <= 23,
            _ => value <= 59,
        };
        if !valid {
            return Err(TimestampError::OutOfRange { offset: pos, part });
        }
        let value = narrow(value);
        match part {
            Part::Month => ts.month = value,
            Part::Day => ts.day = value,
            Part::Hour => ts.hour = value,
            Part::Minute => ts.minute = value,
            _ => ts.second = value,
        }
        ts.precision = precision;
        pos += 2;
    }

    let mut expected = match ts.precision {
        Precision::Second => Expected::FractionOffsetOrEnd,
        _ => Expected::DigitsOffsetOrEnd,
    };

    if ts.precision == Precision::Second && bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        let mut fraction = 0u32;
        while let Some(&b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            if pos - start == MAX_FRACTION_DIGITS {
                return Err(TimestampError::FractionTooLong { offset: pos });
            }
            fraction = fraction * 10 + u32::from(b - b'0');
            pos += 1;
        }
        let count = pos - start;
        if count == 0 {
            return Err(TimestampError::ExpectedDigits {
                offset: pos,
                part: Part::Fraction,
            });
        }
        // count is 1..=4, so the scale is 10^2..=10^5.
        let count = narrow(count);
        ts.micros = fraction * 10u32.pow(6 - u32::from(count));
        ts.precision = Precision::Fraction(count);
        expected = Expected::OffsetOrEnd;
    }

    match bytes.get(pos) {
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(bytes, pos + 1, 2, Part::Offset)?;
            let minutes = digits(bytes, pos + 3, 2, Part::Offset)?;
            // At most 99 * 60 + 99, well inside i16.
            let magnitude: i16 = narrow(hours * 60 + minutes);
            let offset = if sign == b'-' { -magnitude } else { magnitude };
            if minutes > 59 || !OFFSET_RANGE.contains(&offset) {
                return Err(TimestampError::OutOfRange {
                    offset: pos,
                    part: Part::Offset,
                });
            }
            ts.offset_minutes = Some(offset);
            pos += 5;
            expected = Expected::End;
        }
        Some(b'Z') => {
            ts.offset_minutes = Some(0);
            pos += 1;
            expected = Expected::End;
        }
        _ => {}
    }

    if pos < bytes.len() {
        return Err(TimestampError::UnexpectedByte {
            offset: pos,
            expected,
        });
    }
    Ok(ts)
}

/// Reads exactly `count` ASCII digits starting at `start`.
fn digits(bytes: &[u8], start: usize, count: usize, part: Part) -> Result<u32, TimestampError> {
    let mut value = 0u32;
    for offset in start..start + count {
        match bytes.get(offset) {
            Some(&b) if b.is_ascii_digit() => value = value * 10 + u32::from(b - b'0'),
            _ => return Err(TimestampError::ExpectedDigits { offset, part }),
        }
    }
    Ok(value)
}

/// Converts a value the grammar has already bounded to a narrower type.
fn narrow<T: TryFrom<U>, U>(value: U) -> T {
    T::try_from(value)
        .ok()
        .expect("the grammar bounds this value to the target type")
}

const fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};
    use proptest::prelude::*;

    /// Shows what a user sees for one input: the canonical form, precision,
    /// offset and instant (UTC, default offset 0), or the error code and message.
    fn show(input: &str) -> String {
        match Timestamp::parse(input.as_bytes()) {
            Ok(ts) => format!(
                "{ts} {:?} offset={:?} unix_micros={}",
                ts.precision(),
                ts.offset_minutes(),
                ts.unix_micros(0)
            ),
            Err(e) => format!("{}: {e}", e.code()),
        }
    }

    fn check(input: &str, expect: Expect) {
        expect.assert_eq(&show(input));
    }

    #[test]
    fn every_precision() {
        check(
            "2024",
            expect!["2024 Year offset=None unix_micros=1704067200000000"],
        );
        check(
            "202402",
            expect!["202402 Month offset=None unix_micros=1706745600000000"],
        );
        check(
            "20240229",
            expect!["20240229 Day offset=None unix_micros=1709164800000000"],
        );
        check(
            "2024022912",
            expect!["2024022912 Hour offset=None unix_micros=1709208000000000"],
        );
        check(
            "202402291234",
            expect!["202402291234 Minute offset=None unix_micros=1709210040000000"],
        );
        check(
            "20240229123456",
            expect!["20240229123456 Second offset=None unix_micros=1709210096000000"],
        );
        check(
            "20240229123456.1",
            expect!["20240229123456.1 Fraction(1) offset=None unix_micros=1709210096100000"],
        );
        check(
            "20240229123456.12",
            expect!["20240229123456.12 Fraction(2) offset=None unix_micros=1709210096120000"],
        );
        check(
            "20240229123456.123",
            expect!["20240229123456.123 Fraction(3) offset=None unix_micros=1709210096123000"],
        );
        check(
            "20240229123456.1234",
            expect!["20240229123456.1234 Fraction(4) offset=None unix_micros=1709210096123400"],
        );
        check(
            "20240229123456.0000",
            expect!["20240229123456.0000 Fraction(4) offset=None unix_micros=1709210096000000"],
        );
    }

    #[test]
    fn offsets() {
        check(
            "20240229123456.1234-0500",
            expect![
                "20240229123456.1234-0500 Fraction(4) offset=Some(-300) unix_micros=1709228096123400"
            ],
        );
        check(
            "20240229123456+0530",
            expect!["20240229123456+0530 Second offset=Some(330) unix_micros=1709190296000000"],
        );
        check(
            "2024-0500",
            expect!["2024-0500 Year offset=Some(-300) unix_micros=1704085200000000"],
        );
        check(
            "202402291234+1400",
            expect!["202402291234+1400 Minute offset=Some(840) unix_micros=1709159640000000"],
        );
        check(
            "202402291234-1200",
            expect!["202402291234-1200 Minute offset=Some(-720) unix_micros=1709253240000000"],
        );
        check(
            "202402291234+0000",
            expect!["202402291234+0000 Minute offset=Some(0) unix_micros=1709210040000000"],
        );
        check(
            "202402291234-0000",
            expect!["202402291234+0000 Minute offset=Some(0) unix_micros=1709210040000000"],
        );
        check(
            "202402291234Z",
            expect!["202402291234+0000 Minute offset=Some(0) unix_micros=1709210040000000"],
        );
        check(
            "20240229123456.5Z",
            expect![
                "20240229123456.5+0000 Fraction(1) offset=Some(0) unix_micros=1709210096500000"
            ],
        );
        check(
            "202402291234+1401",
            expect![
                "HL7-0104: time zone offset at byte 12 is out of range (expected -1200 to +1400 with minutes 00 to 59)"
            ],
        );
        check(
            "202402291234-1201",
            expect![
                "HL7-0104: time zone offset at byte 12 is out of range (expected -1200 to +1400 with minutes 00 to 59)"
            ],
        );
        check(
            "202402291234+0560",
            expect![
                "HL7-0104: time zone offset at byte 12 is out of range (expected -1200 to +1400 with minutes 00 to 59)"
            ],
        );
        check(
            "202402291234+05",
            expect!["HL7-0102: expected four digits (HHMM) for the time zone offset at byte 15"],
        );
        check(
            "202402291234+05:00",
            expect!["HL7-0102: expected four digits (HHMM) for the time zone offset at byte 15"],
        );
        check(
            "202402291234+050000",
            expect!["HL7-0103: unexpected byte at 17: expected the end of the value"],
        );
        check(
            "202402291234z",
            expect![
                "HL7-0103: unexpected byte at 12: expected two more digits, '+', '-', 'Z' or the end"
            ],
        );
        check(
            "202402291234Z0",
            expect!["HL7-0103: unexpected byte at 13: expected the end of the value"],
        );
        check(
            "202402291234-0500Z",
            expect!["HL7-0103: unexpected byte at 17: expected the end of the value"],
        );
    }

    #[test]
    fn leap_years() {
        check(
            "20000229",
            expect!["20000229 Day offset=None unix_micros=951782400000000"],
        );
        check(
            "19000229",
            expect![
                "HL7-0104: day of the month at byte 6 is out of range (expected 01 to the last day of the month)"
            ],
        );
        check(
            "19000228",
            expect!["19000228 Day offset=None unix_micros=-2203977600000000"],
        );
        check(
            "20240229",
            expect!["20240229 Day offset=None unix_micros=1709164800000000"],
        );
        check(
            "20230229",
            expect![
                "HL7-0104: day of the month at byte 6 is out of range (expected 01 to the last day of the month)"
            ],
        );
        check(
            "21000229",
            expect![
                "HL7-0104: day of the month at byte 6 is out of range (expected 01 to the last day of the month)"
            ],
        );
        check(
            "24000229",
            expect!["24000229 Day offset=None unix_micros=13574563200000000"],
        );
    }

    #[test]
    fn invalid_dates_and_times() {
        check(
            "0000",
            expect!["HL7-0104: year at byte 0 is out of range (expected 0001 to 9999)"],
        );
        check(
            "00000000",
            expect!["HL7-0104: year at byte 0 is out of range (expected 0001 to 9999)"],
        );
        check(
            "202400",
            expect!["HL7-0104: month at byte 4 is out of range (expected 01 to 12)"],
        );
        check(
            "202413",
            expect!["HL7-0104: month at byte 4 is out of range (expected 01 to 12)"],
        );
        check(
            "20240100",
            expect![
                "HL7-0104: day of the month at byte 6 is out of range (expected 01 to the last day of the month)"
            ],
        );
        check(
            "20240132",
            expect![
                "HL7-0104: day of the month at byte 6 is out of range (expected 01 to the last day of the month)"
            ],
        );
        check(
            "20240431",
            expect![
                "HL7-0104: day of the month at byte 6 is out of range (expected 01 to the last day of the month)"
            ],
        );
        check(
            "2024010124",
            expect!["HL7-0104: hour at byte 8 is out of range (expected 00 to 23)"],
        );
        check(
            "202401012360",
            expect!["HL7-0104: minute at byte 10 is out of range (expected 00 to 59)"],
        );
        check(
            "20241231235960",
            expect![
                "HL7-0104: second at byte 12 is out of range (expected 00 to 59, no leap second)"
            ],
        );
        check(
            "20240101000000.12345",
            expect![
                "HL7-0105: fraction of a second has more than four digits (fifth digit at byte 19)"
            ],
        );
        check(
            "20240101000000.",
            expect![
                "HL7-0102: expected one to four digits for the fraction of a second at byte 15"
            ],
        );
        check(
            "20240101000000.-0500",
            expect![
                "HL7-0102: expected one to four digits for the fraction of a second at byte 15"
            ],
        );
        check(
            "202401010000.5",
            expect![
                "HL7-0103: unexpected byte at 12: expected two more digits, '+', '-', 'Z' or the end"
            ],
        );
    }

    #[test]
    fn garbage() {
        check("", expect!["HL7-0101: date/time is empty"]);
        check(
            "24",
            expect!["HL7-0102: expected four digits for the year at byte 2"],
        );
        check(
            "20241",
            expect!["HL7-0102: expected two digits for the month at byte 5"],
        );
        check(
            "2024010112345",
            expect!["HL7-0102: expected two digits for the second at byte 13"],
        );
        check(
            "202401011234567",
            expect!["HL7-0103: unexpected byte at 14: expected '.', '+', '-', 'Z' or the end"],
        );
        check(
            "2024-01-01",
            expect!["HL7-0102: expected four digits (HHMM) for the time zone offset at byte 7"],
        );
        check(
            "20240101T120000",
            expect![
                "HL7-0103: unexpected byte at 8: expected two more digits, '+', '-', 'Z' or the end"
            ],
        );
        check(
            " 20240101",
            expect!["HL7-0102: expected four digits for the year at byte 0"],
        );
        check(
            "20240101 ",
            expect![
                "HL7-0103: unexpected byte at 8: expected two more digits, '+', '-', 'Z' or the end"
            ],
        );
        check(
            "\"\"",
            expect!["HL7-0102: expected four digits for the year at byte 0"],
        );
        check(
            "20240101^D",
            expect![
                "HL7-0103: unexpected byte at 8: expected two more digits, '+', '-', 'Z' or the end"
            ],
        );
        check(
            "2024０1",
            expect![
                "HL7-0103: unexpected byte at 4: expected two more digits, '+', '-', 'Z' or the end"
            ],
        );
        check(
            "２０２４",
            expect!["HL7-0102: expected four digits for the year at byte 0"],
        );
    }

    #[test]
    fn instants_match_gnu_date() {
        // Seconds from `date -u -d '<ISO form>' +%s`.
        let cases: [(&str, i64); 6] = [
            ("20240229123456-0500", 1_709_228_096),
            ("19000301", -2_203_891_200),
            ("20000229235959+1400", 951_818_399),
            ("00010101", -62_135_596_800),
            ("99991231235959-1200", 253_402_343_999),
            ("19600704", -299_635_200),
        ];
        for (input, seconds) in cases {
            let ts = Timestamp::parse(input.as_bytes()).expect(input);
            assert_eq!(ts.unix_micros(0), seconds * 1_000_000, "{input}");
        }
        let sent = Timestamp::parse(b"20240229123456.1234-0500").expect("valid");
        assert_eq!(
            sent.to_event_time(0),
            EventTime::from_unix_micros(1_709_228_096_123_400)
        );
        // The value's own offset wins over the default.
        assert_eq!(sent.to_event_time(600), sent.to_event_time(-720));
    }

    #[test]
    fn default_offset_applies_only_without_one() {
        let local = Timestamp::parse(b"20240229123456").expect("valid");
        let utc = Timestamp::parse(b"20240229173456").expect("valid");
        assert_eq!(local.to_event_time(-300), utc.to_event_time(0));
        assert_eq!(
            local.unix_micros(0) - local.unix_micros(-300),
            -300 * 60 * 1_000_000
        );
    }

    #[test]
    fn debug_hides_the_value() {
        let birth = Timestamp::parse(b"19600704").expect("valid");
        let shown = format!("{birth:?}");
        assert!(!shown.contains("1960"), "{shown}");
        assert_eq!(
            shown,
            "Timestamp { precision: Day, has_offset: false, value: <redacted> }"
        );
    }

    #[test]
    fn errors_never_echo_the_value() {
        for input in [
            "19600704x",
            "19601304",
            "1960071",
            "1960070412345",
            "19600704+9999",
        ] {
            let e = Timestamp::parse(input.as_bytes()).expect_err(input);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("1960"), "{shown}");
        }
    }

    #[test]
    fn codes_are_unique_and_in_the_reserved_range() {
        assert_eq!(caresync_core::check_unique(CODES), Ok(()));
        for code in CODES {
            let n: u32 = code.code()["HL7-".len()..].parse().expect("digits");
            assert!((101..=109).contains(&n), "{code}");
            assert_eq!(code.class(), ErrorClass::Parse);
        }
        let errors = [
            TimestampError::Empty,
            TimestampError::ExpectedDigits {
                offset: 0,
                part: Part::Year,
            },
            TimestampError::UnexpectedByte {
                offset: 0,
                expected: Expected::End,
            },
            TimestampError::OutOfRange {
                offset: 0,
                part: Part::Month,
            },
            TimestampError::FractionTooLong { offset: 0 },
        ];
        let used: Vec<ErrorCode> = errors.iter().map(TimestampError::code).collect();
        assert_eq!(used, CODES);
    }

    #[test]
    fn long_inputs_fail_at_the_first_bad_byte() {
        let mut long = b"20240101".to_vec();
        long.extend(std::iter::repeat_n(b'x', 10_000_000));
        assert_eq!(
            Timestamp::parse(&long),
            Err(TimestampError::UnexpectedByte {
                offset: 8,
                expected: Expected::DigitsOffsetOrEnd
            })
        );
        let digits = vec![b'1'; 10_000_000];
        assert_eq!(
            Timestamp::parse(&digits),
            Err(TimestampError::UnexpectedByte {
                offset: 14,
                expected: Expected::FractionOffsetOrEnd
            })
        );
        let mut fraction = b"20240101000000.".to_vec();
        fraction.extend(std::iter::repeat_n(b'0', 10_000_000));
        assert_eq!(
            Timestamp::parse(&fraction),
            Err(TimestampError::FractionTooLong { offset: 19 })
        );
    }

    /// Days from 1970-01-01 by walking the calendar, independent of the
    /// era arithmetic in [`days_from_civil`].
    fn days_by_walking(year: u32, month: u32, day: u32) -> i64 {
        let year_days = |y: u32| if is_leap_year(y) { 366 } else { 365 };
        let mut days: i64 = if year >= 1970 {
            (1970..year).map(|y| i64::from(year_days(y))).sum()
        } else {
            -(year..1970).map(|y| i64::from(year_days(y))).sum::<i64>()
        };
        days += (1..month)
            .map(|m| i64::from(days_in_month(year, m)))
            .sum::<i64>();
        days + i64::from(day) - 1
    }

    #[test]
    fn days_from_civil_agrees_with_walking_the_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        for year in (1..=9999).step_by(7).chain(1895..=2105) {
            for month in 1..=12 {
                for day in [1, days_in_month(year, month)] {
                    assert_eq!(
                        days_from_civil(i64::from(year), i64::from(month), i64::from(day)),
                        days_by_walking(year, month, day),
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
    }

    /// A canonical value, built by hand from its parts.
    fn canonical() -> impl Strategy<Value = String> {
        (
            1u32..=9999,
            1u32..=12,
            1u32..=31,
            0u32..=23,
            0u32..=59,
            0u32..=59,
            0u32..=9999,
            0usize..=9,
            prop::option::of(-720i16..=840),
        )
            .prop_map(|(y, mo, d, h, mi, s, frac, level, offset)| {
                let d = d.min(days_in_month(y, mo));
                let mut out = format!("{y:04}");
                for (i, v) in [mo, d, h, mi, s].into_iter().enumerate() {
                    if level > i {
                        out.push_str(&format!("{v:02}"));
                    }
                }
                if level > 5 {
                    let digits = level - 5;
                    let frac = frac % 10u32.pow(u32::try_from(digits).expect("small"));
                    out.push_str(&format!(".{frac:0digits$}"));
                }
                if let Some(o) = offset {
                    let sign = if o < 0 { '-' } else { '+' };
                    let a = o.unsigned_abs();
                    out.push_str(&format!("{sign}{:02}{:02}", a / 60, a % 60));
                }
                out
            })
    }

    /// Bytes that reach every state of the parser more often than uniform bytes.
    fn timestamp_like_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                6 => b'0'..=b'9',
                1 => prop::sample::select(b"+-.Z^ :T".to_vec()),
                1 => any::<u8>(),
            ],
            0..28,
        )
    }

    proptest! {
        #[test]
        fn display_of_parse_is_identity_on_canonical_values(s in canonical()) {
            let ts = Timestamp::parse(s.as_bytes()).expect("canonical values parse");
            prop_assert_eq!(&ts.to_string(), &s);
            prop_assert_eq!(s.parse::<Timestamp>(), Ok(ts));
        }

        #[test]
        fn instant_agrees_with_walking_the_calendar(s in canonical(), default in -720i16..=840) {
            let ts = Timestamp::parse(s.as_bytes()).expect("canonical values parse");
            let days = days_by_walking(ts.year().into(), ts.month().into(), ts.day().into());
            let offset = i64::from(ts.offset_minutes().unwrap_or(default));
            let seconds = days * 86_400
                + i64::from(ts.hour()) * 3_600
                + i64::from(ts.minute()) * 60
                + i64::from(ts.second())
                - offset * 60;
            prop_assert_eq!(ts.unix_micros(default), seconds * 1_000_000 + i64::from(ts.micros()));
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Timestamp::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_and_round_trips_on_timestamp_like_bytes(bytes in timestamp_like_bytes()) {
            match Timestamp::parse(&bytes) {
                Ok(ts) => {
                    let again = Timestamp::parse(ts.to_string().as_bytes());
                    prop_assert_eq!(again, Ok(ts));
                    let _ = ts.unix_micros(i16::MIN);
                    let _ = ts.unix_micros(i16::MAX);
                }
                Err(e) => prop_assert!(e.offset() <= bytes.len()),
            }
        }
    }
}
