//! The masking methods over Arrow arrays, column at a time.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    ArrowTimestampType, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, Date32Array, PrimitiveArray, StringArray, new_null_array};
use arrow_buffer::{Buffer, NullBuffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, TimeUnit};
use caresync_core::calendar::{civil_from_days, days_from_civil};

use crate::keys::Key;
use crate::model::{Generalization, Method};

/// The three-digit ZIP areas of 20,000 people or fewer (2000 Census), which
/// HIPAA Safe Harbor replaces with `000`.
pub const RESTRICTED_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
    "879", "884", "890", "893",
];

/// A method with its key, ready to run on one column.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Keep,
    Null,
    Redact(String),
    Hash(Key),
    Tokenize(Key),
    Generalize(Generalization),
    DateShift {
        key: Key,
        by: usize,
        max_days: u32,
    },
    Substitute {
        values: Vec<String>,
        key: Option<Key>,
    },
}

/// A column the masked output cannot be built for (offsets past 2 GiB).
#[derive(Debug)]
pub(crate) struct TooLarge;

/// Whether `method` can mask a column of `data_type`; why not if it cannot.
pub(crate) fn suits(method: &Method, data_type: &DataType) -> Result<(), &'static str> {
    let text = is_text(data_type);
    let dated = text || matches!(data_type, DataType::Date32 | DataType::Timestamp(_, _));
    // A year is cut at UTC midnight: in a named zone it would land on the
    // previous evening (and need the zone database).
    let utc = match data_type {
        DataType::Timestamp(_, Some(tz)) => {
            matches!(
                tz.as_ref(),
                "UTC" | "Etc/UTC" | "Z" | "+00:00" | "+0000" | "GMT"
            )
        }
        _ => true,
    };
    let ok = match method {
        Method::Keep | Method::Null => true,
        Method::Redact { .. } | Method::Tokenize { .. } | Method::Substitute { .. } => text,
        Method::Hash { .. } => text || is_identifier(data_type),
        Method::Generalize(Generalization::Year | Generalization::BirthYear) => dated && utc,
        Method::DateShift { .. } => dated,
        Method::Generalize(Generalization::Zip3) => text,
        Method::Generalize(Generalization::Age) => {
            text || matches!(data_type, DataType::Int32 | DataType::Int64)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(match method {
            Method::Redact { .. } | Method::Tokenize { .. } | Method::Substitute { .. } => {
                "the method masks text columns only"
            }
            Method::Hash { .. } => "hash takes text, binary or integer columns",
            Method::Generalize(Generalization::Zip3) => "zip3 takes text columns",
            Method::Generalize(Generalization::Age) => "age takes integer or text columns",
            Method::Generalize(_) if !utc => {
                "a year is cut in UTC: store the timestamps in UTC (or without a zone)"
            }
            _ => "the method takes date, timestamp or text columns",
        })
    }
}

