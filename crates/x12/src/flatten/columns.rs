//! Column specs, keys, and the Arrow builders rows are appended to.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};

use crate::value::{Amount, Date};

/// Precision and scale of amount columns: an [`Amount`] is an `i64` of
/// ten-thousandths, which 19 digits with 4 after the point hold exactly.
pub(crate) const AMOUNT_PRECISION: u8 = 19;
pub(crate) const AMOUNT_SCALE: i8 = 4;

/// The Arrow type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Utf8,
    Bool,
    I32,
    I64,
    Amount,
    Date,
    StrList,
    I32List,
}

impl Ty {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            Ty::Utf8 => DataType::Utf8,
            Ty::Bool => DataType::Boolean,
            Ty::I32 => DataType::Int32,
            Ty::I64 => DataType::Int64,
            Ty::Amount => DataType::Decimal128(AMOUNT_PRECISION, AMOUNT_SCALE),
            Ty::Date => DataType::Date32,
            Ty::StrList => DataType::List(item(DataType::Utf8)),
            Ty::I32List => DataType::List(item(DataType::Int32)),
        }
    }

    /// How the type is written in `schemas.md`.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the schema doc test"))]
    pub(crate) fn doc_name(self) -> &'static str {
        match self {
            Ty::Utf8 => "Utf8",
            Ty::Bool => "Boolean",
            Ty::I32 => "Int32",
            Ty::I64 => "Int64",
            Ty::Amount => "Decimal128(19, 4)",
            Ty::Date => "Date32",
            Ty::StrList => "List<Utf8>",
            Ty::I32List => "List<Int32>",
        }
    }

    /// A builder with room for `rows` values (`text` bytes each for text).
    fn builder(self, rows: usize, text: usize) -> Col {
        match self {
            Ty::Utf8 => Col::Utf8(StringBuilder::with_capacity(rows, rows * text)),
            Ty::Bool => Col::Bool(BooleanBuilder::with_capacity(rows)),
            Ty::I32 => Col::I32(Int32Builder::with_capacity(rows)),
            Ty::I64 => Col::I64(Int64Builder::with_capacity(rows)),
            Ty::Amount => {
                Col::Amount(Decimal128Builder::with_capacity(rows).with_data_type(self.data_type()))
            }
            Ty::Date => Col::Date(Date32Builder::with_capacity(rows)),
            Ty::StrList => Col::StrList(
                ListBuilder::with_capacity(StringBuilder::new(), rows)
                    .with_field(item(DataType::Utf8)),
            ),
            Ty::I32List => Col::I32List(
                ListBuilder::with_capacity(Int32Builder::new(), rows)
                    .with_field(item(DataType::Int32)),
            ),
        }
    }
}

fn item(data_type: DataType) -> FieldRef {
    Arc::new(Field::new("item", data_type, true))
}

/// Whether a column is part of its table's key, never null without being
/// one, or nullable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Key,
    Required,
    Nullable,
}

/// One column: name, type, role and where its value comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColumnSpec {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) role: Role,
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the schema doc test"))]
    pub(crate) source: &'static str,
}

/// A nullable column.
pub(crate) const fn col(name: &'static str, ty: Ty, source: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        role: Role::Nullable,
        source,
    }
}

/// A column of the table's key (never null).
pub(crate) const fn key(name: &'static str, ty: Ty, source: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        role: Role::Key,
        source,
    }
}

/// A column that is never null but not part of the key.
pub(crate) const fn required(name: &'static str, ty: Ty, source: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        role: Role::Required,
        source,
    }
}

/// The Arrow schema of a spec.
pub(crate) fn schema(spec: &[ColumnSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        spec.iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), c.role == Role::Nullable))
            .collect::<Vec<_>>(),
    ))
}

/// The builder of one column.
#[derive(Debug)]
enum Col {
    Utf8(StringBuilder),
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    Amount(Decimal128Builder),
    Date(Date32Builder),
    StrList(ListBuilder<StringBuilder>),
    I32List(ListBuilder<Int32Builder>),
}

impl Col {
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Utf8(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::Amount(b) => Arc::new(b.finish()),
            Col::Date(b) => Arc::new(b.finish()),
            Col::StrList(b) => Arc::new(b.finish()),
            Col::I32List(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Utf8(b) => b.len(),
            Col::Bool(b) => b.len(),
            Col::I32(b) => b.len(),
            Col::I64(b) => b.len(),
            Col::Amount(b) => b.len(),
            Col::Date(b) => b.len(),
            Col::StrList(b) => b.len(),
            Col::I32List(b) => b.len(),
        }
    }
}

/// The message of a row that does not follow its table's spec: a bug in
/// `claims.rs` or `remits.rs`, caught by any test that flattens a row.
const LAYOUT: &str = "rows are written in the order and types of their table's spec";

