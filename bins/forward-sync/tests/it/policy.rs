//! The masking hook: a policy's values reach PostgreSQL, the source's do
//! not, in copies and in change syncs alike; a policy that breaks the
//! served columns stops the sync before anything is written.

use std::sync::Arc;

use caresync_forward_sync::{
    Action, BatchPolicy, Mode, Policy, PolicyError, SnapshotReason, sync_table,
};
use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{Field, Schema, SchemaRef};

use super::{batch, lake, pg, pg_rows, spec};

/// Hides names ("***") and rounds scores down to hundreds.
struct Mask;

impl BatchPolicy for Mask {
    fn id(&self) -> String {
        "mask/1".to_owned()
    }

    fn schema(&self, served: &SchemaRef) -> Result<SchemaRef, PolicyError> {
        Ok(served.clone())
    }

    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, PolicyError> {
        let schema = batch.schema();
        let name = schema
            .index_of("name")
            .map_err(|_| PolicyError("column name is missing".to_owned()))?;
        let score = schema
            .index_of("score")
            .map_err(|_| PolicyError("column score is missing".to_owned()))?;
        let names = batch.column(name);
        let scores = batch
            .column(score)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| PolicyError("column score is not an integer".to_owned()))?;
        let mut columns = batch.columns().to_vec();
        let hidden =
            StringArray::from_iter((0..names.len()).map(|i| names.is_valid(i).then_some("***")));
        // The same string type as the scan gave (it may be a view type).
        columns[name] = cast(&hidden, names.data_type())
            .map_err(|_| PolicyError("column name has an unexpected type".to_owned()))?;
        columns[score] = Arc::new(Int64Array::from_iter(
            scores.iter().map(|s| s.map(|s| s / 100 * 100)),
        ));
        RecordBatch::try_new(schema, columns).map_err(|_| PolicyError("rebuilding".to_owned()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_masks_values_in_copies_and_in_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 30).await;
    let (mut client, _) = pg("fwd_policy").await;
    let s = caresync_forward_sync::TableConfig {
        policy: Policy::new(Mask),
        ..spec(&url)
    };
    let first = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("first sync");
    assert!(matches!(
        first.action,
        Action::Snapshot {
            reason: SnapshotReason::FirstSync,
            rows: 30
        }
    ));
    table
        .update_where("id = 7", &[("name", "'Ada Lovelace'"), ("score", "1234")])
        .await
        .expect("update");
    table.append(vec![batch(30..32)]).await.expect("append");
    let second = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("second sync");
    assert!(
        matches!(second.action, Action::Changes { upserted: 3, .. }),
        "{second:?}"
    );

    let rows = pg_rows(&client).await;
    assert_eq!(rows.len(), 32);
    for (id, name, score) in &rows {
        assert_eq!(name.as_deref(), Some("***"), "row {id}");
        let source_score = if *id == 7 { 1234 } else { id * 10 };
        assert_eq!(*score, Some(source_score / 100 * 100), "row {id}");
    }
    // No source name reached the table.
    let leaked: i64 = client
        .query_one(
            "SELECT count(*) FROM patient WHERE name <> '***' OR name IS NULL",
            &[],
        )
        .await
        .expect("reads")
        .get(0);
    assert_eq!(leaked, 0);
}

/// Drops the last served column: not a policy's work.
struct DropsAColumn;

impl BatchPolicy for DropsAColumn {
    fn id(&self) -> String {
        "drops/1".to_owned()
    }

    fn schema(&self, served: &SchemaRef) -> Result<SchemaRef, PolicyError> {
        let fields: Vec<Field> = served
            .fields()
            .iter()
            .take(2)
            .map(|f| f.as_ref().clone())
            .collect();
        Ok(Arc::new(Schema::new(fields)))
    }

    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, PolicyError> {
        Ok(batch)
    }
}

/// Fails on every batch.
struct Refuses;

impl BatchPolicy for Refuses {
    fn id(&self) -> String {
        "refuses/1".to_owned()
    }

    fn schema(&self, served: &SchemaRef) -> Result<SchemaRef, PolicyError> {
        Ok(served.clone())
    }