/// Whether a column of `data_type` can name a patient for date shifting.
pub(crate) fn is_identifier(data_type: &DataType) -> bool {
    is_text(data_type)
        || matches!(
            data_type,
            DataType::Int32
                | DataType::Int64
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        )
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The type of the masked column.
pub(crate) fn output_type(method: &Method, data_type: &DataType) -> DataType {
    match method {
        Method::Keep | Method::Null => data_type.clone(),
        Method::Generalize(_) | Method::DateShift { .. } if !is_text(data_type) => {
            data_type.clone()
        }
        _ => DataType::Utf8,
    }
}

/// Masks `column`; `batch_columns` are the batch's (unmasked) columns, for
/// the patient column of date shifting; `as_of` is the request's date
/// (days since 1970-01-01).
pub(crate) fn apply(
    op: &Op,
    column: &ArrayRef,
    batch_columns: &[ArrayRef],
    as_of: i32,
) -> Result<ArrayRef, TooLarge> {
    Ok(match op {
        Op::Keep => column.clone(),
        Op::Null => new_null_array(column.data_type(), column.len()),
        Op::Redact(with) => {
            let mut out = TextOut::with_capacity(column.len(), column.len() * with.len());
            for_each_bytes(column.as_ref(), |v| out.push(v.map(|_| with.as_bytes())))?;
            out.finish()?
        }
        Op::Hash(key) => hash(key, column)?,
        Op::Tokenize(key) => {
            let mut out = TextOut::with_capacity(column.len(), text_bytes(column.as_ref()));
            let mut token = Vec::new();
            for_each_bytes(column.as_ref(), |v| {
                out.push(v.map(|bytes| {
                    tokenize(key, bytes, &mut token);
                    &token[..]
                }))
            })?;
            out.finish()?
        }
        Op::Substitute { values, key } => {
            let mut out = TextOut::with_capacity(column.len(), column.len() * 8);
            for_each_bytes(column.as_ref(), |v| {
                out.push(v.map(|bytes| {
                    let pick = match key {
                        Some(key) if values.len() > 1 => {
                            let mac = key.mac(&[b"caresync:substitute:", bytes]);
                            let n = u64::from_le_bytes(first8(&mac));
                            usize::try_from(n % values.len() as u64).unwrap_or(0)
                        }
                        _ => 0,
                    };
                    values[pick].as_bytes()
                }))
            })?;
            out.finish()?
        }
        Op::Generalize(g) => generalize(*g, column, as_of)?,
        Op::DateShift { key, by, max_days } => {
            let shifts = patient_shifts(key, &batch_columns[*by], *max_days);
            shift_dates(column, &shifts)?
        }
    })
}

/// The shift in days of each row's patient (`None` where the patient is
/// unknown: the date is withheld).
fn patient_shifts(key: &Key, by: &ArrayRef, max_days: u32) -> Vec<Option<i64>> {
    let mut shifts = Vec::with_capacity(by.len());
    let span = u64::from(max_days) * 2;
    // `for_each_bytes` only fails building text; these closures build none.
    let _ = for_each_bytes(by.as_ref(), |v| {
        shifts.push(v.map(|bytes| {
            let mac = key.mac(&[b"caresync:date_shift:", bytes]);
            let r = (u64::from_le_bytes(first8(&mac)) % span) as i64;
            let max = i64::from(max_days);
            // -max..=-1 and 1..=max: never zero.
            if r < max { -(r + 1) } else { r - max + 1 }
        }));
        Ok(())
    });
    shifts
}

fn first8(mac: &[u8; 32]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&mac[..8]);
    b
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(bytes: &[u8; 32], out: &mut [u8; 64]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
}

/// HMAC-SHA256 of each value as 64 hex digits. Values that repeat in the
/// column (a patient's id on each of their rows) are hashed once: text
/// columns keep a memo of values seen, dropped after the first 1,024 rows
/// if under one in eight of them repeated.
fn hash(key: &Key, column: &ArrayRef) -> Result<ArrayRef, TooLarge> {
    let mut out = TextOut::with_capacity(column.len(), column.len() * 64);
    let mut hex = [0u8; 64];
    let DataType::Utf8 = column.data_type() else {
        for_each_bytes(column.as_ref(), |v| {
            out.push(v.map(|bytes| {
                hex_into(&key.mac(&[bytes]), &mut hex);
                &hex[..]
            }))
        })?;
        return out.finish();
    };
    let text = column.as_string::<i32>();
    let mut memo: Option<HashMap<&str, usize>> = Some(HashMap::new());
    let mut hits = 0;
    for i in 0..text.len() {
        if i == 1_024 && hits * 8 < i {
            memo = None;
        }
        if text.is_null(i) {
            out.push(None)?;
            continue;
        }
        let value = text.value(i);
        if let Some(memo) = &mut memo {
            if let Some(at) = memo.get(value) {
                hits += 1;
                out.repeat(*at, 64)?;
                continue;
            }
            memo.insert(value, out.values.len());
        }
        hex_into(&key.mac(&[value.as_bytes()]), &mut hex);
        out.push(Some(&hex))?;
    }
    out.finish()
}

/// 1 January of the years 1600 to 2600, in days since the epoch, so a
/// date's year is found without a calendar division per value.
struct Years {
    first: i64,
    starts: Vec<i64>,
}

fn years() -> &'static Years {
    static YEARS: OnceLock<Years> = OnceLock::new();
    YEARS.get_or_init(|| Years {
        first: 1600,
        starts: (1600..=2601).map(|y| days_from_civil(y, 1, 1)).collect(),
    })
}

impl Years {
    /// The year of `days` and its 1 January.
    fn of(&self, days: i64) -> (i64, i64) {
        // 146,097 days in 400 years: the guess is off by at most one.
        let guess = 1970 + days.saturating_mul(400).div_euclid(146_097) - self.first;
        match usize::try_from(guess) {
            Ok(mut i) if i >= 1 && i + 2 < self.starts.len() => {
                if self.starts[i] > days {
                    i -= 1;
                } else if self.starts[i + 1] <= days {
                    i += 1;
                }
                (self.first + i as i64, self.starts[i])
            }
            _ => {
                let (y, _, _) = civil_from_days(days);
                (y, days_from_civil(y, 1, 1))
            }
        }
    }
}

