//! Every Arrow type the crate maps, loaded and read back as PostgreSQL text.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray, ListArray,
    RecordBatch, StringArray, StringViewArray, StructArray, Time64MicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, UInt8Array, UInt16Array, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Fields, Schema};
use caresync_pg::{PgError, PgTable, PgType, SourceVersion, load_snapshot};
use futures::stream;

use crate::connect;

fn at() -> SourceVersion<'static> {
    SourceVersion {
        source: "file:///lake/types",
        version: 1,
    }
}

fn one(batch: RecordBatch) -> impl futures::Stream<Item = Result<RecordBatch, PgError>> {
    stream::iter([Ok(batch)])
}

#[tokio::test]
async fn every_mapped_type_reads_back_as_written() {
    let (mut client, _) = connect("types").await;
    let list: ListArray = {
        let mut b = ListBuilder::new(Int32Builder::new());
        b.values().append_value(1);
        b.values().append_value(2);
        b.append(true);
        b.append(false);
        b.append(true);
        b.finish()
    };
    let strukt = StructArray::from(vec![
        (
            Arc::new(Field::new("code", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("8867-4"), None, Some("a\"b")])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("n", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(7), Some(8), None])) as ArrayRef,
        ),
    ]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        (
            "b",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        ("i8", Arc::new(Int8Array::from(vec![-128, 0, 127]))),
        ("i16", Arc::new(Int16Array::from(vec![-32768, 5, 32767]))),
        ("u8", Arc::new(UInt8Array::from(vec![0, 200, 255]))),
        ("u16", Arc::new(UInt16Array::from(vec![0, 40000, 65535]))),
        (
            "i32",
            Arc::new(Int32Array::from(vec![i32::MIN, -1, i32::MAX])),
        ),
        ("u32", Arc::new(UInt32Array::from(vec![0, 1, u32::MAX]))),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![0, 10_000, u64::MAX])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![1.5, -0.25, f32::INFINITY])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![0.1, f64::NAN, -1e300])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(12_345_678), Some(-1), Some(0)])
                    .with_precision_and_scale(12, 3)
                    .expect("decimal"),
            ),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![Some("Maria"), Some(""), None])),
        ),
        (
            "ls",
            Arc::new(LargeStringArray::from(vec!["é", "日本", "x"])),
        ),
        (
            "sv",
            Arc::new(StringViewArray::from(vec![
                "a view longer than twelve",
                "v",
                "w",
            ])),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![&b"\x00\x01"[..], b"", b"\xff"])),
        ),
        (
            "d32",
            Arc::new(Date32Array::from(vec![0, 10_957, -719_162])),
        ),
        (
            "d64",
            Arc::new(Date64Array::from(vec![86_400_000, 0, -86_400_000])),
        ),
        (
            "t",
            Arc::new(Time64MicrosecondArray::from(vec![
                0,
                45_296_000_001,
                86_399_999_999,
            ])),
        ),
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(vec![
                0,
                946_684_800_123,
                -1,
            ])),
        ),
        (
            "tstz",
            Arc::new(
                TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789, 0, -1_000])
                    .with_timezone("+00:00"),
            ),
        ),
        ("list", Arc::new(list)),
        ("obj", Arc::new(strukt)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), *n != "id"))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("batch");
    let table = PgTable::from_arrow("every_type", &schema, &["id"]).expect("maps");
    load_snapshot(&mut client, &table, at(), one(batch))
        .await
        .expect("loads");

    client
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .expect("utc");
    let rows = client
        .query("SELECT every_type::text FROM every_type ORDER BY id", &[])
        .await
        .expect("reads");
    let got: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        got,
        vec![
            r#"(1,t,-128,-32768,0,0,-2147483648,0,0,1.5,0.1,12345.678,Maria,é,"a view longer than twelve","\\x0001",1970-01-01,1970-01-02,00:00:00,"1970-01-01 00:00:00","2023-11-14 22:13:20.123456+00","[1, 2]","{""n"": 7, ""code"": ""8867-4""}")"#,
            r#"(2,f,0,5,200,40000,-1,1,10000,-0.25,NaN,-0.001,"",日本,v,"\\x",2000-01-01,1970-01-01,12:34:56.000001,"2000-01-01 00:00:00.123","1970-01-01 00:00:00+00",,"{""n"": 8}")"#,
            r#"(3,,127,32767,255,65535,2147483647,4294967295,18446744073709551615,Infinity,-1e+300,0.000,,x,w,"\\xff",0001-01-01,1969-12-31,23:59:59.999999,"1969-12-31 23:59:59.999","1969-12-31 23:59:59.999999+00",[],"{""code"": ""a\\""b""}")"#,
        ]
    );
    // The declared types.
    let types: Vec<(String, String)> = client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_name = 'every_type' ORDER BY ordinal_position",
            &[],
        )
        .await
        .expect("columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(types[8], ("u64".to_owned(), "numeric".to_owned()));
    assert_eq!(types[11], ("dec".to_owned(), "numeric".to_owned()));
    assert_eq!(
        types[20],
        ("tstz".to_owned(), "timestamp with time zone".to_owned())
    );
    assert_eq!(types[22], ("obj".to_owned(), "jsonb".to_owned()));
}

#[test]
fn unmapped_types_are_refused_naming_the_column() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "span",
            DataType::Duration(arrow_schema::TimeUnit::Second),
            true,
        ),
    ]);
    let err = PgTable::from_arrow("t", &schema, &["id"]).expect_err("refused");
    assert_eq!(err.code(), "PG-0001");
    assert!(err.to_string().contains("span"), "{err}");
    assert_eq!(
        PgType::of(&DataType::Struct(Fields::empty())),
        Some(PgType::Jsonb)
    );
}

#[test]
fn a_key_must_be_a_plain_column() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tags", DataType::new_list(DataType::Utf8, true), true),
    ]);
    for key in [&[][..], &["nope"], &["tags"]] {
        let err = PgTable::from_arrow("t", &schema, key).expect_err("refused");
        assert_eq!(err.code(), "PG-0002", "{key:?}: {err}");
    }
}
