//! Create, append, read back, reopen.

use caresync_lake::{LakeError, LakeTable};
use futures::TryStreamExt as _;

use crate::common::{batch, changes, create, owned, read, rows, spec, temp_table};

#[tokio::test]
async fn appended_rows_read_back_exactly_and_survive_reopening() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    assert_eq!(table.version(), 0);
    assert_eq!(read(&table).await, vec![]);

    let v1 = table
        .append(vec![batch(&[(1, Some("ada")), (2, Some("grace"))])])
        .await
        .expect("first append");
    let v2 = table
        .append(vec![batch(&[(3, None), (4, Some("edsger"))])])
        .await
        .expect("second append");
    assert_eq!((v1, v2), (1, 2));
    assert_eq!(table.version(), 2);

    let expected = owned(&[
        (1, Some("ada")),
        (2, Some("grace")),
        (3, None),
        (4, Some("edsger")),
    ]);
    assert_eq!(read(&table).await, expected);

    // Reopening by path, by file:// URL, and through open_or_create all see
    // the same version and rows; open_or_create does not create anew.
    let reopened = LakeTable::open(&url).await.expect("reopen by path");
    assert_eq!(reopened.version(), 2);
    assert_eq!(read(&reopened).await, expected);

    let file_url = url::Url::from_directory_path(&url).expect("file URL");
    let by_url = LakeTable::open(file_url.as_str())
        .await
        .expect("reopen by file:// URL");
    assert_eq!(by_url.version(), 2);
    assert_eq!(by_url.url(), reopened.url());
    assert_eq!(read(&by_url).await, expected);

    let again = LakeTable::open_or_create(&url, &spec())
        .await
        .expect("open existing");
    assert_eq!(again.version(), 2);
    assert_eq!(read(&again).await, expected);
}

#[tokio::test]
async fn one_append_of_several_batches_is_one_commit_and_scan_streams_them() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    let version = table
        .append(vec![
            batch(&[(1, Some("a"))]),
            batch(&[(2, Some("b"))]),
            batch(&[(3, Some("c"))]),
        ])
        .await
        .expect("append");
    assert_eq!(version, 1);

    let batches: Vec<_> = table
        .scan()
        .await
        .expect("scan")
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(
        rows(&batches),
        owned(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))])
    );
}

#[tokio::test]
async fn a_filtered_scan_keeps_the_rows_its_predicate_holds_for() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    // Three appends: three files, with disjoint id ranges.
    for rows in [
        &[(1, Some("a")), (2, Some("b"))][..],
        &[(3, Some("c")), (4, None)][..],
        &[(5, Some("e"))][..],
    ] {
        table.append(vec![batch(rows)]).await.expect("append");
    }
    let read = |predicate: &'static str| {
        let table = &table;
        async move {
            let batches: Vec<_> = table
                .scan_where(predicate)
                .await
                .expect("filtered scan")
                .try_collect()
                .await
                .expect("stream");
            let mut got = rows(&batches);
            got.sort();
            got
        }
    };
    assert_eq!(
        read("id BETWEEN 2 AND 4").await,
        owned(&[(2, Some("b")), (3, Some("c")), (4, None)])
    );
    assert_eq!(read("name IS NULL").await, owned(&[(4, None)]));
    assert_eq!(read("id > 99").await, vec![]);
    let unknown = table
        .scan_where("nope = 1")
        .await
        .err()
        .expect("an unknown column");
    assert!(
        matches!(
            unknown,
            LakeError::Read {
                operation: "filtered scan",
                ..
            }
        ),
        "{unknown}"
    );
}

#[tokio::test]
async fn an_empty_append_still_commits_a_version() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    assert_eq!(table.append(vec![]).await.expect("empty append"), 1);
    assert_eq!(read(&table).await, vec![]);
}

#[tokio::test]
async fn schema_and_metadata_come_back_as_specified() {
    let (_dir, url) = temp_table();
    let table = create(&url).await;
    let schema = table.schema().expect("schema");
    let columns: Vec<(String, bool)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.is_nullable()))
        .collect();
    assert_eq!(
        columns,
        vec![("id".to_owned(), false), ("name".to_owned(), true)]
    );
    assert!(table.change_data_feed_enabled().expect("config"));
    assert!(table.partition_columns().expect("partitions").is_empty());
}

#[tokio::test]
async fn partitioned_tables_round_trip() {
    let (_dir, url) = temp_table();
    let spec = spec().with_partition_columns(["name"]);
    let mut table = LakeTable::open_or_create(&url, &spec)
        .await
        .expect("create partitioned");
    table
        .append(vec![batch(&[
            (1, Some("x")),
            (2, Some("y")),
            (3, Some("x")),
        ])])
        .await
        .expect("append");
    assert_eq!(
        table.partition_columns().expect("partitions"),
        vec!["name".to_owned()]
    );
    assert_eq!(
        read(&table).await,
        owned(&[(1, Some("x")), (2, Some("y")), (3, Some("x"))])
    );
    let deleted = table
        .delete_where("name = 'x'")
        .await
        .expect("delete partition");
    assert_eq!(deleted.rows, Some(2));
    assert_eq!(read(&table).await, owned(&[(2, Some("y"))]));
    // Whole files were dropped (no change files written); the feed still
    // reports their rows as deleted.
    let feed = changes(&table.changes(deleted.version, None).await.expect("changes"));
    assert_eq!(
        feed,
        vec![
            ("delete".to_owned(), 1, Some("x".to_owned()), 2),
            ("delete".to_owned(), 3, Some("x".to_owned()), 2),
        ]
    );
}