/// A keyed pseudonym of the same shape: digits stay digits, ASCII letters
/// stay letters of their case, other ASCII characters stay, and any other
/// character becomes a lower-case letter.
fn tokenize(key: &Key, value: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let text = String::from_utf8_lossy(value);
    // Every block hashes a fixed-width counter before the value, so no
    // block of one value is a block of another.
    let mut block = key.mac(&[b"caresync:tokenize:", &0u32.to_le_bytes(), value]);
    let mut used = 0;
    let mut counter: u32 = 0;
    for ch in text.chars() {
        let (base, modulus) = match ch {
            '0'..='9' => (b'0', 10),
            'A'..='Z' => (b'A', 26),
            'a'..='z' => (b'a', 26),
            c if c.is_ascii() => {
                out.push(c as u8);
                continue;
            }
            _ => (b'a', 26),
        };
        if used + 2 > block.len() {
            counter += 1;
            block = key.mac(&[b"caresync:tokenize:", &counter.to_le_bytes(), value]);
            used = 0;
        }
        let r = u16::from_le_bytes([block[used], block[used + 1]]);
        used += 2;
        out.push(base + (r % modulus) as u8);
    }
}

fn generalize(g: Generalization, column: &ArrayRef, as_of: i32) -> Result<ArrayRef, TooLarge> {
    let as_of = i64::from(as_of);
    let (as_of_year, as_of_month, as_of_day) = civil_from_days(as_of);
    // Born on or before this day: 90 or older on the request's date (a
    // 29 February request counts from 28 February in a common year).
    let cutoff = {
        let year = as_of_year - 90;
        let (m, d) = (i64::from(as_of_month), i64::from(as_of_day));
        let days = days_from_civil(year, m, d);
        if civil_from_days(days) == (year, as_of_month, as_of_day) {
            days
        } else {
            days_from_civil(year, 3, 1) - 1
        }
    };
    let capped = (as_of_year - 90, days_from_civil(as_of_year - 90, 1, 1));
    let years = years();
    // (year, its 1 January in days) of a date, or of the category "90 or
    // older" for birth dates.
    let birth_cap = |days: i64| -> (i64, i64) {
        if g == Generalization::BirthYear && days <= cutoff {
            capped
        } else {
            years.of(days)
        }
    };
    match (g, column.data_type()) {
        (Generalization::Year | Generalization::BirthYear, DataType::Date32) => {
            let dates = column.as_primitive::<arrow_array::types::Date32Type>();
            // A year whose 1 January does not fit becomes null, never the
            // original date.
            let out: Date32Array =
                dates.unary_opt(|d| i32::try_from(birth_cap(i64::from(d)).1).ok());
            Ok(Arc::new(out))
        }
        (Generalization::Year | Generalization::BirthYear, DataType::Timestamp(unit, _)) => {
            let per_day = per_day(*unit);
            Ok(map_timestamps(column, |v| {
                birth_cap(v.div_euclid(per_day)).1.checked_mul(per_day)
            }))
        }
        (Generalization::Year | Generalization::BirthYear, _) => {
            let mut out = TextOut::with_capacity(column.len(), column.len() * 4);
            let mut year_text = [0u8; 4];
            for_each_bytes(column.as_ref(), |v| {
                let year = v.and_then(|s| {
                    let year = year_prefix(s)?;
                    Some(match date_prefix(s) {
                        Some((days, _, _)) => birth_cap(days).0,
                        // A year alone: 90 or older as soon as it can be.
                        None if g == Generalization::BirthYear && as_of_year - year >= 90 => {
                            as_of_year - 90
                        }
                        None => year,
                    })
                });
                out.push(year.and_then(|y| {
                    let y = u16::try_from(y).ok().filter(|y| *y <= 9999)?;
                    for (i, d) in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10]
                        .iter()
                        .enumerate()
                    {
                        year_text[i] = b'0' + *d as u8;
                    }
                    Some(&year_text[..])
                }))
            })?;
            out.finish()
        }
        (Generalization::Zip3, _) => {
            let mut out = TextOut::with_capacity(column.len(), column.len() * 3);
            for_each_bytes(column.as_ref(), |v| out.push(v.and_then(zip3)))?;
            out.finish()
        }
        (Generalization::Age, DataType::Int32) => Ok(Arc::new(
            column
                .as_primitive::<Int32Type>()
                .unary::<_, Int32Type>(|a| a.min(90)),
        )),
        (Generalization::Age, DataType::Int64) => Ok(Arc::new(
            column
                .as_primitive::<Int64Type>()
                .unary::<_, Int64Type>(|a| a.min(90)),
        )),
        (Generalization::Age, _) => {
            let mut out = TextOut::with_capacity(column.len(), column.len() * 3);
            for_each_bytes(column.as_ref(), |v| {
                out.push(v.and_then(|s| {
                    let age: u32 = std::str::from_utf8(s).ok()?.trim().parse().ok()?;
                    Some(if age > 89 { &b"90+"[..] } else { s })
                }))
            })?;
            out.finish()
        }
    }
}

