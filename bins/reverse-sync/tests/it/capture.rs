//! What the change histories hold: the initial snapshot, then every change.

use std::collections::BTreeMap;

use crate::{history, rows, setup, start, wait_confirmed, wal_position};

/// The table's rows as a fold of its history: inserts and postimages set
/// the row, deletes remove it, truncates empty the table.
fn replay(history: &[Vec<String>]) -> BTreeMap<String, Vec<String>> {
    let mut state = BTreeMap::new();
    for row in history {
        let (kind, values) = row.split_first().expect("a change type first");
        match kind.as_str() {
            "insert" | "update_postimage" => {
                state.insert(values[0].clone(), values.to_vec());
            }
            "delete" => {
                state.remove(&values[0]);
            }
            "truncate" => state.clear(),
            "update_preimage" => {}
            other => panic!("unknown change type {other}"),
        }
    }
    state
}

#[tokio::test]
async fn the_snapshot_and_the_stream_meet_without_gap_or_overlap() {
    let s = setup(
        "rev_gap",
        &["encounter"],
        "CREATE TABLE encounter (id int PRIMARY KEY, status text NOT NULL, admitted date);
         INSERT INTO encounter SELECT g, 'planned', DATE '2026-01-01' + g FROM generate_series(1, 200) g;",
    )
    .await;
    // Writes race the start: some land before the slot (snapshot), the rest
    // after (stream); none may be lost or doubled. They go on until the slot
    // exists, then 30 more.
    let running = start(&s.config);
    let mut id = 200;
    let mut after_slot = 0;
    while after_slot < 30 {
        id += 1;
        s.client
            .execute("INSERT INTO encounter VALUES ($1, 'arrived', NULL)", &[&id])
            .await
            .expect("insert");
        if id % 10 == 0 {
            s.client
                .execute(
                    "UPDATE encounter SET status = 'discharged' WHERE id = $1",
                    &[&(id - 200)],
                )
                .await
                .expect("update");
            s.client
                .execute("DELETE FROM encounter WHERE id = $1", &[&(id - 195)])
                .await
                .expect("delete");
        }
        if after_slot > 0 || slot_exists(&s).await {
            after_slot += 1;
        }
    }
    // And some once streaming has surely begun.
    wait_for_slot(&s).await;
    for more in 1..=10 {
        s.client
            .execute(
                "INSERT INTO encounter VALUES ($1, 'arrived', NULL)",
                &[&(id + more)],
            )
            .await
            .expect("insert");
    }
    let target = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &target).await;
    let report = running.stop().await;
    assert!(report.snapshot_rows >= 200, "{report:?}");

    let history = history(
        &s.config,
        "public.encounter",
        &["_change_type", "id", "status", "admitted"],
    )
    .await;
    // No id was inserted twice (by the snapshot and the stream).
    let mut inserts: Vec<i64> = history
        .iter()
        .filter(|r| r[0] == "insert")
        .map(|r| r[1].parse().expect("id"))
        .collect();
    let all = inserts.len();
    inserts.sort_unstable();
    inserts.dedup();
    assert_eq!(inserts.len(), all, "an insert is in the history twice");
    // Both the snapshot and the stream contributed.
    let xids = crate::history(&s.config, "public.encounter", &["_xid"]).await;
    assert!(xids.iter().any(|x| x[0] == "∅"), "no snapshot rows");
    assert!(xids.iter().any(|x| x[0] != "∅"), "no streamed rows");
    // Replaying the history gives the table as it is.
    let table: BTreeMap<String, Vec<String>> = s
        .client
        .query(
            "SELECT id::text, status, coalesce(admitted::text, '∅') FROM encounter",
            &[],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            (id.clone(), vec![id, r.get(1), r.get(2)])
        })
        .collect();
    assert_eq!(replay(&history), table);
    assert!(table.len() > 200);
}

#[tokio::test]
async fn updates_and_deletes_carry_before_images_and_omitted_toast_values() {
    let s = setup(
        "rev_images",
        &["public.full_row", "note"],
        "CREATE TABLE full_row (id int PRIMARY KEY, v text);
         ALTER TABLE full_row REPLICA IDENTITY FULL;
         CREATE TABLE note (id int PRIMARY KEY, body text, flag int);
         ALTER TABLE note ALTER COLUMN body SET STORAGE EXTERNAL;",
    )
    .await;
    let running = start(&s.config);
    // A body far past the TOAST threshold, stored out of line.
    let body = "x".repeat(20_000);
    let script = format!(
        "INSERT INTO full_row VALUES (1, 'a');
         UPDATE full_row SET v = 'b' WHERE id = 1;
         DELETE FROM full_row WHERE id = 1;
         INSERT INTO note VALUES (7, '{body}', 0);
         UPDATE note SET flag = 1 WHERE id = 7;
         DELETE FROM note WHERE id = 7;"
    );
    // Wait for the slot: the first run creates it, and changes committed
    // before then belong to the snapshot.
    wait_for_slot(&s).await;
    s.client.batch_execute(&script).await.expect("changes");
    let target = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &target).await;
    running.stop().await;

    let full = history(
        &s.config,
        "public.full_row",
        &["_change_type", "id", "v", "_omitted_columns"],
    )
    .await;
    assert_eq!(
        full,
        rows(&[
            &["insert", "1", "a", "∅"],
            &["update_preimage", "1", "a", "∅"],
            &["update_postimage", "1", "b", "∅"],
            &["delete", "1", "b", "∅"],
        ])
    );

    let note = history(
        &s.config,
        "public.note",
        &["_change_type", "id", "flag", "_omitted_columns"],
    )
    .await;
    assert_eq!(
        note,
        rows(&[
            &["insert", "7", "0", "∅"],
            // The body was not touched: PostgreSQL does not send it again.
            &["update_postimage", "7", "1", "[body]"],
            // Under the default identity a delete carries the key only.
            &["delete", "7", "∅", "[body, flag]"],
        ])
    );
    let bodies = history(&s.config, "public.note", &["body"]).await;
    assert_eq!(bodies[0][0].len(), 20_000);
    assert_eq!(bodies[1][0], "∅");
}