/// The builders of one table.
#[derive(Debug)]
pub(crate) struct Table {
    schema: SchemaRef,
    cols: Vec<Col>,
}

impl Table {
    pub(crate) fn new(spec: &[ColumnSpec], rows: usize) -> Self {
        Table {
            schema: schema(spec),
            // Keys are several parts joined (~40 bytes); other texts are
            // codes, ids and names (~12 bytes).
            cols: spec
                .iter()
                .map(|c| {
                    c.ty.builder(rows, if c.role == Role::Key { 48 } else { 16 })
                })
                .collect(),
        }
    }

    /// Starts a row; every column must then be written once, in order,
    /// and the row ended with [`Row::end`].
    pub(crate) fn row(&mut self) -> Row<'_> {
        Row {
            cols: self.cols.iter_mut(),
        }
    }

    /// Rows appended since the last [`Table::finish`].
    pub(crate) fn len(&self) -> usize {
        self.cols.first().map_or(0, Col::len)
    }

    pub(crate) fn finish(&mut self) -> RecordBatch {
        let arrays = self.cols.iter_mut().map(Col::finish).collect();
        RecordBatch::try_new(self.schema.clone(), arrays).expect(LAYOUT)
    }
}

/// Whole columns being written for a run of new rows: each column gets
/// all its values in one tight loop over one builder (faster than a row at
/// a time across every builder).
pub(crate) struct Cols<'t> {
    cols: std::slice::IterMut<'t, Col>,
    rows: usize,
}

impl Table {
    /// Starts writing `rows` new rows column by column; every column must
    /// then be written once, in order, with exactly `rows` values, and the
    /// run ended with [`Cols::end`].
    pub(crate) fn columns(&mut self, rows: usize) -> Cols<'_> {
        Cols {
            cols: self.cols.iter_mut(),
            rows,
        }
    }
}

/// Appends every value of `v` to the builder `$b` and checks the count.
macro_rules! fill {
    ($self:ident, $variant:ident, $v:ident, |$b:ident, $x:ident| $append:expr) => {{
        let rows = $self.rows;
        match $self.cols.next().expect(LAYOUT) {
            Col::$variant($b) => {
                let before = $b.len();
                for $x in $v {
                    $append;
                }
                assert_eq!($b.len() - before, rows, "{LAYOUT}");
            }
            _ => panic!("{LAYOUT}"),
        }
        $self
    }};
}

impl Cols<'_> {
    pub(crate) fn str<'v>(&mut self, v: impl Iterator<Item = Option<&'v str>>) -> &mut Self {
        fill!(self, Utf8, v, |b, x| b.append_option(x))
    }

    pub(crate) fn bool(&mut self, v: impl Iterator<Item = Option<bool>>) -> &mut Self {
        fill!(self, Bool, v, |b, x| b.append_option(x))
    }

    pub(crate) fn i32(&mut self, v: impl Iterator<Item = Option<i32>>) -> &mut Self {
        fill!(self, I32, v, |b, x| b.append_option(x))
    }

    pub(crate) fn i64(&mut self, v: impl Iterator<Item = Option<i64>>) -> &mut Self {
        fill!(self, I64, v, |b, x| b.append_option(x))
    }

    pub(crate) fn amount(&mut self, v: impl Iterator<Item = Option<Amount>>) -> &mut Self {
        fill!(self, Amount, v, |b, x| b
            .append_option(x.map(|a| i128::from(a.ten_thousandths()))))
    }

    pub(crate) fn date(&mut self, v: impl Iterator<Item = Option<Date>>) -> &mut Self {
        fill!(self, Date, v, |b, x| b
            .append_option(x.map(|d| d.days_since_epoch())))
    }

    /// Lists of strings; never null (empty when there are none).
    pub(crate) fn strs<'v, L: IntoIterator<Item = &'v str>>(
        &mut self,
        v: impl Iterator<Item = L>,
    ) -> &mut Self {
        fill!(self, StrList, v, |b, list| {
            for s in list {
                b.values().append_value(s);
            }
            b.append(true)
        })
    }

    /// Lists of integers; never null (empty when there are none).
    pub(crate) fn i32s<L: IntoIterator<Item = i32>>(
        &mut self,
        v: impl Iterator<Item = L>,
    ) -> &mut Self {
        fill!(self, I32List, v, |b, list| {
            for n in list {
                b.values().append_value(n);
            }
            b.append(true)
        })
    }

    /// Ends the run, checking that every column was written.
    pub(crate) fn end(&mut self) {
        assert!(self.cols.next().is_none(), "{LAYOUT}");
    }
}

/// One row being written, column by column.
pub(crate) struct Row<'t> {
    cols: std::slice::IterMut<'t, Col>,
}