/// The first three digits of a ZIP code (`NNNNN`, `NNNNN-NNNN`,
/// `NNNNNNNNN`), `000` for a restricted area, `None` for anything else.
fn zip3(s: &[u8]) -> Option<&'static [u8]> {
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    let valid = match s.len() {
        5 | 9 => digits(s),
        10 => digits(&s[..5]) && s[5] == b'-' && digits(&s[6..]),
        _ => false,
    };
    if !valid {
        return None;
    }
    let prefix = std::str::from_utf8(&s[..3]).ok()?;
    if RESTRICTED_ZIP3.contains(&prefix) {
        return Some(b"000");
    }
    // Return a 'static slice: one of the 1,000 three-digit prefixes.
    let n =
        usize::from(s[0] - b'0') * 100 + usize::from(s[1] - b'0') * 10 + usize::from(s[2] - b'0');
    Some(&ZIP3_TEXT[3 * n..3 * n + 3])
}

/// "000001002…999".
static ZIP3_TEXT: [u8; 3000] = {
    let mut t = [0u8; 3000];
    let mut n = 0;
    while n < 1000 {
        t[3 * n] = b'0' + (n / 100) as u8;
        t[3 * n + 1] = b'0' + (n / 10 % 10) as u8;
        t[3 * n + 2] = b'0' + (n % 10) as u8;
        n += 1;
    }
    t
};

