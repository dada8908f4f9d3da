//! PostgreSQL values in text format, read into Arrow columns.
//!
//! Values come from pgoutput tuples and from `COPY ... TO STDOUT` in
//! PostgreSQL's text output format, written by a session with
//! `DateStyle=ISO, MDY`, `TimeZone=UTC`, `extra_float_digits=3`,
//! `bytea_output=hex`, `IntervalStyle=postgres` and `client_encoding=UTF8`.
//! [`arrow_type`] says which Arrow type a column becomes; a [`ColumnBuilder`]
//! reads the values of one column into an Arrow array of that type.
//!
//! Numbers, dates and times are read straight from the bytes, without
//! allocating; types with no closer Arrow type (`uuid`, `jsonb`, `interval`,
//! arrays, enums, ...) keep their exact text as `Utf8`.

use std::sync::Arc;

use arrow_array::builder::{BooleanBufferBuilder, NullBufferBuilder, OffsetBufferBuilder};
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{ArrayRef, BinaryArray, BooleanArray, PrimitiveArray, StringArray};
use arrow_schema::{DataType, TimeUnit};

/// The type OIDs this module knows (PostgreSQL's `pg_type.dat`).
mod oid {
    pub(super) const BOOL: u32 = 16;
    pub(super) const BYTEA: u32 = 17;
    pub(super) const CHAR: u32 = 18;
    pub(super) const NAME: u32 = 19;
    pub(super) const INT8: u32 = 20;
    pub(super) const INT2: u32 = 21;
    pub(super) const INT4: u32 = 23;
    pub(super) const TEXT: u32 = 25;
    pub(super) const OID: u32 = 26;
    pub(super) const JSON: u32 = 114;
    pub(super) const XML: u32 = 142;
    pub(super) const CIDR: u32 = 650;
    pub(super) const FLOAT4: u32 = 700;
    pub(super) const FLOAT8: u32 = 701;
    pub(super) const MONEY: u32 = 790;
    pub(super) const MACADDR: u32 = 829;
    pub(super) const INET: u32 = 869;
    pub(super) const BPCHAR: u32 = 1042;
    pub(super) const VARCHAR: u32 = 1043;
    pub(super) const DATE: u32 = 1082;
    pub(super) const TIME: u32 = 1083;
    pub(super) const TIMESTAMP: u32 = 1114;
    pub(super) const TIMESTAMPTZ: u32 = 1184;
    pub(super) const INTERVAL: u32 = 1186;
    pub(super) const TIMETZ: u32 = 1266;
    pub(super) const NUMERIC: u32 = 1700;
    pub(super) const UUID: u32 = 2950;
    pub(super) const JSONB: u32 = 3802;
}

/// The name PostgreSQL gives a type (`format_type`), for the types this
/// module knows.
fn type_name(type_oid: u32) -> Option<&'static str> {
    Some(match type_oid {
        oid::BOOL => "boolean",
        oid::BYTEA => "bytea",
        oid::CHAR => "\"char\"",
        oid::NAME => "name",
        oid::INT8 => "bigint",
        oid::INT2 => "smallint",
        oid::INT4 => "integer",
        oid::TEXT => "text",
        oid::OID => "oid",
        oid::JSON => "json",
        oid::XML => "xml",
        oid::CIDR => "cidr",
        oid::FLOAT4 => "real",
        oid::FLOAT8 => "double precision",
        oid::MONEY => "money",
        oid::MACADDR => "macaddr",
        oid::INET => "inet",
        oid::BPCHAR => "character",
        oid::VARCHAR => "character varying",
        oid::DATE => "date",
        oid::TIME => "time without time zone",
        oid::TIMESTAMP => "timestamp without time zone",
        oid::TIMESTAMPTZ => "timestamp with time zone",
        oid::INTERVAL => "interval",
        oid::TIMETZ => "time with time zone",
        oid::NUMERIC => "numeric",
        oid::UUID => "uuid",
        oid::JSONB => "jsonb",
        _ => return None,
    })
}

/// How the values of a column are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int16,
    Int32,
    Int64,
    /// `oid`: an unsigned 32-bit number, kept as `Int64`.
    Oid,
    Float32,
    Float64,
    /// A numeric with a precision and scale that fit `Decimal128`.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    Timestamp,
    Timestamptz,
    Bytea,
    /// Everything else: the exact text.
    Text,
}

/// `VARHDRSZ`, which PostgreSQL adds to a numeric type modifier.
const VARHDRSZ: i32 = 4;

impl Kind {
    fn of(type_oid: u32, type_modifier: i32) -> Kind {
        match type_oid {
            oid::BOOL => Kind::Bool,
            oid::INT2 => Kind::Int16,
            oid::INT4 => Kind::Int32,
            oid::INT8 => Kind::Int64,
            oid::OID => Kind::Oid,
            oid::FLOAT4 => Kind::Float32,
            oid::FLOAT8 => Kind::Float64,
            oid::NUMERIC => Kind::numeric(type_modifier),
            oid::DATE => Kind::Date,
            oid::TIMESTAMP => Kind::Timestamp,
            oid::TIMESTAMPTZ => Kind::Timestamptz,
            oid::BYTEA => Kind::Bytea,
            _ => Kind::Text,
        }
    }

    /// `numeric(p, s)`. Since PostgreSQL 15 the scale may be negative
    /// (`numeric(5,-2)` rounds to hundreds) or larger than the precision
    /// (`numeric(3,5)` holds values below 0.01); the modifier keeps it as an
    /// 11-bit signed number (`numeric_typmod_scale` in `numeric.c`), which
    /// reads older modifiers (scale 0..=precision) the same way. Both cases
    /// become a `Decimal128` with a scale in 0..=precision that holds every
    /// value of the column exactly: `numeric(5,-2)` → `Decimal128(7, 0)`,
    /// `numeric(3,5)` → `Decimal128(5, 5)`. Unconstrained numerics and those
    /// needing more than 38 digits stay text.
    fn numeric(type_modifier: i32) -> Kind {
        if type_modifier < VARHDRSZ {
            return Kind::Text;
        }
        let typmod = type_modifier - VARHDRSZ;
        let precision = (typmod >> 16) & 0xFFFF;
        let scale = ((typmod & 0x7FF) ^ 1024) - 1024;
        let (digits, scale) = if scale < 0 {
            (precision - scale, 0)
        } else {
            (precision.max(scale), scale)
        };
        match (u8::try_from(digits), u8::try_from(scale)) {
            (Ok(digits @ 1..=38), Ok(scale)) if precision >= 1 => Kind::Decimal {
                precision: digits,
                scale,
            },
            _ => Kind::Text,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 | Kind::Oid => DataType::Int64,
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
            Kind::Decimal { precision, scale } => DataType::Decimal128(
                precision,
                i8::try_from(scale).expect("a scale is at most 38"),
            ),
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Bytea => DataType::Binary,
            Kind::Text => DataType::Utf8,
        }
    }
}

/// The Arrow type a PostgreSQL column becomes in the change history.
///
/// | PostgreSQL | Arrow |
/// |---|---|
/// | `boolean` | `Boolean` |
/// | `smallint`, `integer`, `bigint` | `Int16`, `Int32`, `Int64` |
/// | `oid` | `Int64` |
/// | `real`, `double precision` | `Float32`, `Float64` |
/// | `numeric(p, s)` with `p` ≤ 38 | `Decimal128(p, s)` (a negative scale `s` gives `Decimal128(p - s, 0)`, a scale above the precision `Decimal128(s, s)`) |
/// | `date` | `Date32` (`infinity` and `-infinity` as the extreme values, as PostgreSQL stores them) |
/// | `timestamp` | `Timestamp(Microsecond, None)` (infinities likewise) |
/// | `timestamptz` | `Timestamp(Microsecond, "UTC")` (infinities likewise) |
/// | `bytea` | `Binary` |
/// | everything else, including unconstrained `numeric` and `time` (Delta has no time-of-day type) | `Utf8`, the exact text |
///
/// ```
/// use arrow_schema::DataType;
/// use caresync_cdc::arrow_type;
///
/// assert_eq!(arrow_type(23, -1), DataType::Int32);
/// // numeric(10,2): the modifier is (10 << 16 | 2) + 4
/// assert_eq!(arrow_type(1700, (10 << 16 | 2) + 4), DataType::Decimal128(10, 2));
/// assert_eq!(arrow_type(1700, -1), DataType::Utf8);
/// assert_eq!(arrow_type(2950, -1), DataType::Utf8); // uuid
/// ```
pub fn arrow_type(type_oid: u32, type_modifier: i32) -> DataType {
    Kind::of(type_oid, type_modifier).data_type()
}

