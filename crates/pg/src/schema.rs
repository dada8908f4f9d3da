//! Arrow (and so Delta) column types mapped to PostgreSQL column types, and
//! the SQL that creates a table of them.

use arrow_schema::{DataType, Schema, TimeUnit};

use crate::error::PgError;

/// A PostgreSQL column type this crate writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgType {
    /// `boolean`, from Arrow `Boolean`.
    Boolean,
    /// `smallint`, from `Int8`, `Int16` and `UInt8`.
    SmallInt,
    /// `integer`, from `Int32` and `UInt16`.
    Integer,
    /// `bigint`, from `Int64` and `UInt32`.
    BigInt,
    /// `real`, from `Float16` and `Float32`.
    Real,
    /// `double precision`, from `Float64`.
    Double,
    /// `numeric(precision, scale)`, from `Decimal128`; `UInt64` becomes
    /// `numeric(20, 0)`. A negative Arrow scale becomes scale 0.
    Numeric {
        /// Total significant digits.
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// `text`, from `Utf8`, `LargeUtf8` and `Utf8View`.
    Text,
    /// `bytea`, from the binary types.
    Bytea,
    /// `date`, from `Date32` and `Date64`.
    Date,
    /// `time`, from `Time32` and `Time64` (microseconds; nanoseconds are
    /// truncated).
    Time,
    /// `timestamp` (without time zone), from `Timestamp` without a zone.
    Timestamp,
    /// `timestamptz`, from `Timestamp` with a zone (stored as the instant).
    TimestampTz,
    /// `jsonb`, from lists, structs and maps (their JSON form, as Arrow's
    /// JSON writer prints it).
    Jsonb,
}

impl PgType {
    /// The type for an Arrow type, if there is one.
    pub fn of(data_type: &DataType) -> Option<PgType> {
        Some(match data_type {
            DataType::Boolean => PgType::Boolean,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => PgType::SmallInt,
            DataType::Int32 | DataType::UInt16 => PgType::Integer,
            DataType::Int64 | DataType::UInt32 => PgType::BigInt,
            DataType::UInt64 => PgType::Numeric {
                precision: 20,
                scale: 0,
            },
            DataType::Float16 | DataType::Float32 => PgType::Real,
            DataType::Float64 => PgType::Double,
            DataType::Decimal128(p, s) => PgType::Numeric {
                precision: *p,
                scale: u8::try_from(*s).unwrap_or(0),
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PgType::Text,
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => PgType::Bytea,
            DataType::Date32 | DataType::Date64 => PgType::Date,
            DataType::Time32(_) | DataType::Time64(_) => PgType::Time,
            DataType::Timestamp(_, None) => PgType::Timestamp,
            DataType::Timestamp(_, Some(_)) => PgType::TimestampTz,
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _) => PgType::Jsonb,
            _ => return None,
        })
    }

    /// The type as written in `CREATE TABLE`.
    pub fn sql(&self) -> String {
        match self {
            PgType::Boolean => "boolean".to_owned(),
            PgType::SmallInt => "smallint".to_owned(),
            PgType::Integer => "integer".to_owned(),
            PgType::BigInt => "bigint".to_owned(),
            PgType::Real => "real".to_owned(),
            PgType::Double => "double precision".to_owned(),
            // PostgreSQL's numeric precision is 1..=1000.
            PgType::Numeric { precision, scale } => {
                format!("numeric({}, {scale})", (*precision).max(*scale).max(1))
            }
            PgType::Text => "text".to_owned(),
            PgType::Bytea => "bytea".to_owned(),
            PgType::Date => "date".to_owned(),
            PgType::Time => "time".to_owned(),
            PgType::Timestamp => "timestamp".to_owned(),
            PgType::TimestampTz => "timestamptz".to_owned(),
            PgType::Jsonb => "jsonb".to_owned(),
        }
    }
}

/// One column of a PostgreSQL table fed from Arrow data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgColumn {
    /// The column name (the Arrow field name).
    pub name: String,
    /// Its PostgreSQL type.
    pub ty: PgType,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

/// A PostgreSQL table kept in step with a source of Arrow batches: its
/// name, columns (in the source's order), primary key and secondary
/// indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgTable {
    schema: String,
    name: String,
    columns: Vec<PgColumn>,
    key: Vec<String>,
    indexes: Vec<Vec<String>>,
}

/// Time units are kept so encoders know how to scale; the table only
/// needs the PostgreSQL type.
pub(crate) fn time_unit_micros(unit: TimeUnit) -> (i64, i64) {
    // (multiply, divide) to reach microseconds.
    match unit {
        TimeUnit::Second => (1_000_000, 1),
        TimeUnit::Millisecond => (1_000, 1),
        TimeUnit::Microsecond => (1, 1),
        TimeUnit::Nanosecond => (1, 1_000),
    }
}

