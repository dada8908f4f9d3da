//! The command line: capture until SIGTERM, then rebuild a past state.

use std::process::{Command, Stdio};

use crate::capture::wait_for_slot;
use crate::{setup, wait_confirmed, wal_position};

#[tokio::test]
async fn the_binary_captures_until_sigterm_and_rebuilds_a_past_state() {
    let s = setup(
        "rev_cli",
        &["bed"],
        "CREATE TABLE bed (id int PRIMARY KEY, ward text);
         INSERT INTO bed VALUES (1, 'east'), (2, 'west');",
    )
    .await;
    let lake = &s.config.lake;
    let child = Command::new(env!("CARGO_BIN_EXE_caresync-reverse-sync"))
        .args(["--dsn", &s.config.dsn, "--lake", lake, "--tables", "bed"])
        .args(["--slot", &s.config.slot, "--flush-interval-ms", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    wait_for_slot(&s).await;
    s.client
        .batch_execute("UPDATE bed SET ward = 'north' WHERE id = 1")
        .await
        .expect("update");
    let before_delete = wal_position(&s.client).await;
    s.client
        .batch_execute("DELETE FROM bed WHERE id = 2")
        .await
        .expect("delete");
    let end = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &end).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("the binary ends");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("reverse sync stopped"), "{log}");

    let into = format!("{lake}/bed_before_delete");
    let status = Command::new(env!("CARGO_BIN_EXE_caresync-reverse-sync"))
        .args(["rebuild", "--lake", lake, "--table", "public.bed"])
        .args(["--lsn", &before_delete, "--into", &into])
        .status()
        .expect("rebuild runs");
    assert!(status.success());
    let rows = caresync_lake::LakeTable::open(&into)
        .await
        .expect("the rebuilt table")
        .read_all()
        .await
        .expect("rows");
    let count: usize = rows.iter().map(|b| b.num_rows()).sum();
    assert_eq!(count, 2, "both beds, before the delete");

    // A bad LSN is refused before anything runs.
    let status = Command::new(env!("CARGO_BIN_EXE_caresync-reverse-sync"))
        .args([
            "rebuild", "--lake", lake, "--table", "bed", "--lsn", "nonsense",
        ])
        .args(["--into", &into])
        .stderr(Stdio::null())
        .status()
        .expect("rebuild runs");
    assert_eq!(status.code(), Some(2));
}