/// What is wrong with a value; never the value itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    /// The text of a text-like type is not UTF-8.
    NotUtf8,
    /// The text is not in the type's output format.
    Malformed(&'static str),
    /// The value is in the format but outside what the column or Arrow holds.
    OutOfRange(&'static str),
    /// A value PostgreSQL has (`NaN`, `infinity`) that the Arrow type has not.
    NoArrowValue(&'static str),
    /// The column already holds as many bytes as one Arrow array can.
    ArrayFull,
}

/// Why a value could not be read. It names the type and the reason, never
/// the value.
///
/// ```text
/// [CDC-0201] a value of type date cannot be read: not an ISO date
/// ```
///
/// | code | reason |
/// |---|---|
/// | `CDC-0200` | the text of a text-like type is not UTF-8 |
/// | `CDC-0201` | the text is not in the type's output format |
/// | `CDC-0202` | the value is outside the column's precision or Arrow's range |
/// | `CDC-0203` | the value (`NaN`, `infinity`) has no Arrow equivalent |
/// | `CDC-0204` | the column holds 2 GiB of bytes already; finish the batch sooner |
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[{}] a value of type {} cannot be read: {}", self.code(), TypeLabel(self.type_oid), self.reason())]
pub struct ValueError {
    problem: Problem,
    type_oid: u32,
}

impl ValueError {
    /// The error code, `CDC-0200` to `CDC-0204`.
    pub fn code(&self) -> &'static str {
        match self.problem {
            Problem::NotUtf8 => "CDC-0200",
            Problem::Malformed(_) => "CDC-0201",
            Problem::OutOfRange(_) => "CDC-0202",
            Problem::NoArrowValue(_) => "CDC-0203",
            Problem::ArrayFull => "CDC-0204",
        }
    }

    /// Why the value could not be read, e.g. `not an ISO date`.
    pub fn reason(&self) -> &'static str {
        match self.problem {
            Problem::NotUtf8 => "not UTF-8",
            Problem::Malformed(reason)
            | Problem::OutOfRange(reason)
            | Problem::NoArrowValue(reason) => reason,
            Problem::ArrayFull => "the column's batch holds 2 GiB already",
        }
    }

    /// The OID of the column's type.
    pub fn type_oid(&self) -> u32 {
        self.type_oid
    }

    /// The name of the column's type, if it is one this crate knows.
    pub fn type_name(&self) -> Option<&'static str> {
        type_name(self.type_oid)
    }
}

/// A type's name, or its OID when the name is not known.
struct TypeLabel(u32);

impl std::fmt::Display for TypeLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match type_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "OID {}", self.0),
        }
    }
}

/// The values of a column so far, typed.
enum Values {
    Boolean(BooleanBufferBuilder),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Decimal128 {
        values: Vec<i128>,
        precision: u8,
        scale: u8,
    },
    Date32(Vec<i32>),
    /// Timestamps (with or without time zone) and times of day.
    Micros(Vec<i64>),
    /// `Binary` or `Utf8`: `offsets` starts with 0 and has one more entry
    /// than there are values.
    Bytes {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
}

impl Values {
    fn new(kind: Kind, capacity: usize) -> Values {
        match kind {
            Kind::Bool => Values::Boolean(BooleanBufferBuilder::new(capacity)),
            Kind::Int16 => Values::Int16(Vec::with_capacity(capacity)),
            Kind::Int32 => Values::Int32(Vec::with_capacity(capacity)),
            Kind::Int64 | Kind::Oid => Values::Int64(Vec::with_capacity(capacity)),
            Kind::Float32 => Values::Float32(Vec::with_capacity(capacity)),
            Kind::Float64 => Values::Float64(Vec::with_capacity(capacity)),
            Kind::Decimal { precision, scale } => Values::Decimal128 {
                values: Vec::with_capacity(capacity),
                precision,
                scale,
            },
            Kind::Date => Values::Date32(Vec::with_capacity(capacity)),
            Kind::Timestamp | Kind::Timestamptz => Values::Micros(Vec::with_capacity(capacity)),
            Kind::Bytea | Kind::Text => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Values::Bytes {
                    offsets,
                    data: Vec::with_capacity(capacity.saturating_mul(16)),
                }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::Boolean(v) => v.len(),
            Values::Int16(v) => v.len(),
            Values::Int32(v) => v.len(),
            Values::Int64(v) => v.len(),
            Values::Float32(v) => v.len(),
            Values::Float64(v) => v.len(),
            Values::Decimal128 { values, .. } => values.len(),
            Values::Date32(v) => v.len(),
            Values::Micros(v) => v.len(),
            Values::Bytes { offsets, .. } => offsets.len() - 1,
        }
    }

    /// Appends the placeholder value that sits under a null.
    fn push_default(&mut self) {
        match self {
            Values::Boolean(v) => v.append(false),
            Values::Int16(v) => v.push(0),
            Values::Int32(v) => v.push(0),
            Values::Int64(v) => v.push(0),
            Values::Float32(v) => v.push(0.0),
            Values::Float64(v) => v.push(0.0),
            Values::Decimal128 { values, .. } => values.push(0),
            Values::Date32(v) => v.push(0),
            Values::Micros(v) => v.push(0),
            Values::Bytes { offsets, .. } => {
                let end = offsets.last().copied().unwrap_or(0);
                offsets.push(end);
            }
        }
    }