    fn apply(&self, _: RecordBatch) -> Result<RecordBatch, PolicyError> {
        Err(PolicyError(
            "rule hide-names has no key configured".to_owned(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_drops_a_column_or_fails_stops_the_sync_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_table, url) = lake(&dir, true, 5).await;
    let (mut client, _) = pg("fwd_policy_bad").await;
    let exists = async |client: &tokio_postgres::Client| -> bool {
        client
            .query_one("SELECT to_regclass('public.patient') IS NOT NULL", &[])
            .await
            .expect("catalog")
            .get(0)
    };

    let dropping = caresync_forward_sync::TableConfig {
        policy: Policy::new(DropsAColumn),
        ..spec(&url)
    };
    let err = sync_table(&mut client, &dropping, Mode::Triggered)
        .await
        .expect_err("a dropped column");
    assert_eq!(err.code(), "FWD-0003", "{err}");
    assert!(err.to_string().contains("id, name, score"), "{err}");
    assert!(!exists(&client).await);

    let refusing = caresync_forward_sync::TableConfig {
        policy: Policy::new(Refuses),
        ..spec(&url)
    };
    let err = sync_table(&mut client, &refusing, Mode::Triggered)
        .await
        .expect_err("a refused batch");
    assert!(err.to_string().contains("[FWD-0003]"), "{err}");
    assert!(err.to_string().contains("hide-names"), "{err}");
    assert!(!exists(&client).await);
    let staging: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'patient\\_\\_%'",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    assert_eq!(staging, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_policy_copies_the_table_again_so_no_unmasked_row_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_table, url) = lake(&dir, true, 20).await;
    let (mut client, _) = pg("fwd_policy_new").await;
    let plain = spec(&url);
    sync_table(&mut client, &plain, Mode::Triggered)
        .await
        .expect("served without a policy");
    let unmasked = async |client: &tokio_postgres::Client| -> i64 {
        client
            .query_one("SELECT count(*) FROM patient WHERE name <> '***'", &[])
            .await
            .expect("reads")
            .get(0)
    };
    assert_eq!(unmasked(&client).await, 20);

    let masked = caresync_forward_sync::TableConfig {
        policy: Policy::new(Mask),
        ..spec(&url)
    };
    // The source has not changed, but the rules have.
    let report = sync_table(&mut client, &masked, Mode::Triggered)
        .await
        .expect("served under the policy");
    assert_eq!(
        report.action,
        Action::Snapshot {
            reason: SnapshotReason::PolicyChanged,
            rows: 20
        }
    );
    assert_eq!(unmasked(&client).await, 0);
    let again = sync_table(&mut client, &masked, Mode::Triggered)
        .await
        .expect("the same policy");
    assert_eq!(again.action, Action::UpToDate);
}

/// A policy file: names hashed for operations, scores kept for operations
/// only, and, for research, rows of patients who opted out withheld.
fn policy_file(dir: &tempfile::TempDir, key: &std::path::Path) -> String {
    let path = dir.path().join("ops.toml");
    std::fs::write(
        &path,
        format!(
            "policy = \"ops\"\nversion = \"1.2.0\"\npurposes = [\"HOPERAT\", \"HRESCH\"]\n\
             [keys.k]\nfile = {:?}\n\
             [[table]]\nname = \"patient\"\n\
             [[table.rule]]\ncolumns = [\"id\"]\nmethod = \"keep\"\n\
             [[table.rule]]\ncolumns = [\"name\"]\nmethod = \"hash\"\nkey = \"k\"\n\
             [[table.rule]]\ncolumns = [\"score\"]\npurposes = [\"HOPERAT\"]\nmethod = \"keep\"\n\
             [[table.filter]]\npurposes = [\"HRESCH\"]\ndrop_when = {{ column = \"score\", equals = 70 }}\n",
            key.display().to_string()
        ),
    )
    .expect("the policy file");
    path.display().to_string()
}

fn hmac_hex(key: &[u8], value: &str) -> String {
    caresync_policy::Key::new("k", key)
        .expect("a key")
        .mac(&[value.as_bytes()])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_file_masks_the_served_table_for_its_purpose() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 20).await;
    let (mut client, _) = pg("fwd_policy_file").await;
    let key = b"a forward-sync test key, 32 bytes or more";
    let key_file = dir.path().join("k.key");
    std::fs::write(&key_file, [&key[..], b"\n"].concat()).expect("the key file");
    // Named relative to the policy file, which sits beside it.
    let policy = policy_file(&dir, std::path::Path::new("k.key"));
    let audit = dir.path().join("audit").display().to_string();
    let config = |purpose: &str| {
        caresync_forward_sync::Config::from_toml(&format!(
            "dsn = \"unused\"\n[[table]]\nsource = {url:?}\nname = \"patient\"\nkey = [\"id\"]\n\
             [table.mask]\npolicy = {policy:?}\npurpose = \"{purpose}\"\nprincipal = \"ops-replica\"\naudit = {audit:?}\n"
        ))
    };
    let ops = config("HOPERAT").expect("a valid configuration");
    let first = sync_table(&mut client, &ops.tables[0], Mode::Triggered)
        .await
        .expect("first sync");
    assert!(
        matches!(first.action, Action::Snapshot { rows: 20, .. }),
        "{first:?}"
    );
    table
        .update_where("id = 7", &[("name", "'Ada Lovelace'")])
        .await
        .expect("update");
    let second = sync_table(&mut client, &ops.tables[0], Mode::Triggered)
        .await
        .expect("second sync");
    assert!(
        matches!(second.action, Action::Changes { upserted: 1, .. }),
        "{second:?}"
    );
    let rows = pg_rows(&client).await;
    assert_eq!(rows.len(), 20);
    for (id, name, score) in &rows {
        let source = if *id == 7 {
            "Ada Lovelace".to_owned()
        } else {
            format!("p{id}")
        };
        assert_eq!(
            name.as_deref(),
            Some(hmac_hex(key, &source).as_str()),
            "row {id}"
        );
        assert_eq!(*score, Some(id * 10));
    }

    // Each masked batch left an audit record in the Delta audit table:
    // who, for what, under which policy, which columns, how many rows.
    let records = caresync_lake::LakeTable::open(&audit)
        .await
        .expect("the audit table")
        .read_all()
        .await
        .expect("audit records");
    let mut served = 0;
    for b in &records {
        let text = |c: &str| {
            let column = b.column_by_name(c).expect("an audit column");
            cast(column, &deltalake::arrow::datatypes::DataType::Utf8)
                .expect("as text")
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("text")
                .clone()
        };
        for i in 0..b.num_rows() {
            assert_eq!(text("principal").value(i), "ops-replica");
            assert_eq!(text("purpose").value(i), "HOPERAT");
            assert_eq!(text("table").value(i), "patient");
            assert_eq!(text("policy_version").value(i), "1.2.0");
        }
        served += b
            .column_by_name("rows_out")
            .expect("rows_out")
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("counts")
            .iter()
            .flatten()
            .sum::<i64>();
    }
    assert!(served >= 21, "the copy's 20 rows and the update: {served}");

    // Research withholds rows, which forward sync cannot do by position:
    // refused before anything is written, naming the policy, not a value.
    let research = config("HRESCH").expect("a valid configuration");
    let err = sync_table(&mut client, &research.tables[0], Mode::Triggered)
        .await
        .expect_err("rows withheld");
    assert!(
        err.to_string()
            .contains("policy ops withholds rows of patient"),
        "{err}"
    );
    assert_eq!(pg_rows(&client).await, rows, "nothing written");

    // A key that cannot be read: the configuration is refused.
    std::fs::remove_file(&key_file).expect("key removed");
    let err = config("HOPERAT").expect_err("no key");
    assert!(
        err.to_string().contains("[POLICY-0003] key k: file"),
        "{err}"
    );
}

#[test]
fn a_key_column_the_policy_would_not_keep_or_hash_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("k.key");
    std::fs::write(&key_file, b"a forward-sync test key, 32 bytes or more").expect("key");
    let policy = policy_file(&dir, &key_file);
    let config = |key: &str| {
        caresync_forward_sync::Config::from_toml(&format!(
            "dsn = \"unused\"\n[[table]]\nsource = \"/nowhere\"\nname = \"patient\"\nkey = [\"{key}\"]\n\
             [table.mask]\npolicy = {policy:?}\npurpose = \"HRESCH\"\n"
        ))
    };
    // For research the score is unlisted: nulled, so no key.
    let err = config("score").expect_err("a nulled key");
    assert!(
        err.to_string()
            .contains("key column score would be served as null; a key must be kept or hashed"),
        "{err}"
    );
    // A hashed key is a key still.
    config("name").expect("a hashed key");
}
