//! Point-in-time reconstruction against the table's real past states.

use caresync_cdc::Lsn;
use caresync_cdc::history::TableName;
use caresync_reverse_sync::{AsOf, rebuild, rebuild_into};
use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::arrow::util::display::array_value_to_string;

use crate::capture::wait_for_slot;
use crate::{setup, start, wait_confirmed, wal_position};

type State = Vec<Vec<String>>;

async fn state(client: &tokio_postgres::Client) -> State {
    client
        .query(
            "SELECT id::text, coalesce(note, '∅'),
                    coalesce(left(body, 1) || length(body)::text, '∅')
               FROM chart ORDER BY chart.id",
            &[],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| vec![r.get(0), r.get(1), r.get(2)])
        .collect()
}

fn as_state(batch: &RecordBatch) -> State {
    let mut rows: State = (0..batch.num_rows())
        .map(|i| {
            ["id", "note", "body"]
                .iter()
                .map(|c| {
                    let column = batch.column_by_name(c).expect("a column");
                    if column.is_null(i) {
                        "∅".to_owned()
                    } else {
                        let text = array_value_to_string(column, i).expect("printable");
                        if *c == "body" {
                            // The first character and the length, as the
                            // query above.
                            format!("{}{}", &text[..1], text.chars().count())
                        } else {
                            text
                        }
                    }
                })
                .collect()
        })
        .collect();
    rows.sort_by_key(|r| r[0].parse::<i64>().expect("an id"));
    rows
}

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
    let mut checkpoints: Vec<(Lsn, State)> = vec![(
        wal_position(&s.client).await.parse().expect("lsn"),
        state(&s.client).await,
    )];
    for step in steps {
        s.client.batch_execute(step).await.expect("step");
        let lsn: Lsn = wal_position(&s.client).await.parse().expect("lsn");
        checkpoints.push((lsn, state(&s.client).await));
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
            &as_state(&rebuilt),
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
    assert_eq!(as_state(&rebuilt), state(&s.client).await);

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