    fn truncate(&mut self, len: usize) {
        match self {
            Values::Boolean(v) => v.truncate(len),
            Values::Int16(v) => v.truncate(len),
            Values::Int32(v) => v.truncate(len),
            Values::Int64(v) => v.truncate(len),
            Values::Float32(v) => v.truncate(len),
            Values::Float64(v) => v.truncate(len),
            Values::Decimal128 { values, .. } => values.truncate(len),
            Values::Date32(v) => v.truncate(len),
            Values::Micros(v) => v.truncate(len),
            Values::Bytes { offsets, data } => {
                offsets.truncate(len + 1);
                let end = offsets.last().copied().unwrap_or(0);
                data.truncate(usize::try_from(end).unwrap_or(0));
            }
        }
    }
}

/// Reads text-format values of one column into an Arrow array of the type
/// [`arrow_type`] gives.
///
/// A value that cannot be read is not appended: [`append_text`] returns the
/// error and leaves the column as it was, so the caller may append a null in
/// its place, or drop the whole row by [`truncate`]-ing every column of the
/// batch back to the row's start.
///
/// ```
/// use arrow_array::Array;
/// use arrow_array::cast::AsArray;
/// use arrow_array::types::Date32Type;
/// use caresync_cdc::ColumnBuilder;
///
/// let mut dates = ColumnBuilder::new(1082, -1, 3);
/// dates.append_text(b"1970-01-02")?;
/// dates.append_null();
/// let err = dates.append_text(b"2026-02-30").unwrap_err();
/// assert_eq!(err.to_string(), "[CDC-0202] a value of type date cannot be read: day out of range for the month");
/// dates.append_null(); // in place of the value that could not be read
///
/// let array = dates.finish();
/// let array = array.as_primitive::<Date32Type>();
/// assert_eq!(array.value(0), 1);
/// assert_eq!(array.null_count(), 2);
/// # Ok::<(), caresync_cdc::ValueError>(())
/// ```
///
/// [`append_text`]: ColumnBuilder::append_text
/// [`truncate`]: ColumnBuilder::truncate
pub struct ColumnBuilder {
    kind: Kind,
    type_oid: u32,
    data_type: DataType,
    capacity: usize,
    values: Values,
    nulls: NullBufferBuilder,
}

/// Shows the type and the number of values, never the values.
impl std::fmt::Debug for ColumnBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnBuilder")
            .field("type_oid", &self.type_oid)
            .field("data_type", &self.data_type)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl ColumnBuilder {
    /// A builder for a column of type `type_oid` with modifier
    /// `type_modifier` (`-1` for none), with room for `capacity` values.
    pub fn new(type_oid: u32, type_modifier: i32, capacity: usize) -> Self {
        let kind = Kind::of(type_oid, type_modifier);
        ColumnBuilder {
            kind,
            type_oid,
            data_type: kind.data_type(),
            capacity,
            values: Values::new(kind, capacity),
            nulls: NullBufferBuilder::new(capacity),
        }
    }

    /// The Arrow type of the arrays this builder makes.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// The OID of the column's PostgreSQL type.
    pub fn type_oid(&self) -> u32 {
        self.type_oid
    }

    /// Reads one value in PostgreSQL's text output format and appends it.
    ///
    /// # Errors
    ///
    /// A [`ValueError`] if the text is not a value of the column's type that
    /// the Arrow type can hold; nothing is appended then.
    pub fn append_text(&mut self, text: &[u8]) -> Result<(), ValueError> {
        let kind = self.kind;
        let appended = match &mut self.values {
            Values::Boolean(v) => parse_bool(text).map(|b| v.append(b)),
            Values::Int16(v) => parse_i64(text)
                .and_then(|n| i16::try_from(n).map_err(|_| INT_RANGE))
                .map(|n| v.push(n)),
            Values::Int32(v) => parse_i64(text)
                .and_then(|n| i32::try_from(n).map_err(|_| INT_RANGE))
                .map(|n| v.push(n)),
            Values::Int64(v) => {
                let n = parse_i64(text);
                let n = if kind == Kind::Oid {
                    n.and_then(|n| match u32::try_from(n) {
                        Ok(_) => Ok(n),
                        Err(_) => Err(INT_RANGE),
                    })
                } else {
                    n
                };
                n.map(|n| v.push(n))
            }
            Values::Float32(v) => parse_f32(text).map(|x| v.push(x)),
            Values::Float64(v) => parse_f64(text).map(|x| v.push(x)),
            Values::Decimal128 {
                values,
                precision,
                scale,
            } => parse_decimal(text, *precision, *scale).map(|d| values.push(d)),
            Values::Date32(v) => parse_date(text).map(|d| v.push(d)),
            Values::Micros(v) => match kind {
                Kind::Timestamptz => parse_timestamp(text, true),
                _ => parse_timestamp(text, false),
            }
            .map(|us| v.push(us)),
            Values::Bytes { offsets, data } => {
                let start = data.len();
                let read = if kind == Kind::Bytea {
                    decode_bytea(text, data)
                } else {
                    match std::str::from_utf8(text) {
                        Ok(s) => {
                            data.extend_from_slice(s.as_bytes());
                            Ok(())
                        }
                        Err(_) => Err(Problem::NotUtf8),
                    }
                };
                match read.and_then(|()| i32::try_from(data.len()).map_err(|_| Problem::ArrayFull))
                {
                    Ok(end) => {
                        offsets.push(end);
                        Ok(())
                    }
                    Err(problem) => {
                        data.truncate(start);
                        Err(problem)
                    }
                }
            }
        };
        match appended {
            Ok(()) => {
                self.nulls.append_non_null();
                Ok(())
            }
            Err(problem) => Err(ValueError {
                problem,
                type_oid: self.type_oid,
            }),
        }
    }

    /// Appends a null.
    pub fn append_null(&mut self) {
        self.values.push_default();
        self.nulls.append_null();
    }

    /// The number of values (nulls included) appended since the last
    /// [`finish`](ColumnBuilder::finish).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no value was appended since the last
    /// [`finish`](ColumnBuilder::finish).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the first `len` values; does nothing if there are not more.
    /// This takes back a row whose later columns could not be read.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.values.truncate(len);
            self.nulls.truncate(len);
        }
    }

    /// The values appended so far as one Arrow array of
    /// [`data_type`](ColumnBuilder::data_type); the builder is empty again
    /// afterwards, ready for the next batch.
    pub fn finish(&mut self) -> ArrayRef {
        // The next batch likely has about as many values as this one.
        self.capacity = self.values.len();
        let nulls = self.nulls.finish();
        let values = std::mem::replace(&mut self.values, Values::new(self.kind, self.capacity));
        let data_type = self.data_type.clone();
        match values {
            Values::Boolean(mut v) => Arc::new(BooleanArray::new(v.finish(), nulls)),
            Values::Int16(v) => Arc::new(PrimitiveArray::<Int16Type>::new(v.into(), nulls)),
            Values::Int32(v) => Arc::new(PrimitiveArray::<Int32Type>::new(v.into(), nulls)),
            Values::Int64(v) => Arc::new(PrimitiveArray::<Int64Type>::new(v.into(), nulls)),
            Values::Float32(v) => Arc::new(PrimitiveArray::<Float32Type>::new(v.into(), nulls)),
            Values::Float64(v) => Arc::new(PrimitiveArray::<Float64Type>::new(v.into(), nulls)),
            Values::Decimal128 { values, .. } => Arc::new(
                PrimitiveArray::<Decimal128Type>::new(values.into(), nulls)
                    .with_data_type(data_type),
            ),
            Values::Date32(v) => Arc::new(PrimitiveArray::<Date32Type>::new(v.into(), nulls)),
            Values::Micros(v) => Arc::new(
                PrimitiveArray::<TimestampMicrosecondType>::new(v.into(), nulls)
                    .with_data_type(data_type),
            ),
            Values::Bytes { offsets, data } => {
                let mut lengths = OffsetBufferBuilder::new(offsets.len() - 1);
                for pair in offsets.windows(2) {
                    lengths.push_length(usize::try_from(pair[1] - pair[0]).unwrap_or(0));
                }
                let offsets = lengths.finish();
                if self.kind == Kind::Bytea {
                    Arc::new(
                        BinaryArray::try_new(offsets, data.into(), nulls)
                            .expect("offsets, values and nulls were appended together"),
                    )
                } else {
                    Arc::new(
                        StringArray::try_new(offsets, data.into(), nulls)
                            .expect("every value was checked to be UTF-8 when appended"),
                    )
                }
            }
        }
    }
}

const INT_RANGE: Problem = Problem::OutOfRange("integer out of range");
const NOT_INT: Problem = Problem::Malformed("not an integer");

fn parse_bool(text: &[u8]) -> Result<bool, Problem> {
    match text {
        b"t" => Ok(true),
        b"f" => Ok(false),
        _ => Err(Problem::Malformed("not t or f")),
    }
}

/// A decimal integer with an optional sign, read digit by digit.
#[inline]
fn parse_i64(text: &[u8]) -> Result<i64, Problem> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(NOT_INT);
    }
    // Accumulate negatively: i64::MIN has no positive counterpart.
    let mut n: i64 = 0;
    if digits.len() <= 18 {
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(NOT_INT);
            }
            n = n * 10 - i64::from(d);
        }
    } else {
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(NOT_INT);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_sub(i64::from(d)))
                .ok_or(INT_RANGE)?;
        }
    }
    if negative {
        Ok(n)
    } else {
        n.checked_neg().ok_or(INT_RANGE)
    }
}

/// `true` if the text of a float is one of PostgreSQL's spellings of
/// infinity rather than a finite number too large for the type.
fn is_infinity_word(text: &[u8]) -> bool {
    matches!(text, b"Infinity" | b"-Infinity" | b"+Infinity")
}

const NOT_FLOAT: Problem = Problem::Malformed("not a floating-point number");
const FLOAT_RANGE: Problem = Problem::OutOfRange("floating-point number out of range");

fn parse_f64(text: &[u8]) -> Result<f64, Problem> {
    let s = std::str::from_utf8(text).map_err(|_| NOT_FLOAT)?;
    let x: f64 = s.parse().map_err(|_| NOT_FLOAT)?;
    if x.is_infinite() && !is_infinity_word(text) {
        return Err(FLOAT_RANGE);
    }
    Ok(x)
}

fn parse_f32(text: &[u8]) -> Result<f32, Problem> {
    let s = std::str::from_utf8(text).map_err(|_| NOT_FLOAT)?;
    let x: f32 = s.parse().map_err(|_| NOT_FLOAT)?;
    if x.is_infinite() && !is_infinity_word(text) {
        return Err(FLOAT_RANGE);
    }
    Ok(x)
}

const POW10_I128: [i128; 39] = {
    let mut table = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

const NOT_DECIMAL: Problem = Problem::Malformed("not a decimal number");

/// A numeric as PostgreSQL prints it (`-12.50`, `0.001`, `12300`), as an
/// integer count of `10^-scale`, exactly. Fraction digits beyond `scale`
/// are accepted only if they are zeros; fewer are padded.
fn parse_decimal(text: &[u8], precision: u8, scale: u8) -> Result<i128, Problem> {
    let (negative, unsigned) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if unsigned == b"NaN" {
        return Err(Problem::NoArrowValue("NaN has no decimal value"));
    }
    if unsigned == b"Infinity" {
        return Err(Problem::NoArrowValue("infinity has no decimal value"));
    }
    let (integer, fraction) = match unsigned.iter().position(|&b| b == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &[][..]),
    };
    if integer.is_empty() && fraction.is_empty() {
        return Err(NOT_DECIMAL);
    }
    if !integer.iter().chain(fraction).all(u8::is_ascii_digit) {
        return Err(NOT_DECIMAL);
    }
    let first_significant = integer
        .iter()
        .position(|&b| b != b'0')
        .unwrap_or(integer.len());
    let integer = &integer[first_significant..];
    let scale = usize::from(scale);
    if integer.len() > usize::from(precision) - scale {
        return Err(Problem::OutOfRange(
            "more integer digits than the column's precision allows",
        ));
    }
    let (fraction, beyond_scale) = fraction.split_at(fraction.len().min(scale));
    if beyond_scale.iter().any(|&b| b != b'0') {
        return Err(Problem::OutOfRange(
            "more fraction digits than the column's scale",
        ));
    }
    // At most `precision` ≤ 38 digits: no overflow in i128.
    let mut n: i128 = 0;
    for &b in integer.iter().chain(fraction) {
        n = n * 10 + i128::from(b - b'0');
    }
    n *= POW10_I128[scale - fraction.len()];
    Ok(if negative { -n } else { n })
}