fn year_prefix(s: &[u8]) -> Option<i64> {
    let y = s.get(..4)?;
    if !y.iter().all(u8::is_ascii_digit)
        || s.get(4).is_some_and(|c| !matches!(c, b'-' | b'0'..=b'9'))
    {
        return None;
    }
    Some(y.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

/// A date at the start of `s`, `YYYY-MM-DD` or `YYYYMMDD`: its days since
/// the epoch, the length of the date, and whether it is dashed.
fn date_prefix(s: &[u8]) -> Option<(i64, usize, bool)> {
    let num = |b: &[u8]| -> Option<i64> {
        b.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (y, m, d, len, dashed) = if s.get(4) == Some(&b'-') {
        if s.get(7) != Some(&b'-') {
            return None;
        }
        (
            num(s.get(..4)?)?,
            num(s.get(5..7)?)?,
            num(s.get(8..10)?)?,
            10,
            true,
        )
    } else {
        (
            num(s.get(..4)?)?,
            num(s.get(4..6)?)?,
            num(s.get(6..8)?)?,
            8,
            false,
        )
    };
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // A day past the month's end rolls into the next month: refuse it.
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None;
    }
    Some((days, len, dashed))
}

/// Whether `rest`, what follows a date in text, is nothing or a time of
/// day: ISO (`T10:00`, ` 10:00:00.5Z`, `T10:00+01:00`) after a dashed date,
/// HL7 (`1000`, `100000.5+0100`) after an undashed one. Anything else
/// (a second date, free text) must not be served unshifted.
fn time_of_day(rest: &[u8], dashed: bool) -> bool {
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let fraction_and_zone = |b: &[u8], colon: bool| -> bool {
        let b = match b.first() {
            Some(b'.') => {
                let end = b[1..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(b.len(), |p| p + 1);
                if end == 1 {
                    return false;
                }
                &b[end..]
            }
            _ => b,
        };
        match b {
            [] => true,
            [b'Z'] => colon,
            [b'+' | b'-', h1, h2, b':', m1, m2] if colon => digits(&[*h1, *h2, *m1, *m2]),
            [b'+' | b'-', zone @ ..] => zone.len() == 4 && digits(zone),
            _ => false,
        }
    };
    if rest.is_empty() {
        return true;
    }
    if dashed {
        // [T ]HH:MM[:SS][.f][Z|±hh:mm|±hhmm]
        let Some((b'T' | b' ', t)) = rest.split_first() else {
            return false;
        };
        match t {
            [h1, h2, b':', m1, m2, more @ ..] if digits(&[*h1, *h2, *m1, *m2]) => match more {
                [b':', s1, s2, zone @ ..] if digits(&[*s1, *s2]) => fraction_and_zone(zone, true),
                zone => fraction_and_zone(zone, true),
            },
            _ => false,
        }
    } else {
        // HHMM[SS[.f]][±ZZZZ]
        let clock = rest
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        matches!(clock, 2 | 4 | 6) && fraction_and_zone(&rest[clock..], false)
    }
}

fn shift_dates(column: &ArrayRef, shifts: &[Option<i64>]) -> Result<ArrayRef, TooLarge> {
    match column.data_type() {
        DataType::Date32 => {
            let dates = column.as_primitive::<arrow_array::types::Date32Type>();
            let out: Date32Array = dates
                .iter()
                .zip(shifts)
                .map(|(d, s)| i32::try_from(i64::from(d?) + (*s)?).ok())
                .collect();
            Ok(Arc::new(out))
        }
        DataType::Timestamp(unit, _) => {
            let per_day = per_day(*unit);
            let mut row = 0;
            Ok(map_timestamps_rows(column, |v| {
                let shift = shifts[row];
                row += 1;
                v?.checked_add(shift?.checked_mul(per_day)?)
            }))
        }
        _ => {
            let mut out = TextOut::with_capacity(column.len(), text_bytes(column.as_ref()));
            let mut text = Vec::new();
            let mut row = 0;
            for_each_bytes(column.as_ref(), |v| {
                let shift = shifts[row];
                row += 1;
                out.push(v.zip(shift).and_then(|(s, shift)| {
                    let (days, len, dashed) = date_prefix(s)?;
                    if !time_of_day(&s[len..], dashed) {
                        return None;
                    }
                    let (y, m, d) = civil_from_days(days + shift);
                    if !(0..=9999).contains(&y) {
                        return None;
                    }
                    text.clear();
                    let date = if dashed {
                        format!("{y:04}-{m:02}-{d:02}")
                    } else {
                        format!("{y:04}{m:02}{d:02}")
                    };
                    text.extend_from_slice(date.as_bytes());
                    text.extend_from_slice(&s[len..]);
                    Some(&text[..])
                }))
            })?;
            out.finish()
        }
    }
}

fn per_day(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 86_400,
        TimeUnit::Millisecond => 86_400_000,
        TimeUnit::Microsecond => 86_400_000_000,
        TimeUnit::Nanosecond => 86_400_000_000_000,
    }
}

/// Maps each non-null timestamp; `None` from `f` makes the value null.
fn map_timestamps(column: &ArrayRef, f: impl Fn(i64) -> Option<i64>) -> ArrayRef {
    fn map<T: ArrowTimestampType>(column: &ArrayRef, f: impl Fn(i64) -> Option<i64>) -> ArrayRef {
        let array = column.as_primitive::<T>();
        let out: PrimitiveArray<T> = array.unary_opt(f);
        Arc::new(out.with_timezone_opt(array.timezone().map(Arc::<str>::from)))
    }
    match column.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => map::<TimestampSecondType>(column, f),
        DataType::Timestamp(TimeUnit::Millisecond, _) => map::<TimestampMillisecondType>(column, f),
        DataType::Timestamp(TimeUnit::Microsecond, _) => map::<TimestampMicrosecondType>(column, f),
        _ => map::<TimestampNanosecondType>(column, f),
    }
}

/// Maps every row's timestamp (null in, `None`).
fn map_timestamps_rows(column: &ArrayRef, f: impl FnMut(Option<i64>) -> Option<i64>) -> ArrayRef {
    fn map<T: ArrowTimestampType>(
        column: &ArrayRef,
        f: impl FnMut(Option<i64>) -> Option<i64>,
    ) -> ArrayRef {
        let array = column.as_primitive::<T>();
        let out: PrimitiveArray<T> = array.iter().map(f).collect();
        Arc::new(out.with_timezone_opt(array.timezone().map(Arc::<str>::from)))
    }
    match column.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => map::<TimestampSecondType>(column, f),
        DataType::Timestamp(TimeUnit::Millisecond, _) => map::<TimestampMillisecondType>(column, f),
        DataType::Timestamp(TimeUnit::Microsecond, _) => map::<TimestampMicrosecondType>(column, f),
        _ => map::<TimestampNanosecondType>(column, f),
    }
}

