//! Named formats a string field's values must have: a closed set of small
//! hand-written matchers (no regular expressions), each a real check of its
//! format rather than a shape only — a date must exist in the calendar.

use std::fmt;

use caresync_core::calendar::days_in_month;

/// A format a string field's values must have.
///
/// Dates are proleptic Gregorian: `2024-02-29` exists, `2023-02-29` and
/// `2023-04-31` do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pattern {
    /// `date`: an ISO 8601 calendar date, `YYYY-MM-DD`.
    Date,
    /// `hl7_date`: an HL7 v2 date, `YYYYMMDD`.
    Hl7Date,
    /// `hl7_datetime`: an HL7 v2 date and time to at least the day,
    /// `YYYYMMDD[HHMM[SS[.S[S[S[S]]]]]][+/-ZZZZ]` (the DTM type).
    Hl7Datetime,
    /// `zip`: a US ZIP code, `12345` or ZIP+4 `12345-6789`.
    Zip,
    /// `phone_us`: a North American number of ten digits, written
    /// `2125550123`, `212-555-0123` or `(212) 555-0123`; area code and
    /// exchange start with 2 to 9.
    PhoneUs,
}

impl Pattern {
    /// Every pattern, in declaration order.
    pub const ALL: [Pattern; 5] = [
        Pattern::Date,
        Pattern::Hl7Date,
        Pattern::Hl7Datetime,
        Pattern::Zip,
        Pattern::PhoneUs,
    ];

