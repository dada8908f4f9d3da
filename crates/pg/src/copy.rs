//! Arrow record batches encoded as PostgreSQL's binary `COPY` format.
//!
//! The stream is a header, then per row a 16-bit field count and each
//! field as a 32-bit length (−1 for null) and its bytes in the type's
//! binary send format, then a −1 trailer. Values are converted here, so the
//! server only stores them: integers and floats big-endian, dates as days
//! and timestamps as microseconds since 2000-01-01, numerics as base-10000
//! digits, jsonb as a version byte and JSON text.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_json::writer::{EncoderOptions, NullableEncoder, make_encoder};
use arrow_schema::{DataType, FieldRef, TimeUnit};
use bytes::{BufMut, BytesMut};

use crate::error::PgError;
use crate::schema::{PgTable, PgType, time_unit_micros};

/// The 11-byte signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;
/// The same in microseconds.
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// Writes the header that opens a binary `COPY` stream.
pub fn header(out: &mut BytesMut) {
    out.put_slice(HEADER);
}

/// Writes the trailer that closes a binary `COPY` stream.
pub fn trailer(out: &mut BytesMut) {
    out.put_i16(-1);
}

/// Encodes batches whose columns are those of a [`PgTable`].
#[derive(Debug, Clone)]
pub struct CopyEncoder {
    table: String,
    columns: Vec<(String, PgType)>,
}

impl CopyEncoder {
    /// An encoder for rows of `table`.
    pub fn new(table: &PgTable) -> Self {
        CopyEncoder {
            table: table.qualified(),
            columns: table
                .columns()
                .iter()
                .map(|c| (c.name.clone(), c.ty))
                .collect(),
        }
    }

