//! Point-in-time reconstruction against the table's real past states.

use caresync_cdc::Lsn;
use caresync_cdc::history::TableName;
use caresync_reverse_sync::{AsOf, rebuild, rebuild_into};
use deltalake::arrow::array::RecordBatch;

use crate::capture::wait_for_slot;
use crate::{
    ChartState, chart_in_batches, chart_in_postgres, setup, start, wait_confirmed, wal_position,
};

#[tokio::test]
async fn a_rebuilt_table_equals_its_real_past_states() {
    let s = setup(
        "rev_rebuild",
        &["chart"],
        "CREATE TABLE chart (id int PRIMARY KEY, note text, body text);
         ALTER TABLE chart ALTER COLUMN body SET STORAGE EXTERNAL;
         INSERT INTO chart SELECT g, 'seed', repeat(chr(64 + g), 3000) FROM generate_series(1, 20) g;",
    )
    .await;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    let steps = [
        // Notes change, bodies (stored out of line) do not: their values are
        // omitted from the stream and must come from earlier rows.
        "UPDATE chart SET note = 'seen' WHERE id % 3 = 0;
         INSERT INTO chart VALUES (21, 'new', repeat('z', 2500));",
        "DELETE FROM chart WHERE id % 4 = 0;
         UPDATE chart SET id = id + 100 WHERE id = 5;",
        "UPDATE chart SET body = 'short' WHERE id = 1;
         UPDATE chart SET note = NULL WHERE id = 105;",
        "TRUNCATE chart;
         INSERT INTO chart VALUES (1, 'after', 'b');",
    ];
    let mut checkpoints: Vec<(Lsn, ChartState)> = vec![(
        wal_position(&s.client).await.parse().expect("lsn"),
        chart_in_postgres(&s.client).await,
    )];
    for step in steps {
        s.client.batch_execute(step).await.expect("step");
        let lsn: Lsn = wal_position(&s.client).await.parse().expect("lsn");
        checkpoints.push((lsn, chart_in_postgres(&s.client).await));
    }
    let end = checkpoints.last().expect("checkpoints").0.to_string();
    wait_confirmed(&s.client, &s.config.slot, &end).await;
    running.stop().await;

    let table = TableName {
        schema: "public".to_owned(),
        name: "chart".to_owned(),
    };
    for (i, (lsn, expected)) in checkpoints.iter().enumerate() {
        let rebuilt = rebuild(&s.config, &table, AsOf::Lsn(*lsn))
            .await
            .expect("rebuilt");
        assert_eq!(
            &chart_in_batches(std::slice::from_ref(&rebuilt)),
            expected,
            "as of checkpoint {i} ({lsn})"
        );
    }
    // Checkpoint 2 is the richest: 16 rows, one moved to a new key.
    assert_eq!(checkpoints[2].1.len(), 16);

    // By time, now: the table as it is.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros();
    let rebuilt = rebuild(
        &s.config,
        &table,
        AsOf::Time(i64::try_from(now).expect("fits")),
    )
    .await
    .expect("rebuilt by time");
    assert_eq!(
        chart_in_batches(std::slice::from_ref(&rebuilt)),
        chart_in_postgres(&s.client).await
    );

    // Written to a Delta table of its own.
    let into = s.lake.path().join("chart_as_of_1").display().to_string();
    let written = rebuild_into(&s.config, &table, AsOf::Lsn(checkpoints[1].0), &into)
        .await
        .expect("written");
    assert_eq!(written, checkpoints[1].1.len());
    let copy = caresync_lake::LakeTable::open(&into)
        .await
        .expect("the copy");
    let batches = copy.read_all().await.expect("rows");
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, written);
}