impl Row<'_> {
    fn next(&mut self) -> &mut Col {
        self.cols.next().expect(LAYOUT)
    }

    pub(crate) fn str(&mut self, v: Option<&str>) -> &mut Self {
        match self.next() {
            Col::Utf8(b) => b.append_option(v),
            _ => panic!("{LAYOUT}"),
        }
        self
    }

    pub(crate) fn bool(&mut self, v: Option<bool>) -> &mut Self {
        match self.next() {
            Col::Bool(b) => b.append_option(v),
            _ => panic!("{LAYOUT}"),
        }
        self
    }

    pub(crate) fn i32(&mut self, v: Option<i32>) -> &mut Self {
        match self.next() {
            Col::I32(b) => b.append_option(v),
            _ => panic!("{LAYOUT}"),
        }
        self
    }

    pub(crate) fn amount(&mut self, v: Option<Amount>) -> &mut Self {
        match self.next() {
            Col::Amount(b) => b.append_option(v.map(|a| i128::from(a.ten_thousandths()))),
            _ => panic!("{LAYOUT}"),
        }
        self
    }

    pub(crate) fn date(&mut self, v: Option<Date>) -> &mut Self {
        match self.next() {
            Col::Date(b) => b.append_option(v.map(|d| d.days_since_epoch())),
            _ => panic!("{LAYOUT}"),
        }
        self
    }

    /// A list of strings; never null (empty when there are none).
    pub(crate) fn strs<'v>(&mut self, v: impl IntoIterator<Item = &'v str>) -> &mut Self {
        match self.next() {
            Col::StrList(b) => {
                for s in v {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            _ => panic!("{LAYOUT}"),
        }
        self
    }

    /// Ends the row, checking that every column was written.
    pub(crate) fn end(&mut self) {
        assert!(self.cols.next().is_none(), "{LAYOUT}");
    }
}

/// A key being built: parts joined by `|`, with `\` and `|` inside a part
/// escaped by a `\`, so different parts never give the same key.
#[derive(Debug, Default)]
pub(crate) struct Key {
    buf: String,
    parts: usize,
}

impl Key {
    pub(crate) fn clear(&mut self) -> &mut Self {
        self.buf.clear();
        self.parts = 0;
        self
    }

    fn separate(&mut self) {
        if self.parts > 0 {
            self.buf.push('|');
        }
        self.parts += 1;
    }

    fn escaped(&mut self, s: &str) {
        if memchr::memchr2(b'\\', b'|', s.as_bytes()).is_none() {
            self.buf.push_str(s);
            return;
        }
        for c in s.chars() {
            if matches!(c, '\\' | '|') {
                self.buf.push('\\');
            }
            self.buf.push(c);
        }
    }

    /// A part from data; a missing value is an empty part.
    pub(crate) fn text(&mut self, s: Option<&str>) -> &mut Self {
        self.separate();
        if let Some(s) = s {
            self.escaped(s);
        }
        self
    }

    /// A part made by the flattener, not found in the data: `\#` then
    /// `n`. Escaping makes `\#` impossible in a part from data.
    pub(crate) fn marker(&mut self, n: u32) -> &mut Self {
        self.separate();
        self.buf.push_str("\\#");
        self.buf.push_str(itoa(n, &mut [0u8; 10]));
        self
    }

    /// Appends a part that is the escaped concatenation of several texts
    /// after a `\#` marker (the payment key of a remittance without trace
    /// number).
    pub(crate) fn marked_texts(&mut self, texts: &[Option<&str>]) -> &mut Self {
        self.separate();
        self.buf.push_str("\\#");
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                self.buf.push('.');
            }
            if let Some(t) = t {
                self.escaped(t);
            }
        }
        self
    }

    /// Appends an already built key as the leading parts.
    pub(crate) fn prefix(&mut self, other: &str) -> &mut Self {
        self.separate();
        self.buf.push_str(other);
        self
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.buf
    }
}

/// `n` in decimal without allocating.
fn itoa(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_their_separator() {
        let mut k = Key::default();
        k.clear().text(Some("A|B")).text(None).text(Some("C\\"));
        assert_eq!(k.as_str(), "A\\|B||C\\\\");
        k.clear().text(Some("A")).text(Some("B|C"));
        let one = k.as_str().to_owned();
        k.clear().text(Some("A|B")).text(Some("C"));
        assert_ne!(one, k.as_str());
        k.clear().text(Some("X")).marker(12).marker(0);
        assert_eq!(k.as_str(), "X|\\#12|\\#0");
        k.clear().marked_texts(&[Some("1"), None, Some("a|b")]);
        assert_eq!(k.as_str(), "\\#1..a\\|b");
    }
}
