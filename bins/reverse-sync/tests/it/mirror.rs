//! The current-state mirror, kept through the merge engine.

use caresync_lake::LakeTable;

use crate::capture::wait_for_slot;
use crate::{
    ChartState, chart_in_batches, chart_in_postgres, setup, start, wait_confirmed, wal_position,
};

async fn mirror_state(url: &str) -> ChartState {
    let mirror = LakeTable::open(url).await.expect("the mirror");
    chart_in_batches(&mirror.read_all().await.expect("rows"))
}

#[tokio::test]
async fn the_mirror_holds_the_tables_current_rows() {
    let mut s = setup(
        "rev_mirror",
        &["chart"],
        "CREATE TABLE chart (id int PRIMARY KEY, note text, body text);
         ALTER TABLE chart ALTER COLUMN body SET STORAGE EXTERNAL;
         INSERT INTO chart SELECT g, 'seed', repeat(chr(64 + g), 3000) FROM generate_series(1, 20) g;",
    )
    .await;
    s.config.mirror = true;
    let url = s
        .config
        .mirror_url(&s.config.table_names().expect("names")[0]);
    let running = start(&s.config);
    wait_for_slot(&s).await;
    assert_eq!(
        mirror_state(&url).await,
        chart_in_postgres(&s.client).await,
        "after the snapshot"
    );

    // Separate transactions, so that they land in separate flushes: the
    // bodies an update leaves alone are omitted and come from the mirror.
    for step in [
        "UPDATE chart SET note = 'seen' WHERE id % 3 = 0",
        "INSERT INTO chart VALUES (21, 'new', repeat('z', 2500))",
        "DELETE FROM chart WHERE id % 4 = 0",
        "UPDATE chart SET id = id + 100 WHERE id = 5",
        "UPDATE chart SET note = NULL WHERE id = 105",
    ] {
        s.client.batch_execute(step).await.expect("step");
        let lsn = wal_position(&s.client).await;
        wait_confirmed(&s.client, &s.config.slot, &lsn).await;
    }
    assert_eq!(
        mirror_state(&url).await,
        chart_in_postgres(&s.client).await,
        "after the changes"
    );

    s.client
        .batch_execute("TRUNCATE chart; INSERT INTO chart VALUES (1, 'after', 'b')")
        .await
        .expect("truncate");
    let lsn = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &lsn).await;
    running.stop().await;
    assert_eq!(
        mirror_state(&url).await,
        chart_in_postgres(&s.client).await,
        "after the truncate"
    );
    assert_eq!(mirror_state(&url).await.len(), 1);
}