/// Exactly `N` ASCII digits as a number.
#[inline]
fn fixed_digits<const N: usize>(text: &[u8]) -> Option<u32> {
    let digits: &[u8; N] = text.get(..N)?.try_into().ok()?;
    let mut n = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u32::from(d);
    }
    Some(n)
}

/// Splits off a trailing ` BC`.
fn strip_bc(text: &[u8]) -> (&[u8], bool) {
    match text.strip_suffix(b" BC") {
        Some(rest) => (rest, true),
        None => (text, false),
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (astronomical years: 1 BC is year 0); Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

const NOT_DATE: Problem = Problem::Malformed("not an ISO date");

/// `YYYY-MM-DD` at the start of `text` (the year has 1 to 9 digits), as days
/// from 1970-01-01, and what follows it. `bc` turns the year into 1 BC, 2 BC
/// and so on.
fn parse_iso_date(text: &[u8], bc: bool) -> Result<(i64, &[u8]), Problem> {
    let year_len = text
        .iter()
        .position(|&b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    if year_len == 0 || year_len > 9 {
        return Err(NOT_DATE);
    }
    let mut year: i64 = 0;
    for &b in &text[..year_len] {
        year = year * 10 + i64::from(b - b'0');
    }
    let rest = &text[year_len..];
    if rest.len() < 6 || rest[0] != b'-' || rest[3] != b'-' {
        return Err(NOT_DATE);
    }
    let (Some(month), Some(day)) = (fixed_digits::<2>(&rest[1..]), fixed_digits::<2>(&rest[4..]))
    else {
        return Err(NOT_DATE);
    };
    if year == 0 {
        return Err(Problem::OutOfRange("year 0 does not exist"));
    }
    let year = if bc { 1 - year } else { year };
    if !(1..=12).contains(&month) {
        return Err(Problem::OutOfRange("month out of range"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(Problem::OutOfRange("day out of range for the month"));
    }
    Ok((days_from_civil(year, month, day), &rest[6..]))
}

fn parse_date(text: &[u8]) -> Result<i32, Problem> {
    // PostgreSQL's own representation of the infinities: the extreme values.
    match text {
        b"infinity" => return Ok(i32::MAX),
        b"-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let (text, bc) = strip_bc(text);
    let (days, rest) = parse_iso_date(text, bc)?;
    if !rest.is_empty() {
        return Err(NOT_DATE);
    }
    i32::try_from(days).map_err(|_| Problem::OutOfRange("date outside Arrow's Date32 range"))
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
const POW10_U32: [u32; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

const NOT_TIME: Problem = Problem::Malformed("not a time of day");

/// `HH:MM:SS` with an optional fraction of 1 to 6 digits at the start of
/// `text`, as microseconds since midnight (`24:00:00` is a whole day), and
/// what follows it.
#[inline]
fn parse_time_of_day(text: &[u8]) -> Result<(i64, &[u8]), Problem> {
    let (Some(hour), Some(minute), Some(second)) = (
        fixed_digits::<2>(text),
        text.get(3..).and_then(fixed_digits::<2>),
        text.get(6..).and_then(fixed_digits::<2>),
    ) else {
        return Err(NOT_TIME);
    };
    if text[2] != b':' || text[5] != b':' {
        return Err(NOT_TIME);
    }
    let mut rest = &text[8..];
    let mut micros: u32 = 0;
    if let [b'.', fraction @ ..] = rest {
        let len = fraction
            .iter()
            .position(|&b| !b.is_ascii_digit())
            .unwrap_or(fraction.len());
        if len == 0 || len > 6 {
            return Err(NOT_TIME);
        }
        for &b in &fraction[..len] {
            micros = micros * 10 + u32::from(b - b'0');
        }
        micros *= POW10_U32[6 - len];
        rest = &fraction[len..];
    }
    if hour > 24
        || minute > 59
        || second > 59
        || (hour == 24 && (minute, second, micros) != (0, 0, 0))
    {
        return Err(Problem::OutOfRange("time of day out of range"));
    }
    let seconds = i64::from(hour * 3600 + minute * 60 + second);
    Ok((seconds * MICROS_PER_SECOND + i64::from(micros), rest))
}

const NOT_TIMESTAMP: Problem = Problem::Malformed("not an ISO timestamp");
const NOT_OFFSET: Problem = Problem::Malformed("not a UTC offset (±HH, ±HH:MM or ±HH:MM:SS)");

/// A UTC offset `±HH`, `±HH:MM` or `±HH:MM:SS`, in seconds east of UTC.
fn parse_offset(text: &[u8]) -> Result<i64, Problem> {
    let (sign, rest) = match text {
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return Err(NOT_OFFSET),
    };
    let hours = fixed_digits::<2>(rest).ok_or(NOT_OFFSET)?;
    let (minutes, seconds) = match &rest[2..] {
        [] => (0, 0),
        [b':', m @ ..] if m.len() == 2 => (fixed_digits::<2>(m).ok_or(NOT_OFFSET)?, 0),
        [b':', m0, m1, b':', s @ ..] if s.len() == 2 => (
            fixed_digits::<2>(&[*m0, *m1]).ok_or(NOT_OFFSET)?,
            fixed_digits::<2>(s).ok_or(NOT_OFFSET)?,
        ),
        _ => return Err(NOT_OFFSET),
    };
    // PostgreSQL's limit for a time zone displacement is 15:59:59.
    if hours > 15 || minutes > 59 || seconds > 59 {
        return Err(Problem::OutOfRange("UTC offset out of range"));
    }
    Ok(sign * i64::from(hours * 3600 + minutes * 60 + seconds))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (with `±HH[:MM[:SS]]` when `with_offset`)
/// and an optional ` BC`, as microseconds since 1970-01-01 00:00 UTC.
#[inline]
fn parse_timestamp(text: &[u8], with_offset: bool) -> Result<i64, Problem> {
    // PostgreSQL's own representation of the infinities: the extreme values.
    match text {
        b"infinity" => return Ok(i64::MAX),
        b"-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let (text, bc) = strip_bc(text);
    let (days, rest) = parse_iso_date(text, bc).map_err(|p| match p {
        Problem::Malformed(_) => NOT_TIMESTAMP,
        p => p,
    })?;
    let rest = match rest {
        [b' ' | b'T', rest @ ..] => rest,
        _ => return Err(NOT_TIMESTAMP),
    };
    let (micros, rest) = parse_time_of_day(rest).map_err(|p| match p {
        Problem::Malformed(_) => NOT_TIMESTAMP,
        p => p,
    })?;
    let offset = if with_offset {
        parse_offset(rest)?
    } else if rest.is_empty() {
        0
    } else {
        return Err(NOT_TIMESTAMP);
    };
    days.checked_mul(MICROS_PER_DAY)
        .and_then(|us| us.checked_add(micros))
        .and_then(|us| us.checked_sub(offset * MICROS_PER_SECOND))
        .ok_or(Problem::OutOfRange("timestamp outside Arrow's range"))
}

const NOT_BYTEA: Problem = Problem::Malformed("not bytea in hex or escape format");

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the bytes of a `bytea` in hex format (`\x0aff`) or, should the
/// session print the older escape format, in that (`a\\\000`). On error the
/// caller takes back whatever was appended.
fn decode_bytea(text: &[u8], out: &mut Vec<u8>) -> Result<(), Problem> {
    if let [b'\\', b'x', hex @ ..] = text {
        if hex.len() % 2 != 0 {
            return Err(NOT_BYTEA);
        }
        out.reserve(hex.len() / 2);
        for pair in hex.chunks_exact(2) {
            let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(NOT_BYTEA);
            };
            out.push(high << 4 | low);
        }
        return Ok(());
    }
    let mut rest = text;
    while let Some(backslash) = rest.iter().position(|&b| b == b'\\') {
        out.extend_from_slice(&rest[..backslash]);
        match &rest[backslash + 1..] {
            [b'\\', tail @ ..] => {
                out.push(b'\\');
                rest = tail;
            }
            [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', tail @ ..] => {
                out.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
                rest = tail;
            }
            _ => return Err(NOT_BYTEA),
        }
    }
    out.extend_from_slice(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::ArrowPrimitiveType;
    use proptest::prelude::*;

    /// The modifier of `numeric(precision, scale)`, as PostgreSQL 15 makes it.
    fn numeric(precision: i32, scale: i32) -> i32 {
        ((precision << 16) | (scale & 0x7FF)) + VARHDRSZ
    }

    /// Every OID with its own reading, and a few text ones.
    const OIDS: [u32; 16] = [
        16, 17, 20, 21, 23, 25, 26, 700, 701, 1082, 1083, 1114, 1184, 1700, 2950, 16_385,
    ];

    /// One value read into a one-row array, or the error as `CODE reason`
    /// (after checking that its message does not repeat the value).
    fn read(type_oid: u32, type_modifier: i32, text: &[u8]) -> Result<ArrayRef, String> {
        let mut column = ColumnBuilder::new(type_oid, type_modifier, 1);
        match column.append_text(text) {
            Ok(()) => {
                assert_eq!(column.len(), 1);
                let array = column.finish();
                assert_eq!(array.data_type(), &arrow_type(type_oid, type_modifier));
                assert_eq!(array.null_count(), 0);
                Ok(array)
            }
            Err(e) => {
                assert!(column.is_empty(), "an error appends nothing");
                let message = e.to_string();
                if text.len() >= 3 {
                    let shown = String::from_utf8_lossy(text);
                    // Fixed words like `NaN` may be in the reason.
                    assert!(
                        !message.contains(&*shown) || e.reason().contains(&*shown),
                        "{message} shows the value"
                    );
                }
                assert!(message.starts_with(&format!("[{}] a value of type ", e.code())));
                Ok::<_, ()>(()).map_err(|()| String::new()).and(Err(format!(
                    "{} {}",
                    e.code(),
                    e.reason()
                )))
            }
        }
    }

    fn primitive<T: ArrowPrimitiveType>(
        type_oid: u32,
        type_modifier: i32,
        text: &str,
    ) -> Result<T::Native, String> {
        read(type_oid, type_modifier, text.as_bytes()).map(|a| a.as_primitive::<T>().value(0))
    }

    /// Checks each `(text, expected)` pair for one column type.
    fn check<T: ArrowPrimitiveType>(
        type_oid: u32,
        type_modifier: i32,
        cases: &[(&str, Result<T::Native, &str>)],
    ) where
        T::Native: PartialEq + std::fmt::Debug,
    {
        for (text, expected) in cases {
            let expected = expected.map_err(str::to_owned);
            assert_eq!(
                primitive::<T>(type_oid, type_modifier, text),
                expected,
                "{text:?} as type {type_oid}"
            );
        }
    }

    #[test]
    fn maps_types_to_arrow() {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        for (type_oid, type_modifier, expected) in [
            (16, -1, DataType::Boolean),
            (21, -1, DataType::Int16),
            (23, -1, DataType::Int32),
            (20, -1, DataType::Int64),
            (26, -1, DataType::Int64),
            (700, -1, DataType::Float32),
            (701, -1, DataType::Float64),
            (1082, -1, DataType::Date32),
            (1114, -1, DataType::Timestamp(TimeUnit::Microsecond, None)),
            (1114, 3, DataType::Timestamp(TimeUnit::Microsecond, None)),
            (1184, -1, utc),
            (1083, -1, DataType::Utf8),
            (17, -1, DataType::Binary),
            (1700, -1, DataType::Utf8),
            (1700, numeric(10, 2), DataType::Decimal128(10, 2)),
            (1700, numeric(1, 0), DataType::Decimal128(1, 0)),
            (1700, numeric(38, 38), DataType::Decimal128(38, 38)),
            (1700, numeric(39, 0), DataType::Utf8),
            (1700, numeric(1000, 1000), DataType::Utf8),
            // PostgreSQL 15: a negative scale, a scale above the precision.
            (1700, numeric(5, -2), DataType::Decimal128(7, 0)),
            (1700, numeric(36, -2), DataType::Decimal128(38, 0)),
            (1700, numeric(37, -2), DataType::Utf8),
            (1700, numeric(1, -1000), DataType::Utf8),
            (1700, numeric(3, 5), DataType::Decimal128(5, 5)),
            (1700, numeric(3, 39), DataType::Utf8),
            // Modifiers as PostgreSQL 15 reported them in pg_attribute.
            (1700, 329_730, DataType::Decimal128(7, 0)),
            (1700, 196_617, DataType::Decimal128(5, 5)),
            (1700, 655_366, DataType::Decimal128(10, 2)),
            (1700, 2_490_372, DataType::Decimal128(38, 0)),
            (1700, 65_537_004, DataType::Utf8),
            (1700, 458_759, DataType::Decimal128(7, 3)),
            (1700, 0, DataType::Utf8),
            (1700, numeric(0, 2), DataType::Utf8),
        ] {
            assert_eq!(
                arrow_type(type_oid, type_modifier),
                expected,
                "{type_oid}/{type_modifier}"
            );
        }
        for text_oid in [
            25,
            1043,
            1042,
            19,
            18,
            114,
            3802,
            2950,
            1186,
            1266,
            869,
            650,
            829,
            142,
            790,
            1007,
            16_385,
            0,
            u32::MAX,
        ] {
            assert_eq!(arrow_type(text_oid, -1), DataType::Utf8, "{text_oid}");
            assert_eq!(arrow_type(text_oid, 68), DataType::Utf8, "{text_oid}");
        }
    }

    #[test]
    fn reads_booleans() {
        let read_bool = |text: &str| read(16, -1, text.as_bytes()).map(|a| a.as_boolean().value(0));
        assert_eq!(read_bool("t"), Ok(true));
        assert_eq!(read_bool("f"), Ok(false));
        for bad in ["", "true", "T", "1", "t "] {
            assert_eq!(
                read_bool(bad),
                Err("CDC-0201 not t or f".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reads_integers() {
        let not_int = "CDC-0201 not an integer";
        let range = "CDC-0202 integer out of range";
        check::<Int16Type>(
            21,
            -1,
            &[
                ("0", Ok(0)),
                ("-0", Ok(0)),
                ("+7", Ok(7)),
                ("-32768", Ok(i16::MIN)),
                ("32767", Ok(i16::MAX)),
                ("32768", Err(range)),
                ("-32769", Err(range)),
                ("", Err(not_int)),
                ("-", Err(not_int)),
                (" 1", Err(not_int)),
                ("1.0", Err(not_int)),
            ],
        );
        check::<Int32Type>(
            23,
            -1,
            &[
                ("42", Ok(42)),
                ("-2147483648", Ok(i32::MIN)),
                ("2147483647", Ok(i32::MAX)),
                ("2147483648", Err(range)),
                ("00000000000000000000000000042", Ok(42)),
                ("1e3", Err(not_int)),
                ("", Err(not_int)),
            ],
        );
        check::<Int64Type>(
            20,
            -1,
            &[
                ("-9223372036854775808", Ok(i64::MIN)),
                ("9223372036854775807", Ok(i64::MAX)),
                ("9223372036854775808", Err(range)),
                ("-9223372036854775809", Err(range)),
                ("99999999999999999999999", Err(range)),
                ("123456789012345678", Ok(123_456_789_012_345_678)),
                ("-1234567890123456789", Ok(-1_234_567_890_123_456_789)),
                ("12345678901234567x9", Err(not_int)),
                ("1 ", Err(not_int)),
                ("", Err(not_int)),
                ("+", Err(not_int)),
                ("--1", Err(not_int)),
            ],
        );
        check::<Int64Type>(
            26,
            -1,
            &[
                ("0", Ok(0)),
                ("4294967295", Ok(4_294_967_295)),
                ("4294967296", Err(range)),
                ("-1", Err(range)),
            ],
        );
    }

    #[test]
    fn reads_floats() {
        let not_float = "CDC-0201 not a floating-point number";
        let range = "CDC-0202 floating-point number out of range";
        check::<Float64Type>(
            701,
            -1,
            &[
                ("0.1", Ok(0.1)),
                ("-12.5", Ok(-12.5)),
                ("1e+100", Ok(1e100)),
                ("1e-05", Ok(1e-5)),
                ("4.9406564584124654e-324", Ok(f64::from_bits(1))),
                ("1.7976931348623157e+308", Ok(f64::MAX)),
                ("Infinity", Ok(f64::INFINITY)),
                ("-Infinity", Ok(f64::NEG_INFINITY)),
                ("1e400", Err(range)),
                ("", Err(not_float)),
                ("1,5", Err(not_float)),
                (" 1", Err(not_float)),
            ],
        );
        check::<Float32Type>(
            700,
            -1,
            &[
                ("1.5", Ok(1.5)),
                ("0.1", Ok(0.1)),
                ("3.4028235e+38", Ok(f32::MAX)),
                ("-Infinity", Ok(f32::NEG_INFINITY)),
                ("1e39", Err(range)),
                ("x", Err(not_float)),
            ],
        );
        let nan = primitive::<Float64Type>(701, -1, "NaN").expect("NaN is a float8");
        assert!(nan.is_nan());
        let nan = primitive::<Float32Type>(700, -1, "NaN").expect("NaN is a float4");
        assert!(nan.is_nan());
        let zero = primitive::<Float64Type>(701, -1, "-0").expect("-0 is a float8");
        assert!(zero == 0.0 && zero.is_sign_negative());
    }

    #[test]
    fn reads_numerics_exactly() {
        let precision = "CDC-0202 more integer digits than the column's precision allows";
        let scale = "CDC-0202 more fraction digits than the column's scale";
        let malformed = "CDC-0201 not a decimal number";
        check::<Decimal128Type>(
            1700,
            numeric(10, 2),
            &[
                ("-12.50", Ok(-1250)),
                ("0.00", Ok(0)),
                ("-0.00", Ok(0)),
                ("0.01", Ok(1)),
                ("12.5", Ok(1250)),
                ("12", Ok(1200)),
                ("12.500", Ok(1250)),
                ("00012.50", Ok(1250)),
                ("99999999.99", Ok(9_999_999_999)),
                ("-99999999.99", Ok(-9_999_999_999)),
                ("100000000.00", Err(precision)),
                ("12.501", Err(scale)),
                ("NaN", Err("CDC-0203 NaN has no decimal value")),
                ("Infinity", Err("CDC-0203 infinity has no decimal value")),
                ("-Infinity", Err("CDC-0203 infinity has no decimal value")),
                ("", Err(malformed)),
                ("-", Err(malformed)),
                (".", Err(malformed)),
                ("1e5", Err(malformed)),
                ("1.2.3", Err(malformed)),
                (" 1.00", Err(malformed)),
            ],
        );
        check::<Decimal128Type>(
            1700,
            numeric(7, 3),
            &[
                ("0.001", Ok(1)),
                ("-0.001", Ok(-1)),
                ("1234.567", Ok(1_234_567)),
            ],
        );
        // Seen from PostgreSQL 15 in numeric(5,-2) and numeric(3,5) columns.
        check::<Decimal128Type>(
            1700,
            numeric(5, -2),
            &[
                ("12300", Ok(12_300)),
                ("-100000", Ok(-100_000)),
                ("0", Ok(0)),
            ],
        );
        check::<Decimal128Type>(
            1700,
            numeric(3, 5),
            &[
                ("0.00123", Ok(123)),
                ("-0.00999", Ok(-999)),
                ("0.99999", Ok(99_999)),
                ("1.00000", Err(precision)),
            ],
        );
        let max = "9".repeat(38);
        check::<Decimal128Type>(
            1700,
            numeric(38, 0),
            &[
                (&max, Ok(10_i128.pow(38) - 1)),
                (&format!("-{max}"), Ok(1 - 10_i128.pow(38))),
                (&format!("{max}9"), Err(precision)),
            ],
        );
        let tiny = format!("-0.{}1", "0".repeat(37));
        check::<Decimal128Type>(1700, numeric(38, 38), &[(&tiny, Ok(-1))]);
    }

    #[test]
    fn keeps_unconstrained_numerics_as_text() {
        for text in [
            "123.4500",
            "NaN",
            "-Infinity",
            "0.000000000000000000000000000000000000000001",
        ] {
            let array = read(1700, -1, text.as_bytes()).expect("any text");
            assert_eq!(array.as_string::<i32>().value(0), text);
        }
    }

    #[test]
    fn reads_dates() {
        let not_date = "CDC-0201 not an ISO date";
        let day = "CDC-0202 day out of range for the month";
        check::<Date32Type>(
            1082,
            -1,
            &[
                ("1970-01-01", Ok(0)),
                ("1969-12-31", Ok(-1)),
                ("2026-12-03", Ok(20_790)),
                ("2024-02-29", Ok(19_782)),
                ("2000-02-29", Ok(11_016)),
                ("9999-12-31", Ok(2_932_896)),
                ("10000-01-01", Ok(2_932_897)),
                ("0001-01-01", Ok(-719_162)),
                // 1 BC is the astronomical year 0, a leap year.
                ("0001-12-31 BC", Ok(-719_163)),
                ("0001-01-01 BC", Ok(-719_528)),
                ("0001-02-29 BC", Ok(-719_469)),
                ("0005-02-29 BC", Ok(-720_930)),
                // PostgreSQL's first and last dates.
                ("4714-11-24 BC", Ok(-2_440_588)),
                ("5874897-12-31", Ok(2_145_042_905)),
                ("2023-02-29", Err(day)),
                ("1900-02-29", Err(day)),
                ("0002-02-29 BC", Err(day)),
                ("2026-04-31", Err(day)),
                ("2026-01-00", Err(day)),
                ("2026-13-01", Err("CDC-0202 month out of range")),
                ("2026-00-10", Err("CDC-0202 month out of range")),
                ("0000-01-01", Err("CDC-0202 year 0 does not exist")),
                ("9999999999-01-01", Err(not_date)),
                ("infinity", Ok(i32::MAX)),
                ("-infinity", Ok(i32::MIN)),
                ("", Err(not_date)),
                ("2026-1-01", Err(not_date)),
                ("2026-01-1", Err(not_date)),
                ("2026/01/01", Err(not_date)),
                ("2026-12-03 ", Err(not_date)),
                ("2026-12-03BC", Err(not_date)),
                ("2026-12-03 00:00:00", Err(not_date)),
                ("-2026-12-03", Err(not_date)),
            ],
        );
    }

    #[test]
    fn reads_timestamps() {
        const DAY: i64 = MICROS_PER_DAY;
        let not_timestamp = "CDC-0201 not an ISO timestamp";
        let time_range = "CDC-0202 time of day out of range";
        check::<TimestampMicrosecondType>(
            1114,
            -1,
            &[
                ("1970-01-01 00:00:00", Ok(0)),
                ("1969-12-31 23:59:59.999999", Ok(-1)),
                ("2026-12-03 12:54:05.123456", Ok(1_796_302_445_123_456)),
                ("2026-12-03T12:54:05.123456", Ok(1_796_302_445_123_456)),
                ("1970-01-01 00:00:00.5", Ok(500_000)),
                ("1970-01-01 00:00:00.05", Ok(50_000)),
                ("1970-01-01 00:00:00.123", Ok(123_000)),
                ("1970-01-01 00:00:00.1234", Ok(123_400)),
                ("1970-01-01 00:00:00.12345", Ok(123_450)),
                ("1970-01-01 00:00:00.000001", Ok(1)),
                ("1970-01-01 24:00:00", Ok(DAY)),
                ("0001-01-01 00:00:00 BC", Ok(-719_528 * DAY)),
                ("0001-12-31 23:59:59.999999 BC", Ok(-719_162 * DAY - 1)),
                ("4713-01-01 00:00:00 BC", Ok(-210_863_520_000_000_000)),
                ("1970-01-01 00:00:00.1234567", Err(not_timestamp)),
                ("1970-01-01 00:00:00.", Err(not_timestamp)),
                ("1970-01-01 00:00", Err(not_timestamp)),
                ("1970-01-01  00:00:00", Err(not_timestamp)),
                ("1970-01-01 0:00:00", Err(not_timestamp)),
                ("1970-01-01", Err(not_timestamp)),
                ("1970-01-01 00:00:00+00", Err(not_timestamp)),
                ("1970-01-01 24:00:00.000001", Err(time_range)),
                ("1970-01-01 23:60:00", Err(time_range)),
                ("1970-01-01 23:59:60", Err(time_range)),
                ("1970-01-01 25:00:00", Err(time_range)),
                (
                    "1970-02-30 00:00:00",
                    Err("CDC-0202 day out of range for the month"),
                ),
                // PostgreSQL goes to 294276 AD, Arrow's microseconds to 294247.
                ("294247-01-10 04:00:54.775807", Ok(i64::MAX)),
                (
                    "294276-12-31 23:59:59.999999",
                    Err("CDC-0202 timestamp outside Arrow's range"),
                ),
                ("infinity", Ok(i64::MAX)),
                ("-infinity", Ok(i64::MIN)),
            ],
        );
    }

    #[test]
    fn reads_timestamps_with_time_zone_as_utc() {
        let not_offset = "CDC-0201 not a UTC offset (±HH, ±HH:MM or ±HH:MM:SS)";
        check::<TimestampMicrosecondType>(
            1184,
            -1,
            &[
                ("1970-01-01 00:00:00+00", Ok(0)),
                ("2026-12-03 12:54:05.123456+00", Ok(1_796_302_445_123_456)),
                ("2026-12-03 18:24:05.5+05:30", Ok(1_796_302_445_500_000)),
                ("2026-12-03 07:24:05.5-05:30", Ok(1_796_302_445_500_000)),
                ("1970-01-01 05:53:28+05:53:28", Ok(0)),
                ("1969-12-31 23:34:39-00:25:21", Ok(0)),
                ("1970-01-01 00:00:00+15:59:59", Ok(-57_599_000_000)),
                ("0001-01-01 00:00:00+00 BC", Ok(-719_528 * MICROS_PER_DAY)),
                (
                    "1970-01-01 00:00:00+16",
                    Err("CDC-0202 UTC offset out of range"),
                ),
                (
                    "1970-01-01 00:00:00+05:60",
                    Err("CDC-0202 UTC offset out of range"),
                ),
                ("1970-01-01 00:00:00", Err(not_offset)),
                ("1970-01-01 00:00:00+5", Err(not_offset)),
                ("1970-01-01 00:00:00+05:3", Err(not_offset)),
                ("1970-01-01 00:00:00+0530", Err(not_offset)),
                ("1970-01-01 00:00:00+05:30:", Err(not_offset)),
                ("1970-01-01 00:00:00 +00", Err(not_offset)),
                ("1970-01-01 00:00:00Z", Err(not_offset)),
                ("infinity", Ok(i64::MAX)),
            ],
        );
    }

    #[test]
    fn reads_bytea() {
        let read_bytes =
            |text: &[u8]| read(17, -1, text).map(|a| a.as_binary::<i32>().value(0).to_vec());
        assert_eq!(read_bytes(br"\x"), Ok(vec![]));
        assert_eq!(read_bytes(br"\x0aff"), Ok(vec![0x0A, 0xFF]));
        assert_eq!(read_bytes(br"\x0AFF"), Ok(vec![0x0A, 0xFF]));
        // The escape format, should a session print it.
        assert_eq!(
            read_bytes(br"\000\001\\A\377"),
            Ok(vec![0, 1, b'\\', b'A', 0xFF])
        );
        assert_eq!(read_bytes(b"abc"), Ok(b"abc".to_vec()));
        assert_eq!(read_bytes(b""), Ok(vec![]));
        for bad in [
            &br"\x0"[..],
            br"\x0a f",
            br"\xzz",
            br"\x0g",
            br"a\",
            br"\400",
            br"\01",
        ] {
            assert_eq!(
                read_bytes(bad),
                Err("CDC-0201 not bytea in hex or escape format".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keeps_other_types_as_exact_text() {
        for (type_oid, text) in [
            (25, "Jane \"JD\" Doe\n\tü €"),
            (25, ""),
            (1043, "varchar"),
            (1042, "padded    "),
            (2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            (3802, r#"{"a": "x\ty"}"#),
            (1186, "1 day 02:00:00"),
            (1266, "12:00:00+05:30"),
            (1009, r#"{"a b",NULL,"c\"d"}"#),
            (16_385, "an enum label"),
        ] {
            let array = read(type_oid, -1, text.as_bytes()).expect("text");
            assert_eq!(array.as_string::<i32>().value(0), text);
        }
        assert_eq!(
            read(25, -1, b"Jane\xff Doe"),
            Err("CDC-0200 not UTF-8".to_owned())
        );
    }

    #[test]
    fn errors_name_the_type_never_the_value() {
        let cases: [(u32, i32, &[u8], &str); 6] = [
            (
                1082,
                -1,
                b"1984-02-30",
                "[CDC-0202] a value of type date cannot be read: day out of range for the month",
            ),
            (
                1082,
                -1,
                b"30/01/1984",
                "[CDC-0201] a value of type date cannot be read: not an ISO date",
            ),
            (
                20,
                -1,
                b"123456789012345678901",
                "[CDC-0202] a value of type bigint cannot be read: integer out of range",
            ),
            (
                1700,
                numeric(4, 2),
                b"123.45",
                "[CDC-0202] a value of type numeric cannot be read: more integer digits than the column's precision allows",
            ),
            (
                16_385,
                -1,
                b"Jane\xff Doe",
                "[CDC-0200] a value of type OID 16385 cannot be read: not UTF-8",
            ),
            (
                1184,
                -1,
                b"1984-01-30 10:00:00",
                "[CDC-0201] a value of type timestamp with time zone cannot be read: not a UTC offset (±HH, ±HH:MM or ±HH:MM:SS)",
            ),
        ];
        for (type_oid, type_modifier, text, expected) in cases {
            let mut column = ColumnBuilder::new(type_oid, type_modifier, 1);
            let error = column.append_text(text).expect_err("not a value");
            assert_eq!(error.to_string(), expected);
            assert_eq!(error.type_oid(), type_oid);
            let debug = format!("{error:?}");
            assert!(
                !debug.contains("1984") && !debug.contains("Jane"),
                "{debug}"
            );
        }
        let error = ColumnBuilder::new(1082, -1, 0)
            .append_text(b"x")
            .expect_err("not a date");
        assert_eq!(
            (error.code(), error.type_name()),
            ("CDC-0201", Some("date"))
        );
    }

    #[test]
    fn failed_values_append_nothing_and_nulls_fill_in() {
        for type_oid in OIDS {
            let mut column = ColumnBuilder::new(type_oid, numeric(10, 2), 4);
            assert!(column.is_empty());
            // Not UTF-8, and the lone backslash is not bytea either.
            assert!(column.append_text(b"\xff not a value \\").is_err());
            assert!(column.is_empty());
            column.append_null();
            assert_eq!(column.len(), 1);
            let array = column.finish();
            assert_eq!(array.data_type(), column.data_type());
            assert_eq!((array.len(), array.null_count()), (1, 1));
            assert!(column.is_empty(), "finish resets the builder");
        }
    }

    #[test]
    fn debug_shows_the_type_never_values() {
        let mut column = ColumnBuilder::new(25, -1, 1);
        column.append_text(b"Jane Doe").expect("text");
        let debug = format!("{column:?}");
        assert_eq!(
            debug,
            "ColumnBuilder { type_oid: 25, data_type: Utf8, len: 1, .. }"
        );
    }

    #[test]
    fn builders_are_reused_after_finish() {
        let mut column = ColumnBuilder::new(25, -1, 2);
        column.append_text(b"first").expect("text");
        column.append_null();
        let first = column.finish();
        column.append_text(b"second").expect("text");
        let second = column.finish();
        assert_eq!(first.as_string::<i32>().value(0), "first");
        assert!(first.is_null(1));
        assert_eq!(second.len(), 1);
        assert_eq!(second.null_count(), 0);
        assert_eq!(second.as_string::<i32>().value(0), "second");
    }

    /// One valid text per column type, for the tests that only need a value.
    fn sample(type_oid: u32, i: usize) -> String {
        match type_oid {
            16 => if i.is_multiple_of(2) { "t" } else { "f" }.to_owned(),
            17 => format!("\\x{i:02x}ff"),
            20 | 21 | 23 | 26 => i.to_string(),
            700 | 701 => format!("{i}.5"),
            1082 => format!("2026-01-{:02}", i + 1),
            1083 => format!("12:00:{i:02}"),
            1114 => format!("2026-01-01 12:00:{i:02}"),
            1184 => format!("2026-01-01 12:00:{i:02}+00"),
            1700 => format!("{i}.25"),
            _ => format!("text {i}"),
        }
    }

    #[test]
    fn truncate_takes_back_a_row() {
        for type_oid in OIDS {
            let mut column = ColumnBuilder::new(type_oid, numeric(10, 2), 0);
            let mut expected = ColumnBuilder::new(type_oid, numeric(10, 2), 0);
            for i in 0..3 {
                column
                    .append_text(sample(type_oid, i).as_bytes())
                    .expect("sample");
            }
            column.append_null();
            column.truncate(9);
            assert_eq!(column.len(), 4, "truncating to more keeps everything");
            column.truncate(1);
            assert_eq!(column.len(), 1);
            column.append_null();
            column
                .append_text(sample(type_oid, 3).as_bytes())
                .expect("sample");

            expected
                .append_text(sample(type_oid, 0).as_bytes())
                .expect("sample");
            expected.append_null();
            expected
                .append_text(sample(type_oid, 3).as_bytes())
                .expect("sample");
            assert_eq!(
                column.finish().to_data(),
                expected.finish().to_data(),
                "type {type_oid}"
            );
        }
    }

    #[test]
    fn arrays_have_the_mapped_type_for_every_type() {
        for type_oid in OIDS {
            let mut column = ColumnBuilder::new(type_oid, numeric(10, 2), 8);
            for i in 0..8 {
                if i % 3 == 0 {
                    column.append_null();
                } else {
                    column
                        .append_text(sample(type_oid, i).as_bytes())
                        .expect("sample");
                }
            }
            let array = column.finish();
            assert_eq!(array.data_type(), &arrow_type(type_oid, numeric(10, 2)));
            assert_eq!((array.len(), array.null_count()), (8, 3));
            array
                .to_data()
                .validate_full()
                .expect("a valid Arrow array");
        }
    }

    /// The date of a day count (Howard Hinnant's `civil_from_days`), to
    /// print values the way PostgreSQL does.
    fn civil_from_days(days: i64) -> (i64, u32, u32) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("1..=31");
        let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("1..=12");
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    /// `(YYYY-MM-DD, " BC" or "")` as PostgreSQL prints a date.
    fn pg_date(days: i64) -> (String, &'static str) {
        let (year, month, day) = civil_from_days(days);
        let (year, era) = if year <= 0 {
            (1 - year, " BC")
        } else {
            (year, "")
        };
        (format!("{year:04}-{month:02}-{day:02}"), era)
    }

    /// A timestamp as PostgreSQL prints it: trailing zeros of the fraction
    /// dropped, the offset if any, then the era.
    fn pg_timestamp(local_micros: i64, offset: Option<&str>) -> String {
        let days = local_micros.div_euclid(MICROS_PER_DAY);
        let micros = local_micros.rem_euclid(MICROS_PER_DAY);
        let (date, era) = pg_date(days);
        let seconds = micros / MICROS_PER_SECOND;
        let fraction = micros % MICROS_PER_SECOND;
        let mut text = format!(
            "{date} {:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        );
        if fraction != 0 {
            text.push_str(format!(".{fraction:06}").trim_end_matches('0'));
        }
        text.push_str(offset.unwrap_or(""));
        text + era
    }

    /// `±HH`, `±HH:MM` or `±HH:MM:SS` for an offset in seconds.
    fn pg_offset(seconds: i64) -> String {
        let sign = if seconds < 0 { '-' } else { '+' };
        let s = seconds.abs();
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
        match (m, sec) {
            (0, 0) => format!("{sign}{h:02}"),
            (_, 0) => format!("{sign}{h:02}:{m:02}"),
            _ => format!("{sign}{h:02}:{m:02}:{sec:02}"),
        }
    }

    /// A decimal as PostgreSQL prints a `numeric(p, s)`: exactly `s`
    /// fraction digits.
    fn pg_numeric(value: i128, scale: u32) -> String {
        let digits = value.unsigned_abs().to_string();
        let scale = scale as usize;
        let digits = format!("{digits:0>width$}", width = scale + 1);
        let (integer, fraction) = digits.split_at(digits.len() - scale);
        let sign = if value < 0 { "-" } else { "" };
        if scale == 0 {
            format!("{sign}{integer}")
        } else {
            format!("{sign}{integer}.{fraction}")
        }
    }

    /// PostgreSQL's first day (4714-11-24 BC) and Arrow's last whole
    /// microsecond day, in days from 1970.
    const FIRST_DAY: i64 = -2_440_588;
    const LAST_DATE: i64 = 2_145_042_905;
    const LAST_TIMESTAMP: i64 = i64::MAX - MICROS_PER_DAY;

    proptest! {
        #[test]
        fn decimal_text_round_trips(
            (precision, scale, value) in (1u8..=38)
                .prop_flat_map(|p| (Just(p), 0..=p))
                .prop_flat_map(|(p, s)| {
                    let max = 10_i128.pow(u32::from(p)) - 1;
                    (Just(p), Just(s), -max..=max)
                }),
        ) {
            let text = pg_numeric(value, u32::from(scale));
            let parsed = primitive::<Decimal128Type>(
                1700,
                numeric(i32::from(precision), i32::from(scale)),
                &text,
            );
            prop_assert_eq!(parsed, Ok(value), "{}", text);
        }

        #[test]
        fn date_text_round_trips(days in FIRST_DAY..=LAST_DATE) {
            let (date, era) = pg_date(days);
            let text = date + era;
            let parsed = primitive::<Date32Type>(1082, -1, &text).map(i64::from);
            prop_assert_eq!(parsed, Ok(days), "{}", text);
        }

        #[test]
        fn timestamp_text_round_trips(
            micros in FIRST_DAY * MICROS_PER_DAY..LAST_TIMESTAMP,
            offset in -57_599i64..=57_599,
            round in 0usize..4,
        ) {
            // Whole seconds, minutes and hours are common; keep them likely.
            let offset = [offset, offset / 60 * 60, offset / 3600 * 3600, 0][round];
            let text = pg_timestamp(micros, None);
            prop_assert_eq!(primitive::<TimestampMicrosecondType>(1114, -1, &text), Ok(micros), "{}", text);
            let local = pg_timestamp(micros + offset * MICROS_PER_SECOND, Some(&pg_offset(offset)));
            prop_assert_eq!(primitive::<TimestampMicrosecondType>(1184, -1, &local), Ok(micros), "{}", local);
        }

        #[test]
        fn integer_text_round_trips(n: i64) {
            prop_assert_eq!(primitive::<Int64Type>(20, -1, &n.to_string()), Ok(n));
            let narrow = i32::try_from(n).map_err(|_| "CDC-0202 integer out of range".to_owned());
            prop_assert_eq!(primitive::<Int32Type>(23, -1, &n.to_string()), narrow);
            let narrow = i16::try_from(n).map_err(|_| "CDC-0202 integer out of range".to_owned());
            prop_assert_eq!(primitive::<Int16Type>(21, -1, &n.to_string()), narrow);
        }

        #[test]
        fn float_text_round_trips(x in any::<f64>().prop_filter("not NaN", |x| !x.is_nan())) {
            // PostgreSQL prints shortest round-trip digits, as Rust does.
            let text = match x {
                f64::INFINITY => "Infinity".to_owned(),
                f64::NEG_INFINITY => "-Infinity".to_owned(),
                x => format!("{x:e}"),
            };
            let parsed = primitive::<Float64Type>(701, -1, &text).map(f64::to_bits);
            prop_assert_eq!(parsed, Ok(x.to_bits()), "{}", text);
        }

        #[test]
        fn bytea_hex_round_trips(bytes: Vec<u8>) {
            let text: String = std::iter::once("\\x".to_owned())
                .chain(bytes.iter().map(|b| format!("{b:02x}")))
                .collect();
            let array = read(17, -1, text.as_bytes()).expect("hex bytea");
            prop_assert_eq!(array.as_binary::<i32>().value(0), &bytes[..]);
        }

        #[test]
        fn arbitrary_text_never_panics(
            type_oid in proptest::sample::select(&OIDS[..]),
            type_modifier in prop_oneof![Just(-1), Just(numeric(10, 2)), Just(numeric(38, 38)), Just(numeric(5, -2)), any::<i32>()],
            texts in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..40),
                    "[0-9:. +TBCx\\\\-]{0,34}".prop_map(String::into_bytes),
                    "-?[0-9]{1,12}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,8})?)?([+-][0-9]{2}(:[0-9]{2}){0,3})?( BC)?".prop_map(String::into_bytes),
                    "-?[0-9]{0,40}(\\.[0-9]{0,40})?".prop_map(String::into_bytes),
                ],
                0..8,
            ),
        ) {
            let mut column = ColumnBuilder::new(type_oid, type_modifier, 0);
            let mut appended = 0;
            for text in &texts {
                if column.append_text(text).is_ok() {
                    appended += 1;
                }
                prop_assert_eq!(column.len(), appended);
            }
            let array = column.finish();
            prop_assert_eq!(array.len(), appended);
            prop_assert!(array.to_data().validate_full().is_ok());
        }
    }
}