#[tokio::test]
async fn a_full_identity_preimage_fills_what_the_postimage_omits() {
    let mut s = setup(
        "rev_full_toast",
        &["doc"],
        "CREATE TABLE doc (id int PRIMARY KEY, body text, flag int);
         ALTER TABLE doc REPLICA IDENTITY FULL;
         ALTER TABLE doc ALTER COLUMN body SET STORAGE EXTERNAL;",
    )
    .await;
    // The mirror keys rows by the primary key, not every column (a null
    // flag would otherwise be a null key).
    s.config.mirror = true;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    s.client
        .batch_execute(&format!(
            "INSERT INTO doc VALUES (1, '{}', 0);
             UPDATE doc SET flag = 1 WHERE id = 1;
             INSERT INTO doc VALUES (2, 'short', NULL);",
            "y".repeat(20_000)
        ))
        .await
        .expect("changes");
    let target = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &target).await;
    running.stop().await;
    let rows = history(
        &s.config,
        "public.doc",
        &["_change_type", "flag", "_omitted_columns"],
    )
    .await;
    let bodies = history(&s.config, "public.doc", &["body"]).await;
    let lengths: Vec<usize> = bodies.iter().map(|b| b[0].len()).collect();
    // PostgreSQL sends the untouched out-of-line body in the full old row
    // only; the new row takes it from there instead of omitting it.
    assert_eq!(
        rows,
        crate::rows(&[
            &["insert", "0", "∅"],
            &["update_preimage", "0", "∅"],
            &["update_postimage", "1", "∅"],
            &["insert", "∅", "∅"],
        ])
    );
    assert_eq!(lengths[..3], [20_000, 20_000, 20_000]);
    let history = caresync_lake::LakeTable::open(&format!("{}/public.doc", s.config.lake))
        .await
        .expect("history");
    assert_eq!(
        history
            .property(caresync_lake::PRIMARY_KEY_PROPERTY)
            .expect("properties")
            .as_deref(),
        Some("id")
    );
    let mirror = caresync_lake::LakeTable::open(&format!("{}/public.doc__current", s.config.lake))
        .await
        .expect("mirror");
    let rows: usize = mirror
        .read_all()
        .await
        .expect("rows")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 2);
}

#[tokio::test]
async fn new_columns_and_truncates_appear_in_later_rows() {
    let s = setup(
        "rev_schema",
        &["ward"],
        "CREATE TABLE ward (id int PRIMARY KEY, name text);
         INSERT INTO ward VALUES (1, 'east');",
    )
    .await;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    s.client
        .batch_execute(
            "INSERT INTO ward VALUES (2, 'west');
             ALTER TABLE ward ADD COLUMN beds int;
             INSERT INTO ward VALUES (3, 'north', 12);
             TRUNCATE ward;
             INSERT INTO ward VALUES (4, 'south', 4);",
        )
        .await
        .expect("changes");
    let target = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &target).await;
    running.stop().await;
    let history = history(
        &s.config,
        "public.ward",
        &["_change_type", "id", "name", "beds"],
    )
    .await;
    assert_eq!(
        history,
        rows(&[
            &["insert", "1", "east", "∅"],
            &["insert", "2", "west", "∅"],
            &["insert", "3", "north", "12"],
            &["truncate", "∅", "∅", "∅"],
            &["insert", "4", "south", "4"],
        ])
    );
}

async fn slot_exists(s: &crate::Setup) -> bool {
    s.client
        .query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&s.config.slot],
        )
        .await
        .expect("slot query")
        .is_some()
}

/// Waits until the run streams from its slot (its snapshot is taken:
/// what is committed from now on is streamed).
pub(crate) async fn wait_for_slot(s: &crate::Setup) {
    for _ in 0..600 {
        let state = s
            .client
            .query_opt(
                "SELECT r.state FROM pg_replication_slots s
                   JOIN pg_stat_replication r ON r.pid = s.active_pid
                  WHERE s.slot_name = $1",
                &[&s.config.slot],
            )
            .await
            .expect("slot query");
        if state.is_some_and(|r| {
            matches!(
                r.get::<_, Option<String>>(0).as_deref(),
                Some("streaming" | "catchup")
            )
        }) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the run did not start streaming within 30 s");
}