#[tokio::test]
async fn list_columns_built_by_arrow_append_and_read_back() {
    use std::sync::Arc;

    use caresync_lake::TableSpec;
    use deltalake::arrow::array::{
        Array as _, AsArray as _, Int64Array, ListBuilder, StringBuilder,
    };
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::arrow::record_batch::RecordBatch;

    let (_dir, url) = temp_table();
    // Arrow's builders name a list's element `item`; Delta reads it back as
    // `element`, so the second append's batch differs from the table's
    // schema in that name only.
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new_list("codes", Field::new_list_field(DataType::Utf8, true), true),
    ]));
    let spec = TableSpec::new("coded", schema.clone());
    let mut table = LakeTable::open_or_create(&url, &spec)
        .await
        .expect("create");
    let lists = |rows: &[&[&str]]| {
        let mut b = ListBuilder::new(StringBuilder::new());
        for row in rows {
            for code in *row {
                b.values().append_value(code);
            }
            b.append(true);
        }
        b.finish()
    };
    for (ids, codes) in [
        (vec![1, 2], lists(&[&["a", "b"], &[]])),
        (vec![3], lists(&[&["c"]])),
    ] {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(ids)), Arc::new(codes)],
        )
        .expect("batch");
        table.append(vec![batch]).await.expect("append");
    }

    let mut got: Vec<(i64, Vec<String>)> = Vec::new();
    for b in table.read_all().await.expect("read") {
        let ids = b
            .column(0)
            .as_primitive::<deltalake::arrow::datatypes::Int64Type>();
        let codes = b.column(1).as_list::<i32>();
        for i in 0..b.num_rows() {
            // The scan may give string views.
            let values =
                deltalake::arrow::compute::cast(&codes.value(i), &DataType::Utf8).expect("text");
            let values = values.as_string::<i32>();
            got.push((
                ids.value(i),
                (0..values.len())
                    .map(|j| values.value(j).to_owned())
                    .collect(),
            ));
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (1, vec!["a".to_owned(), "b".to_owned()]),
            (2, vec![]),
            (3, vec!["c".to_owned()]),
        ]
    );
}

/// For each data file of `url`, `what` of each column chunk (`id`,
/// `name`) of its first row group.
fn column_chunks(
    url: &str,
    what: impl Fn(&deltalake::parquet::file::metadata::ColumnChunkMetaData) -> bool,
) -> Vec<Vec<bool>> {
    use deltalake::parquet::file::reader::{FileReader as _, SerializedFileReader};
    let mut out = Vec::new();
    for entry in std::fs::read_dir(url).expect("table folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "parquet") {
            let reader = SerializedFileReader::new(std::fs::File::open(&path).expect("file"))
                .expect("a Parquet file");
            let group = reader.metadata().row_group(0);
            out.push(
                (0..group.num_columns())
                    .map(|c| what(group.column(c)))
                    .collect(),
            );
        }
    }
    out
}

/// Whether each column chunk of each data file has Parquet statistics.
fn parquet_statistics(url: &str) -> Vec<Vec<bool>> {
    column_chunks(url, |c| c.statistics().is_some())
}

/// The `minValues` of the Delta statistics of every add in `url`'s log.
fn delta_min_values(url: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(std::path::Path::new(url).join("_delta_log")).expect("log") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            for line in std::fs::read_to_string(&path).expect("commit").lines() {
                let action: serde_json::Value = serde_json::from_str(line).expect("action");
                if let Some(stats) = action["add"]["stats"].as_str() {
                    let stats: serde_json::Value = serde_json::from_str(stats).expect("stats");
                    out.push(stats["minValues"].clone());
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn files_keep_parquet_statistics_for_the_columns_delta_indexes_only() {
    // Every column indexed (the default): every column has statistics.
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[(1, Some("ada")), (2, Some("grace"))])])
        .await
        .expect("append");
    assert_eq!(parquet_statistics(&url), vec![vec![true, true]]);

    // Delta indexes `id` only: `name` is written without statistics, and
    // the Delta statistics (computed from the Parquet ones) are unchanged.
    let (_dir, url) = temp_table();
    let mut table = LakeTable::open_or_create(
        &url,
        &spec().with_property("delta.dataSkippingStatsColumns", "id"),
    )
    .await
    .expect("create");
    table
        .append(vec![batch(&[(1, Some("ada")), (2, Some("grace"))])])
        .await
        .expect("append");
    table
        .append(vec![batch(&[(3, Some("edsger"))])])
        .await
        .expect("second append");
    assert_eq!(
        parquet_statistics(&url),
        vec![vec![true, false], vec![true, false]]
    );
    let mut mins = delta_min_values(&url);
    mins.sort_by_key(|m| m["id"].as_i64());
    assert_eq!(
        mins,
        vec![serde_json::json!({"id": 1}), serde_json::json!({"id": 3})]
    );
    assert_eq!(read(&table).await.len(), 3);
}

#[tokio::test]
async fn columns_named_plain_are_written_without_a_dictionary() {
    let dictionary = |url: &str| column_chunks(url, |c| c.dictionary_page_offset().is_some());
    let rows = [(1, Some("ada")), (2, Some("grace")), (3, Some("ada"))];
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table.append(vec![batch(&rows)]).await.expect("append");
    assert_eq!(dictionary(&url), vec![vec![true, true]]);

    let (_dir, url) = temp_table();
    let mut table = LakeTable::open_or_create(
        &url,
        &spec().with_property(caresync_lake::PLAIN_COLUMNS_PROPERTY, "id"),
    )
    .await
    .expect("create");
    table.append(vec![batch(&rows)]).await.expect("append");
    assert_eq!(dictionary(&url), vec![vec![false, true]]);
    assert_eq!(read(&table).await, owned(&rows));
}
