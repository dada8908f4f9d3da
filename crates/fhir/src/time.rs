//! FHIR `date`, `dateTime` and `instant` to Arrow time values.
//!
//! Rule: a partial value stands for the **start** of its period (`2020` is
//! 2020-01-01T00:00:00, `2020-03` is 2020-03-01); a time zone offset is
//! applied to reach UTC; a value without an offset (only dates may omit it)
//! is taken as UTC. Fractional seconds beyond microseconds are truncated.

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Days from 1970-01-01 to `y-m-d`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    caresync_core::calendar::days_from_civil(y, i64::from(m), i64::from(d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses the date part (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`) at the start of
/// `b`; returns the day number and the bytes consumed.
fn date_prefix(b: &[u8]) -> Option<(i64, usize)> {
    let year = i64::from(digits(b, 0, 4)?);
    if b.len() == 4 {
        return Some((days_from_civil(year, 1, 1), 4));
    }
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.len() == 7 {
        return Some((days_from_civil(year, month, 1), 7));
    }
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(b, 8, 2)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((days_from_civil(year, month, day), 10))
}

/// A FHIR `date` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) as days since the epoch.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    let (days, used) = date_prefix(s.as_bytes())?;
    if used != s.len() {
        return None;
    }
    i32::try_from(days).ok()
}

/// A FHIR `dateTime` or `instant` as microseconds since the epoch, UTC.
pub(crate) fn parse_date_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (days, used) = date_prefix(b)?;
    if used == b.len() {
        return Some(days * 86_400 * MICROS_PER_SECOND);
    }
    // A time needs a full date, `T`, `hh:mm:ss`, optional fraction, and a zone.
    if used != 10 {
        return None;
    }
    time_of_day(b, days).map(|(micros, _)| micros)
}

/// A FHIR `instant` (full date, time with seconds, optional fraction, zone)
/// as microseconds since the epoch, UTC, and the offset it was written with,
/// in seconds.
pub(crate) fn parse_instant(s: &str) -> Option<(i64, i32)> {
    let b = s.as_bytes();
    match date_prefix(b)? {
        (days, 10) => time_of_day(b, days),
        _ => None,
    }
}

/// The `Thh:mm:ss[.f+](Z|±hh:mm)` that follows a full date in `b`.
fn time_of_day(b: &[u8], days: i64) -> Option<(i64, i32)> {
    let day_micros = days * 86_400 * MICROS_PER_SECOND;
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let (h, mi, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut at = 19;
    let mut frac = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        let mut scale = 100_000i64;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            frac += i64::from(c - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == start {
            return None;
        }
    }
    let offset_seconds = match b.get(at) {
        Some(b'Z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let (oh, om) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
            if oh > 14 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            if sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let seconds = i64::from(h * 3600 + mi * 60 + sec) - offset_seconds;
    let micros = day_micros + seconds * MICROS_PER_SECOND + frac;
    Some((micros, i32::try_from(offset_seconds).ok()?))
}

#[cfg(test)]
mod tests {
    use super::{parse_date, parse_date_time, parse_instant};

    #[test]
    fn partial_values_are_the_start_of_their_period() {
        assert_eq!(parse_date_time("1970"), Some(0));
        assert_eq!(parse_date_time("1970-02"), Some(31 * 86_400_000_000));
        assert_eq!(parse_date_time("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2000-02-29"), Some(11_016));
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_date_time("1970-01-01T00:00:00-04:00"),
            Some(4 * 3_600_000_000)
        );
        assert_eq!(
            parse_date_time("1970-01-01T01:00:00.5+01:00"),
            Some(500_000)
        );
        assert_eq!(
            parse_date_time("1989-10-04T02:25:16-04:00"),
            Some(623_485_516_000_000)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "19",
            "2020-13",
            "2020-02-30",
            "2021-02-29",
            "2020-01-01T10:00:00",
            "2020-01-01T10:00Z",
            "2020-01-01T25:00:00Z",
            "2020-01-01 10:00:00Z",
            "2020-01-01T10:00:00.Z",
            "2020-01-01T10:00:00+0100",
            "2020-1-01",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), None);
    }

    #[test]
    fn an_instant_needs_a_time_and_a_zone_and_keeps_its_offset() {
        assert_eq!(
            parse_instant("1970-01-01T01:00:00.5+01:00"),
            Some((500_000, 3_600))
        );
        assert_eq!(
            parse_instant("1970-01-01T00:00:00-04:30"),
            Some((16_200_000_000, -16_200))
        );
        for partial in ["1970", "1970-01", "1970-01-01", "1970-01-01T00:00:00"] {
            assert_eq!(parse_instant(partial), None, "{partial}");
        }
    }
}
