//! Column kinds, staged cells and the Arrow builders they are appended to.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, StructBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// The Arrow type of a flattened column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Utf8,
    Bool,
    F64,
    I64,
    Ts,
    Date,
    StrList,
    Idents,
    Components,
}

/// One column: name, kind and the FHIRPath it comes from.
#[derive(Clone, Debug)]
pub(crate) struct ColumnSpec {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the schema doc test"))]
    pub(crate) source: String,
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn ident_fields() -> Fields {
    Fields::from(vec![utf8("system"), utf8("value")])
}

fn component_fields() -> Fields {
    Fields::from(vec![
        utf8("code"),
        utf8("code_system"),
        utf8("code_display"),
        Field::new("value_quantity_value", DataType::Float64, true),
        utf8("value_quantity_unit"),
        utf8("value_code"),
        utf8("value_code_system"),
        utf8("value_string"),
    ])
}

fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, true))
}

impl Kind {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            Kind::Utf8 => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
            Kind::F64 => DataType::Float64,
            Kind::I64 => DataType::Int64,
            Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Date => DataType::Date32,
            Kind::StrList => DataType::List(item(DataType::Utf8)),
            Kind::Idents => DataType::List(item(DataType::Struct(ident_fields()))),
            Kind::Components => DataType::List(item(DataType::Struct(component_fields()))),
        }
    }

    /// How the type is written in the schema documentation.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the schema doc test"))]
    pub(crate) fn doc_name(self) -> &'static str {
        match self {
            Kind::Utf8 => "Utf8",
            Kind::Bool => "Boolean",
            Kind::F64 => "Float64",
            Kind::I64 => "Int64",
            Kind::Ts => "Timestamp(µs, UTC)",
            Kind::Date => "Date32",
            Kind::StrList => "List<Utf8>",
            Kind::Idents => "List<Struct<system: Utf8, value: Utf8>>",
            Kind::Components => {
                "List<Struct<code, code_system, code_display: Utf8, value_quantity_value: Float64, value_quantity_unit, value_code, value_code_system, value_string: Utf8>>"
            }
        }
    }

    fn builder(self) -> ColBuilder {
        match self {
            Kind::Utf8 => ColBuilder::Utf8(StringBuilder::new()),
            Kind::Bool => ColBuilder::Bool(BooleanBuilder::new()),
            Kind::F64 => ColBuilder::F64(Float64Builder::new()),
            Kind::I64 => ColBuilder::I64(Int64Builder::new()),
            Kind::Ts => ColBuilder::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Kind::Date => ColBuilder::Date(Date32Builder::new()),
            Kind::StrList => ColBuilder::StrList(
                ListBuilder::new(StringBuilder::new()).with_field(item(DataType::Utf8)),
            ),
            Kind::Idents => {
                let fields = ident_fields();
                let values = StructBuilder::from_fields(fields.clone(), 0);
                ColBuilder::Idents(
                    ListBuilder::new(values).with_field(item(DataType::Struct(fields))),
                )
            }
            Kind::Components => {
                let fields = component_fields();
                let values = StructBuilder::from_fields(fields.clone(), 0);
                ColBuilder::Components(
                    ListBuilder::new(values).with_field(item(DataType::Struct(fields))),
                )
            }
        }
    }
}

/// One flattened `Observation.component`.
#[derive(Debug, Default)]
pub(crate) struct ComponentCell<'a> {
    pub(crate) code: Option<&'a str>,
    pub(crate) code_system: Option<&'a str>,
    pub(crate) code_display: Option<&'a str>,
    pub(crate) value_quantity_value: Option<f64>,
    pub(crate) value_quantity_unit: Option<&'a str>,
    pub(crate) value_code: Option<&'a str>,
    pub(crate) value_code_system: Option<&'a str>,
    pub(crate) value_string: Option<&'a str>,
}