/// Total bytes of a text column's values (a capacity hint).
fn text_bytes(column: &dyn Array) -> usize {
    match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().values().len(),
        DataType::LargeUtf8 => column.as_string::<i64>().values().len(),
        _ => column.len() * 16,
    }
}

/// Calls `f` with each row's bytes: text as UTF-8, binary as is, integers
/// as decimal text; `None` for nulls (and for types without bytes).
pub(crate) fn for_each_bytes(
    column: &dyn Array,
    mut f: impl FnMut(Option<&[u8]>) -> Result<(), TooLarge>,
) -> Result<(), TooLarge> {
    let valid = |i: usize| column.is_valid(i);
    match column.data_type() {
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            for i in 0..a.len() {
                f(valid(i).then(|| a.value(i).as_bytes()))?;
            }
        }
        DataType::LargeUtf8 => {
            let a = column.as_string::<i64>();
            for i in 0..a.len() {
                f(valid(i).then(|| a.value(i).as_bytes()))?;
            }
        }
        DataType::Utf8View => {
            let a = column.as_string_view();
            for i in 0..a.len() {
                f(valid(i).then(|| a.value(i).as_bytes()))?;
            }
        }
        DataType::Binary => {
            let a = column.as_binary::<i32>();
            for i in 0..a.len() {
                f(valid(i).then(|| a.value(i)))?;
            }
        }
        DataType::LargeBinary => {
            let a = column.as_binary::<i64>();
            for i in 0..a.len() {
                f(valid(i).then(|| a.value(i)))?;
            }
        }
        DataType::BinaryView => {
            let a = column.as_binary_view();
            for i in 0..a.len() {
                f(valid(i).then(|| a.value(i)))?;
            }
        }
        DataType::Int32 | DataType::Int64 => {
            let values: Vec<i64> = match column.data_type() {
                DataType::Int32 => column
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .map(|v| i64::from(*v))
                    .collect(),
                _ => column.as_primitive::<Int64Type>().values().to_vec(),
            };
            let mut text = [0u8; 20];
            for (i, v) in values.into_iter().enumerate() {
                f(valid(i).then(|| decimal(v, &mut text)))?;
            }
        }
        _ => {
            for _ in 0..column.len() {
                f(None)?;
            }
        }
    }
    Ok(())
}