    /// Appends the rows of `batch` to `out`. The batch must have the
    /// table's columns, in order, with types that map to theirs; nothing is
    /// appended when it does not, or when a value cannot be stored.
    pub fn encode(&self, batch: &RecordBatch, out: &mut BytesMut) -> Result<(), PgError> {
        self.check(batch)?;
        let schema = batch.schema();
        let options = EncoderOptions::default();
        let fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        let mut cols = Vec::with_capacity(self.columns.len());
        for ((name, _), (field, array)) in
            self.columns.iter().zip(fields.iter().zip(batch.columns()))
        {
            cols.push(Column::new(name, field, array, &options)?);
        }
        let start = out.len();
        out.reserve(batch.num_rows() * (2 + 12 * cols.len()));
        let n = i16::try_from(cols.len()).map_err(|_| PgError::SchemaMismatch {
            table: self.table.clone(),
            detail: "more than 32,767 columns".to_owned(),
        })?;
        let mut scratch = Vec::new();
        for row in 0..batch.num_rows() {
            out.put_i16(n);
            for c in &mut cols {
                if let Err(reason) = c.write(row, out, &mut scratch) {
                    out.truncate(start);
                    return Err(PgError::BadValue {
                        column: c.name.to_owned(),
                        row,
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    fn check(&self, batch: &RecordBatch) -> Result<(), PgError> {
        let mismatch = |detail: String| PgError::SchemaMismatch {
            table: self.table.clone(),
            detail,
        };
        let schema = batch.schema();
        if schema.fields().len() != self.columns.len() {
            return Err(mismatch(format!(
                "{} columns, the table has {}",
                schema.fields().len(),
                self.columns.len()
            )));
        }
        for (f, (name, ty)) in schema.fields().iter().zip(&self.columns) {
            if f.name() != name {
                return Err(mismatch(format!(
                    "column {} where {name} was expected",
                    f.name()
                )));
            }
            if PgType::of(f.data_type()) != Some(*ty) {
                return Err(mismatch(format!(
                    "column {name} has type {}, which does not map to {}",
                    f.data_type(),
                    ty.sql()
                )));
            }
        }
        Ok(())
    }
}

/// One column of a batch, ready to write cell by cell.
struct Column<'a> {
    name: &'a str,
    array: &'a ArrayRef,
    kind: Kind<'a>,
}

enum Kind<'a> {
    Bool,
    I8,
    I16,
    U8,
    I32,
    U16,
    I64,
    U32,
    U64,
    F16,
    F32,
    F64,
    Decimal(i8),
    Utf8,
    LargeUtf8,
    Utf8View,
    Binary,
    LargeBinary,
    BinaryView,
    FixedBinary,
    Date32,
    Date64,
    Time(TimeUnit),
    Timestamp(TimeUnit),
    Json(NullableEncoder<'a>),
}

type CellResult = Result<(), &'static str>;

impl<'a> Column<'a> {
    fn new(
        name: &'a str,
        field: &'a FieldRef,
        array: &'a ArrayRef,
        options: &'a EncoderOptions,
    ) -> Result<Self, PgError> {
        let kind = match array.data_type() {
            DataType::Boolean => Kind::Bool,
            DataType::Int8 => Kind::I8,
            DataType::Int16 => Kind::I16,
            DataType::UInt8 => Kind::U8,
            DataType::Int32 => Kind::I32,
            DataType::UInt16 => Kind::U16,
            DataType::Int64 => Kind::I64,
            DataType::UInt32 => Kind::U32,
            DataType::UInt64 => Kind::U64,
            DataType::Float16 => Kind::F16,
            DataType::Float32 => Kind::F32,
            DataType::Float64 => Kind::F64,
            DataType::Decimal128(_, s) => Kind::Decimal(*s),
            DataType::Utf8 => Kind::Utf8,
            DataType::LargeUtf8 => Kind::LargeUtf8,
            DataType::Utf8View => Kind::Utf8View,
            DataType::Binary => Kind::Binary,
            DataType::LargeBinary => Kind::LargeBinary,
            DataType::BinaryView => Kind::BinaryView,
            DataType::FixedSizeBinary(_) => Kind::FixedBinary,
            DataType::Date32 => Kind::Date32,
            DataType::Date64 => Kind::Date64,
            DataType::Time32(u) | DataType::Time64(u) => Kind::Time(*u),
            DataType::Timestamp(u, _) => Kind::Timestamp(*u),
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _) => {
                Kind::Json(make_encoder(field, array.as_ref(), options).map_err(|_| {
                    PgError::UnsupportedType {
                        column: name.to_owned(),
                        arrow_type: array.data_type().to_string(),
                    }
                })?)
            }
            other => {
                return Err(PgError::UnsupportedType {
                    column: name.to_owned(),
                    arrow_type: other.to_string(),
                });
            }
        };
        Ok(Column { name, array, kind })
    }

    #[inline]
    fn write(&mut self, row: usize, out: &mut BytesMut, scratch: &mut Vec<u8>) -> CellResult {
        let a = self.array.as_ref();
        if a.is_null(row) {
            out.put_i32(-1);
            return Ok(());
        }
        match &mut self.kind {
            Kind::Bool => {
                out.put_i32(1);
                out.put_u8(u8::from(a.as_boolean().value(row)));
            }
            Kind::I8 => put_i16(out, i16::from(a.as_primitive::<Int8Type>().value(row))),
            Kind::I16 => put_i16(out, a.as_primitive::<Int16Type>().value(row)),
            Kind::U8 => put_i16(out, i16::from(a.as_primitive::<UInt8Type>().value(row))),
            Kind::I32 => put_i32(out, a.as_primitive::<Int32Type>().value(row)),
            Kind::U16 => put_i32(out, i32::from(a.as_primitive::<UInt16Type>().value(row))),
            Kind::I64 => put_i64(out, a.as_primitive::<Int64Type>().value(row)),
            Kind::U32 => put_i64(out, i64::from(a.as_primitive::<UInt32Type>().value(row))),
            Kind::U64 => {
                let v = a.as_primitive::<UInt64Type>().value(row);
                put_numeric(out, false, u128::from(v), 0, 0);
            }
            Kind::F16 => {
                let v = a.as_primitive::<Float16Type>().value(row).to_f32();
                out.put_i32(4);
                out.put_f32(v);
            }
            Kind::F32 => {
                out.put_i32(4);
                out.put_f32(a.as_primitive::<Float32Type>().value(row));
            }
            Kind::F64 => {
                out.put_i32(8);
                out.put_f64(a.as_primitive::<Float64Type>().value(row));
            }
            Kind::Decimal(scale) => {
                let v = a.as_primitive::<Decimal128Type>().value(row);
                let dscale = u16::try_from(*scale).unwrap_or(0);
                put_numeric(out, v < 0, v.unsigned_abs(), i32::from(*scale), dscale);
            }
            Kind::Utf8 => put_text(out, a.as_string::<i32>().value(row))?,
            Kind::LargeUtf8 => put_text(out, a.as_string::<i64>().value(row))?,
            Kind::Utf8View => put_text(out, a.as_string_view().value(row))?,
            Kind::Binary => put_bytes(out, a.as_binary::<i32>().value(row))?,
            Kind::LargeBinary => put_bytes(out, a.as_binary::<i64>().value(row))?,
            Kind::BinaryView => put_bytes(out, a.as_binary_view().value(row))?,
            Kind::FixedBinary => put_bytes(out, a.as_fixed_size_binary().value(row))?,
            Kind::Date32 => {
                let days = i64::from(a.as_primitive::<Date32Type>().value(row));
                put_date(out, days)?;
            }
            Kind::Date64 => {
                let ms = a.as_primitive::<Date64Type>().value(row);
                put_date(out, ms.div_euclid(86_400_000))?;
            }
            Kind::Time(unit) => {
                let micros = match unit {
                    TimeUnit::Second => {
                        i64::from(a.as_primitive::<Time32SecondType>().value(row)) * 1_000_000
                    }
                    TimeUnit::Millisecond => {
                        i64::from(a.as_primitive::<Time32MillisecondType>().value(row)) * 1_000
                    }
                    TimeUnit::Microsecond => a.as_primitive::<Time64MicrosecondType>().value(row),
                    TimeUnit::Nanosecond => {
                        a.as_primitive::<Time64NanosecondType>().value(row) / 1_000
                    }
                };
                if !(0..=86_400_000_000).contains(&micros) {
                    return Err("a time of day outside 00:00–24:00");
                }
                put_i64(out, micros);
            }
            Kind::Timestamp(unit) => {
                let v = match unit {
                    TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                    TimeUnit::Millisecond => {
                        a.as_primitive::<TimestampMillisecondType>().value(row)
                    }
                    TimeUnit::Microsecond => {
                        a.as_primitive::<TimestampMicrosecondType>().value(row)
                    }
                    TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
                };
                let (mul, div) = time_unit_micros(*unit);
                let micros = v
                    .checked_mul(mul)
                    .map(|m| m.div_euclid(div))
                    .and_then(|m| m.checked_sub(PG_EPOCH_MICROS))
                    .ok_or("a timestamp outside the range PostgreSQL stores")?;
                put_i64(out, micros);
            }
            Kind::Json(encoder) => {
                scratch.clear();
                scratch.push(1); // jsonb version
                encoder.encode(row, scratch);
                put_bytes(out, scratch)?;
            }
        }
        Ok(())
    }
}

#[inline]
fn put_i16(out: &mut BytesMut, v: i16) {
    out.put_i32(2);
    out.put_i16(v);
}

#[inline]
fn put_i32(out: &mut BytesMut, v: i32) {
    out.put_i32(4);
    out.put_i32(v);
}

#[inline]
fn put_i64(out: &mut BytesMut, v: i64) {
    out.put_i32(8);
    out.put_i64(v);
}

#[inline]
fn put_bytes(out: &mut BytesMut, b: &[u8]) -> CellResult {
    let len = i32::try_from(b.len()).map_err(|_| "a value of 2 GiB or more")?;
    out.put_i32(len);
    out.put_slice(b);
    Ok(())
}

#[inline]
fn put_text(out: &mut BytesMut, s: &str) -> CellResult {
    // PostgreSQL text cannot hold NUL.
    if s.as_bytes().contains(&0) {
        return Err("a text holding a NUL byte, which PostgreSQL text cannot store");
    }
    put_bytes(out, s.as_bytes())
}

fn put_date(out: &mut BytesMut, days_since_unix_epoch: i64) -> CellResult {
    let days = i32::try_from(days_since_unix_epoch - PG_EPOCH_DAYS)
        .map_err(|_| "a date outside the range PostgreSQL stores")?;
    put_i32(out, days);
    Ok(())
}

/// Writes the numeric `±magnitude × 10^−scale` (a negative scale
/// multiplies) in PostgreSQL's binary form: base-10000 digits aligned on the
/// decimal point, the weight of the first one, the sign and the display
/// scale. Leading and trailing zero digits are dropped, as the server does.
fn put_numeric(out: &mut BytesMut, negative: bool, magnitude: u128, scale: i32, dscale: u16) {
    // Decimal digits, least significant first (u128 has at most 39).
    let mut decimal = [0u8; 40];
    let mut len = 0;
    let mut m = magnitude;
    while m > 0 {
        decimal[len] = (m % 10) as u8;
        m /= 10;
        len += 1;
    }
    // Group g holds the decimal digits of exponents 4g..4g+3.
    let group_of = |i: usize| (i as i32 - scale).div_euclid(4);
    let mut groups = [0i16; 24];
    let (lo, hi) = if len == 0 {
        (0, -1)
    } else {
        (group_of(0), group_of(len - 1))
    };
    for (i, &d) in decimal[..len].iter().enumerate() {
        let within = (i as i32 - scale).rem_euclid(4) as u32;
        groups[(group_of(i) - lo) as usize] += i16::from(d) * 10i16.pow(within);
    }
    // Most significant first, zero groups trimmed at both ends.
    let count = (hi - lo + 1).max(0) as usize;
    let digits: Vec<i16> = groups[..count].iter().rev().copied().collect();
    let first = digits.iter().position(|&d| d != 0);
    let (digits, weight) = match first {
        None => (&digits[..0], 0),
        Some(f) => {
            let last = digits.iter().rposition(|&d| d != 0).unwrap_or(f);
            (&digits[f..=last], (hi - f as i32) as i16)
        }
    };
    let sign: u16 = if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.put_i32(8 + 2 * digits.len() as i32);
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(dscale);
    for d in digits {
        out.put_i16(*d);
    }
}

/// The rows of `batch` as one complete binary `COPY` stream (header, rows,
/// trailer), for callers that send a batch at a time.
pub fn encode_stream(table: &PgTable, batch: &RecordBatch) -> Result<BytesMut, PgError> {
    let mut out = BytesMut::new();
    header(&mut out);
    CopyEncoder::new(table).encode(batch, &mut out)?;
    trailer(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numeric's (ndigits, weight, sign, dscale, digits).
    fn numeric(negative: bool, magnitude: u128, scale: i32, dscale: u16) -> Vec<i16> {
        let mut out = BytesMut::new();
        put_numeric(&mut out, negative, magnitude, scale, dscale);
        out[4..]
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_are_base_10000_digits_aligned_on_the_point() {
        // 12345.678 = 1|2345.6780: weight 1.
        assert_eq!(
            numeric(false, 12_345_678, 3, 3),
            vec![3, 1, 0, 3, 1, 2345, 6780]
        );
        // −0.0001 = 0.0001: one digit of weight −1.
        assert_eq!(numeric(true, 1, 4, 4), vec![1, -1, 0x4000, 4, 1]);
        // 10000 (scale 0): one digit 1 of weight 1, trailing zero group dropped.
        assert_eq!(numeric(false, 10_000, 0, 0), vec![1, 1, 0, 0, 1]);
        // Zero keeps its display scale and has no sign.
        assert_eq!(numeric(true, 0, 2, 2), vec![0, 0, 0, 2]);
        // 5 × 10^5 from a negative scale.
        assert_eq!(numeric(false, 5, -5, 0), vec![1, 1, 0, 0, 50]);
        // u128::MAX has 39 digits.
        assert_eq!(numeric(false, u128::MAX, 0, 0)[0], 10);
    }

    #[test]
    fn timestamps_count_from_2000() {
        assert_eq!(PG_EPOCH_MICROS, 946_684_800_000_000);
    }
}