/// A value staged for one column of one row.
#[derive(Debug)]
pub(crate) enum Cell<'a> {
    Null,
    Str(&'a str),
    Bool(bool),
    F64(f64),
    I64(i64),
    Ts(i64),
    Date(i32),
    StrList(Vec<&'a str>),
    Idents(Vec<(Option<&'a str>, Option<&'a str>)>),
    Components(Vec<ComponentCell<'a>>),
}

/// The Arrow builder of one column.
#[derive(Debug)]
enum ColBuilder {
    Utf8(StringBuilder),
    Bool(BooleanBuilder),
    F64(Float64Builder),
    I64(Int64Builder),
    Ts(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    StrList(ListBuilder<StringBuilder>),
    Idents(ListBuilder<StructBuilder>),
    Components(ListBuilder<StructBuilder>),
}

const LAYOUT: &str = "struct builder fields are declared in columns.rs";

fn str_field(b: &mut StructBuilder, i: usize, v: Option<&str>) {
    b.field_builder::<StringBuilder>(i)
        .expect(LAYOUT)
        .append_option(v);
}

impl ColBuilder {
    fn append(&mut self, cell: Cell<'_>) -> bool {
        match (self, cell) {
            (ColBuilder::Utf8(b), Cell::Null) => b.append_null(),
            (ColBuilder::Utf8(b), Cell::Str(v)) => b.append_value(v),
            (ColBuilder::Bool(b), Cell::Null) => b.append_null(),
            (ColBuilder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (ColBuilder::F64(b), Cell::Null) => b.append_null(),
            (ColBuilder::F64(b), Cell::F64(v)) => b.append_value(v),
            (ColBuilder::I64(b), Cell::Null) => b.append_null(),
            (ColBuilder::I64(b), Cell::I64(v)) => b.append_value(v),
            (ColBuilder::Ts(b), Cell::Null) => b.append_null(),
            (ColBuilder::Ts(b), Cell::Ts(v)) => b.append_value(v),
            (ColBuilder::Date(b), Cell::Null) => b.append_null(),
            (ColBuilder::Date(b), Cell::Date(v)) => b.append_value(v),
            (ColBuilder::StrList(b), Cell::Null) => b.append_null(),
            (ColBuilder::StrList(b), Cell::StrList(v)) => {
                for s in v {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            (ColBuilder::Idents(b), Cell::Null) => b.append_null(),
            (ColBuilder::Idents(b), Cell::Idents(v)) => {
                let values = b.values();
                for (system, value) in v {
                    str_field(values, 0, system);
                    str_field(values, 1, value);
                    values.append(true);
                }
                b.append(true);
            }
            (ColBuilder::Components(b), Cell::Null) => b.append_null(),
            (ColBuilder::Components(b), Cell::Components(v)) => {
                let values = b.values();
                for c in v {
                    str_field(values, 0, c.code);
                    str_field(values, 1, c.code_system);
                    str_field(values, 2, c.code_display);
                    values
                        .field_builder::<Float64Builder>(3)
                        .expect(LAYOUT)
                        .append_option(c.value_quantity_value);
                    str_field(values, 4, c.value_quantity_unit);
                    str_field(values, 5, c.value_code);
                    str_field(values, 6, c.value_code_system);
                    str_field(values, 7, c.value_string);
                    values.append(true);
                }
                b.append(true);
            }
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Utf8(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::F64(b) => Arc::new(b.finish()),
            ColBuilder::I64(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b) => Arc::new(b.finish()),
            ColBuilder::Date(b) => Arc::new(b.finish()),
            ColBuilder::StrList(b) => Arc::new(b.finish()),
            ColBuilder::Idents(b) => Arc::new(b.finish()),
            ColBuilder::Components(b) => Arc::new(b.finish()),
        }
    }
}

/// The builders of one table, appended to one whole row at a time.
#[derive(Debug)]
pub(crate) struct Builders {
    cols: Vec<ColBuilder>,
}

impl Builders {
    pub(crate) fn new(spec: &[ColumnSpec]) -> Self {
        Builders {
            cols: spec.iter().map(|c| c.kind.builder()).collect(),
        }
    }

    /// Appends a fully staged row.
    ///
    /// # Panics
    ///
    /// When the cells do not follow the table's column list: a bug in
    /// `tables.rs`, caught by the unit test that flattens every table.
    pub(crate) fn append_row(&mut self, cells: Vec<Cell<'_>>) {
        assert_eq!(cells.len(), self.cols.len(), "row has one cell per column");
        for (i, (col, cell)) in self.cols.iter_mut().zip(cells).enumerate() {
            assert!(col.append(cell), "cell {i} has the kind of its column");
        }
    }

    pub(crate) fn finish(&mut self) -> Vec<ArrayRef> {
        self.cols.iter_mut().map(ColBuilder::finish).collect()
    }

    /// Rows appended since the last `finish`.
    pub(crate) fn len(&self) -> usize {
        self.cols.first().map_or(0, |c| match c {
            ColBuilder::Utf8(b) => b.len(),
            ColBuilder::Bool(b) => b.len(),
            ColBuilder::F64(b) => b.len(),
            ColBuilder::I64(b) => b.len(),
            ColBuilder::Ts(b) => b.len(),
            ColBuilder::Date(b) => b.len(),
            ColBuilder::StrList(b) => b.len(),
            ColBuilder::Idents(b) => b.len(),
            ColBuilder::Components(b) => b.len(),
        })
    }
}