/// `v` in decimal, written at the end of `buf`.
fn decimal(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// A text column built from byte slices (each valid UTF-8).
struct TextOut {
    values: Vec<u8>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl TextOut {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextOut {
            values: Vec::with_capacity(bytes),
            offsets,
            nulls: NullBufferBuilder::new(rows),
        }
    }

    fn push(&mut self, value: Option<&[u8]>) -> Result<(), TooLarge> {
        match value {
            Some(v) => {
                self.values.extend_from_slice(v);
                self.nulls.append_non_null();
            }
            None => self.nulls.append_null(),
        }
        self.offsets
            .push(i32::try_from(self.values.len()).map_err(|_| TooLarge)?);
        Ok(())
    }

    /// Appends a copy of the `len` bytes written at `at` (a value seen
    /// before).
    fn repeat(&mut self, at: usize, len: usize) -> Result<(), TooLarge> {
        self.values.extend_from_within(at..at + len);
        self.nulls.append_non_null();
        self.offsets
            .push(i32::try_from(self.values.len()).map_err(|_| TooLarge)?);
        Ok(())
    }

    fn finish(mut self) -> Result<ArrayRef, TooLarge> {
        let nulls: Option<NullBuffer> = self.nulls.finish();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        // Every pushed slice is UTF-8 (text, hex, digits or ASCII), which
        // `try_new` checks again.
        StringArray::try_new(offsets, Buffer::from_vec(self.values), nulls)
            .map(|a| Arc::new(a) as ArrayRef)
            .map_err(|_| TooLarge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_text_are_read_strictly() {
        assert_eq!(
            date_prefix(b"2024-02-29"),
            Some((days_from_civil(2024, 2, 29), 10, true))
        );
        assert_eq!(
            date_prefix(b"20240229083000"),
            Some((days_from_civil(2024, 2, 29), 8, false))
        );
        assert_eq!(date_prefix(b"2023-02-29"), None);
        assert_eq!(date_prefix(b"20231301"), None);
        assert_eq!(date_prefix(b"2023-1-01"), None);
        assert_eq!(date_prefix(b"2023"), None);
        assert_eq!(year_prefix(b"1987"), Some(1987));
        assert_eq!(year_prefix(b"1987x"), None);
    }

    #[test]
    fn only_a_time_of_day_may_follow_a_shifted_date() {
        for ok in [
            "",
            "T10:00",
            " 10:00:00",
            "T10:00:00.123Z",
            "T10:00+01:00",
            "T10:00:00-0500",
        ] {
            assert!(time_of_day(ok.as_bytes(), true), "{ok:?}");
        }
        for bad in [
            "/2024-03-05",
            " seen by Dr X",
            "T10",
            "T10:00 and",
            "10:00",
            "T10:00:00.",
            "T1a:00",
        ] {
            assert!(!time_of_day(bad.as_bytes(), true), "{bad:?}");
        }
        for ok in [
            "",
            "10",
            "1000",
            "100000",
            "100000.5",
            "1000+0100",
            "100000.1234-0500",
        ] {
            assert!(time_of_day(ok.as_bytes(), false), "{ok:?}");
        }
        for bad in ["-20240305", "100", "1000Z", "1000+01", " seen", "10000000"] {
            assert!(!time_of_day(bad.as_bytes(), false), "{bad:?}");
        }
    }

    #[test]
    fn zip_codes_become_three_digits_or_000() {
        assert_eq!(zip3(b"02139"), Some(&b"021"[..]));
        assert_eq!(zip3(b"02139-4307"), Some(&b"021"[..]));
        assert_eq!(zip3(b"036011234"), Some(&b"000"[..]));
        assert_eq!(zip3(b"89301"), Some(&b"000"[..]));
        assert_eq!(zip3(b"999"), None);
        assert_eq!(zip3(b"A2139"), None);
        assert_eq!(zip3(b"02139 "), None);
    }

    #[test]
    fn years_are_found_from_the_table_and_past_it() {
        let years = years();
        for days in (-800_000..800_000)
            .step_by(37)
            .chain([-1, 0, 364, 365, 11_016, 11_017])
        {
            let (y, _, _) = civil_from_days(days);
            assert_eq!(years.of(days), (y, days_from_civil(y, 1, 1)), "day {days}");
        }
    }

    #[test]
    fn ninety_is_counted_to_the_day_even_on_29_february() {
        let born = |dates: &[(i64, i64, i64)]| -> ArrayRef {
            Arc::new(Date32Array::from(
                dates
                    .iter()
                    .map(|(y, m, d)| i32::try_from(days_from_civil(*y, *m, *d)).expect("days"))
                    .collect::<Vec<_>>(),
            ))
        };
        let years_of = |column: &ArrayRef, as_of: (i64, i64, i64)| -> Vec<i64> {
            let as_of = i32::try_from(days_from_civil(as_of.0, as_of.1, as_of.2)).expect("days");
            let out = generalize(Generalization::BirthYear, column, as_of).expect("generalized");
            out.as_primitive::<arrow_array::types::Date32Type>()
                .values()
                .iter()
                .map(|d| civil_from_days(i64::from(*d)).0)
                .collect()
        };
        let column = born(&[(1934, 2, 28), (1934, 3, 1), (1930, 5, 5), (1990, 12, 31)]);
        assert_eq!(years_of(&column, (2024, 2, 29)), [1934, 1934, 1934, 1990]);
        let column = born(&[(1934, 6, 15), (1934, 6, 16), (1933, 6, 16)]);
        // On 2024-06-15 the first turns 90 (the category, 1934); the second
        // is 89 and keeps 1934 as their own year; the third is capped.
        assert_eq!(years_of(&column, (2024, 6, 15)), [1934, 1934, 1934]);
        assert_eq!(years_of(&column, (2025, 6, 15)), [1935, 1935, 1935]);
    }

    #[test]
    fn numbers_print_in_decimal() {
        assert_eq!(decimal(-120, &mut [0; 20]), b"-120");
        assert_eq!(decimal(i64::MIN, &mut [0; 20]), b"-9223372036854775808");
    }
}