impl PgTable {
    /// The table `name` (in schema `public`) with one column per field of
    /// `schema` and the primary key `key`. Fails when a field has no
    /// PostgreSQL type, the key is empty, or a key column is missing or
    /// nullable.
    pub fn from_arrow(name: &str, schema: &Schema, key: &[&str]) -> Result<Self, PgError> {
        let invalid = |detail: String| PgError::InvalidTable {
            table: name.to_owned(),
            detail,
        };
        if name.is_empty() || name.len() > 42 {
            return Err(invalid(
                "a table name has 1 to 42 bytes (PostgreSQL keeps 63, and loads add suffixes of up to 21)"
                    .to_owned(),
            ));
        }
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                let ty = PgType::of(f.data_type()).ok_or_else(|| PgError::UnsupportedType {
                    column: f.name().clone(),
                    arrow_type: f.data_type().to_string(),
                })?;
                Ok(PgColumn {
                    name: f.name().clone(),
                    ty,
                    nullable: f.is_nullable(),
                })
            })
            .collect::<Result<Vec<_>, PgError>>()?;
        if key.is_empty() {
            return Err(invalid("no primary key column given".to_owned()));
        }
        for k in key {
            match columns.iter().find(|c| c.name == *k) {
                None => return Err(invalid(format!("key column {k} is not a column"))),
                Some(c) if c.ty == PgType::Jsonb => {
                    return Err(invalid(format!("key column {k} is a nested type")));
                }
                Some(_) => {}
            }
        }
        Ok(PgTable {
            schema: "public".to_owned(),
            name: name.to_owned(),
            columns,
            key: key.iter().map(|k| (*k).to_owned()).collect(),
            indexes: Vec::new(),
        })
    }

    /// The same table with secondary indexes, each on a list of columns
    /// (B-tree, in the order given). Snapshot loads build them before the
    /// swap; [`crate::ensure_indexes`] adds those a served table lacks.
    /// Fails when an index has no column or names one the table lacks.
    pub fn with_indexes(mut self, indexes: &[Vec<String>]) -> Result<Self, PgError> {
        for index in indexes {
            let invalid = |detail: String| PgError::InvalidTable {
                table: self.qualified(),
                detail,
            };
            if index.is_empty() {
                return Err(invalid("an index names no column".to_owned()));
            }
            if let Some(c) = index
                .iter()
                .find(|c| !self.columns.iter().any(|col| &col.name == *c))
            {
                return Err(invalid(format!("index column {c} is not a column")));
            }
        }
        self.indexes = indexes.to_vec();
        Ok(self)
    }

    /// The secondary indexes' columns.
    pub fn indexes(&self) -> &[Vec<String>] {
        &self.indexes
    }

    /// The name of the index on `columns` for a relation named `base`:
    /// `{base}_i` and eight hex digits of a hash of the column names, so
    /// the name stays the same from load to load and fits PostgreSQL's 63
    /// bytes.
    pub(crate) fn index_name(base: &str, columns: &[String]) -> String {
        // FNV-1a, 32 bits, over the names each followed by a NUL.
        let mut hash: u32 = 0x811c_9dc5;
        for byte in columns.iter().flat_map(|c| c.bytes().chain([0])) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        format!("{base}_i{hash:08x}")
    }

    /// `CREATE INDEX` of `columns` on the relation `target` beside this
    /// table, named `index`.
    pub(crate) fn index_sql(&self, index: &str, target: &str, columns: &[String]) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            ident(index),
            self.qualified_as(target),
            columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// A table without a key (temporary staging tables).
    pub(crate) fn unkeyed(name: &str, columns: Vec<PgColumn>) -> Self {
        PgTable {
            schema: "public".to_owned(),
            name: name.to_owned(),
            columns,
            key: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// The same table in another PostgreSQL schema.
    pub fn in_schema(mut self, schema: &str) -> Self {
        self.schema = schema.to_owned();
        self
    }

    /// The table name (unqualified).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PostgreSQL schema holding it.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The columns, in source order.
    pub fn columns(&self) -> &[PgColumn] {
        &self.columns
    }

    /// The primary key columns.
    pub fn key(&self) -> &[String] {
        &self.key
    }

    /// `"schema"."name"`.
    pub fn qualified(&self) -> String {
        self.qualified_as(&self.name)
    }

    /// `"schema"."other"`: a relation beside this one.
    pub(crate) fn qualified_as(&self, other: &str) -> String {
        format!("{}.{}", ident(&self.schema), ident(other))
    }

    /// The column list of `CREATE TABLE` (without the key constraint).
    pub(crate) fn column_defs(&self) -> String {
        self.columns
            .iter()
            .map(|c| {
                // Key columns are NOT NULL whatever the source says.
                let not_null = !c.nullable || self.key.contains(&c.name);
                format!(
                    "{} {}{}",
                    ident(&c.name),
                    c.ty.sql(),
                    if not_null { " NOT NULL" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// All columns, quoted and comma-separated, in order.
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key columns, quoted and comma-separated.
    pub(crate) fn key_list(&self) -> String {
        self.key
            .iter()
            .map(|k| ident(k))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The statement that creates this table, with its primary key, if it
    /// does not exist.
    pub fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))",
            self.qualified(),
            self.column_defs(),
            self.key_list()
        )
    }
}

/// A quoted SQL identifier (`"a""b"` for `a"b`).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