    /// The name contracts use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Pattern::Date => "date",
            Pattern::Hl7Date => "hl7_date",
            Pattern::Hl7Datetime => "hl7_datetime",
            Pattern::Zip => "zip",
            Pattern::PhoneUs => "phone_us",
        }
    }

    /// Whether `value` has this format.
    pub fn accepts(self, value: &str) -> bool {
        self.accepts_bytes(value.as_bytes())
    }

    /// [`Pattern::accepts`] over the bytes of a UTF-8 value.
    pub(crate) fn accepts_bytes(self, b: &[u8]) -> bool {
        match self {
            Pattern::Date => iso_date(b).is_some(),
            Pattern::Hl7Date => b.len() == 8 && hl7_date(b),
            Pattern::Hl7Datetime => hl7_datetime(b),
            Pattern::Zip => match b {
                [zip @ .., b'-', a, b, c, d] if zip.len() == 5 => {
                    all_digits(zip) && all_digits(&[*a, *b, *c, *d])
                }
                zip => zip.len() == 5 && all_digits(zip),
            },
            Pattern::PhoneUs => phone_us(b),
        }
    }

    /// Whether every value `self` accepts is accepted by `wider` too
    /// (`hl7_date` values are `hl7_datetime` values).
    pub(crate) fn within(self, wider: Pattern) -> bool {
        self == wider || (self == Pattern::Hl7Date && wider == Pattern::Hl7Datetime)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Pattern {
    type Err = ();

    /// `date`, `hl7_date`, `hl7_datetime`, `zip`, `phone_us`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

fn all_digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

/// The value of ASCII digits (at most four, so no overflow); `None` unless
/// all are digits.
fn number(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Whether `year`-`month`-`day` is a date of the proleptic Gregorian calendar.
pub(crate) fn real_date(year: u32, month: u32, day: u32) -> bool {
    days_in_month(i64::from(year), month).is_some_and(|days| (1..=days).contains(&day))
}

/// `YYYY-MM-DD` as (year, month, day) when it is a real date.
pub(crate) fn iso_date(b: &[u8]) -> Option<(u32, u32, u32)> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
        return None;
    };
    let year = number(&[y0, y1, y2, y3])?;
    let month = number(&[m0, m1])?;
    let day = number(&[d0, d1])?;
    real_date(year, month, day).then_some((year, month, day))
}

/// `YYYYMMDD`, a real date (`b` is 8 bytes).
fn hl7_date(b: &[u8]) -> bool {
    match (number(&b[..4]), number(&b[4..6]), number(&b[6..8])) {
        (Some(year), Some(month), Some(day)) => real_date(year, month, day),
        _ => false,
    }
}

fn hl7_datetime(b: &[u8]) -> bool {
    // The offset, if any, is the last five bytes: a sign and HHMM.
    let (b, offset) = match b.len().checked_sub(5).map(|at| b.split_at(at)) {
        Some((rest, [b'+' | b'-', zone @ ..])) => (rest, Some(zone)),
        _ => (b, None),
    };
    let offset_ok = offset.is_none_or(|zone| {
        matches!((number(&zone[..2]), number(&zone[2..])), (Some(h), Some(m)) if h <= 14 && m <= 59)
    });
    if !offset_ok || b.len() < 8 || !hl7_date(&b[..8]) {
        return false;
    }
    let time = &b[8..];
    let (hhmm, rest) = match time.len() {
        0 => return true,
        4.. => time.split_at(4),
        _ => return false,
    };
    let clock_ok = matches!(
        (number(&hhmm[..2]), number(&hhmm[2..])),
        (Some(h), Some(m)) if h <= 23 && m <= 59
    );
    if !clock_ok {
        return false;
    }
    match rest {
        [] => true,
        [s0, s1, fraction @ ..] => {
            let seconds_ok = number(&[*s0, *s1]).is_some_and(|s| s <= 59);
            let fraction_ok = match fraction {
                [] => true,
                [b'.', digits @ ..] => (1..=4).contains(&digits.len()) && all_digits(digits),
                _ => false,
            };
            seconds_ok && fraction_ok
        }
        [_] => false,
    }
}

fn phone_us(b: &[u8]) -> bool {
    // Area code, exchange, line: 3, 3 and 4 digits.
    let (area, exchange, line) = match b {
        [a @ .., b'-', e0, e1, e2, b'-', l0, l1, l2, l3] if a.len() == 3 => {
            (a, [*e0, *e1, *e2], [*l0, *l1, *l2, *l3])
        }
        [
            b'(',
            a0,
            a1,
            a2,
            b')',
            b' ',
            e0,
            e1,
            e2,
            b'-',
            l0,
            l1,
            l2,
            l3,
        ] => {
            return phone_us(&[*a0, *a1, *a2, *e0, *e1, *e2, *l0, *l1, *l2, *l3]);
        }
        [a0, a1, a2, e0, e1, e2, l0, l1, l2, l3] => {
            (&[*a0, *a1, *a2][..], [*e0, *e1, *e2], [*l0, *l1, *l2, *l3])
        }
        _ => return false,
    };
    all_digits(area)
        && all_digits(&exchange)
        && all_digits(&line)
        && (b'2'..=b'9').contains(&area[0])
        && (b'2'..=b'9').contains(&exchange[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pattern_accepts_real_values_and_refuses_near_misses() {
        let cases: [(Pattern, &[&str], &[&str]); 5] = [
            (
                Pattern::Date,
                &["2024-02-29", "2000-02-29", "1999-12-31", "2023-01-01"],
                &[
                    "2023-02-29",
                    "1900-02-29",
                    "2023-04-31",
                    "2023-13-01",
                    "2023-00-10",
                    "2023-01-00",
                    "2023-1-01",
                    "20230101",
                    "2023/01/01",
                    "2023-01-01T00:00",
                    "",
                ],
            ),
            (
                Pattern::Hl7Date,
                &["20240229", "19991231"],
                &["20230229", "2023-01-01", "2023011", "202301011", "2023a101"],
            ),
            (
                Pattern::Hl7Datetime,
                &[
                    "20240229",
                    "202402291530",
                    "20240229153059",
                    "20240229153059.1",
                    "20240229153059.1234",
                    "20240229153059-0500",
                    "202402291530+0100",
                    "20240229+0000",
                ],
                &[
                    "20230229",
                    "2024022915",
                    "202402292400",
                    "202402291560",
                    "20240229153060",
                    "2024022915305",
                    "20240229153059.",
                    "20240229153059.12345",
                    "202402291530.1",
                    "20240229153059-05",
                    "20240229153059+1500",
                    "2024",
                ],
            ),
            (
                Pattern::Zip,
                &["02139", "02139-4307"],
                &["2139", "021390", "02139-430", "02139 4307", "0213a"],
            ),
            (
                Pattern::PhoneUs,
                &["2125550123", "212-555-0123", "(212) 555-0123"],
                &[
                    "1125550123",
                    "2121550123",
                    "212-5550123",
                    "(212)555-0123",
                    "+1 212 555 0123",
                    "212555012",
                ],
            ),
        ];
        for (pattern, good, bad) in cases {
            for value in good {
                assert!(pattern.accepts(value), "{pattern} refuses {value}");
            }
            for value in bad {
                assert!(!pattern.accepts(value), "{pattern} accepts {value}");
            }
        }
    }

    #[test]
    fn patterns_parse_by_name_and_know_which_is_wider() {
        for p in Pattern::ALL {
            assert_eq!(p.as_str().parse(), Ok(p));
        }
        assert!("regex".parse::<Pattern>().is_err());
        assert!(Pattern::Hl7Date.within(Pattern::Hl7Datetime));
        assert!(!Pattern::Hl7Datetime.within(Pattern::Hl7Date));
        assert!(!Pattern::Date.within(Pattern::Hl7Date));
    }
}
