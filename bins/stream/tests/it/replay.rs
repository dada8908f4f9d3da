//! Dead letters replayed after a contract fix; bronze backfilled twice.

use std::collections::HashMap;

use caresync_core::ErrorClass;
use caresync_stream::replay::{backfill, replay_dead_letters};

use crate::support::{Client, Running, accepted, count, layout, rows, settings, texts};

const STRICT: &str = r#"
entity = "patient"
version = "1.0.0"

[[field]]
name = "id"
type = "string"
required = true
primary_key = true

[[field]]
name = "birth_date"
type = "date"
phi = "quasi_identifier"

[[rule]]
name = "birth_date_recorded"
severity = "error"
not_null = "birth_date"
"#;

fn contracts(text: &str) -> caresync_stream::silver::Contracts {
    let contract =
        caresync_contract::Contract::from_toml(text, "patient.toml").expect("a contract");
    HashMap::from([("patient".to_owned(), contract)])
}

fn admission(id: &str, mrn: &str, birth: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|ADT|GHH|EHR|GHH|20240501103000||ADT^A01|{id}|P|2.5.1\rPID|1||{mrn}^^^GHH^MR||Roe^Jane||{birth}|F\rPV1|1|I\r"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_rejects_are_replayed_after_the_fix_and_backfill_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let mut strict = settings(&layout);
    strict.contracts = contracts(STRICT);
    let running = Running::start(strict).await;
    let mut client = Client::connect(running.addr).await;
    for m in [
        admission("M1", "4711", "19800101"),
        admission("M2", "4712", ""),
        admission("M3", "4713", "19750505"),
    ] {
        assert!(accepted(&client.call(&m).await));
    }
    running.stop().await;

    assert_eq!(
        texts(&rows(&layout.silver("patient")).await, "mrn").len(),
        2
    );
    let dead = rows(&layout.dead_letter()).await;
    assert_eq!(texts(&dead, "error_class"), ["contract"]);
    assert_eq!(texts(&dead, "error_code"), ["CONTRACT-0105"]);
    assert_eq!(texts(&dead, "message_id"), ["M2"]);
    assert_eq!(texts(&dead, "contract_version"), ["1.0.0"]);

    // Replaying under the same contract resolves nothing and keeps one
    // dead letter.
    let again = replay_dead_letters(&layout, &contracts(STRICT), ErrorClass::Contract, None)
        .await
        .expect("replay");
    assert_eq!((again.resolved, again.dead_letters), (0, 1));
    assert_eq!(count(&rows(&layout.dead_letter()).await), 1);

    // The fix: birth dates become optional (version 1.1.0).
    let relaxed = STRICT
        .replace("1.0.0", "1.1.0")
        .replace("severity = \"error\"", "severity = \"warning\"");
    let fixed = replay_dead_letters(&layout, &contracts(&relaxed), ErrorClass::Contract, None)
        .await
        .expect("replay");
    assert_eq!(
        (fixed.bronze_rows, fixed.resolved, fixed.dead_letters),
        (1, 1, 0)
    );
    let mut mrns = texts(&rows(&layout.silver("patient")).await, "mrn");
    mrns.sort();
    assert_eq!(mrns, ["4711", "4712", "4713"]);
    assert_eq!(count(&rows(&layout.dead_letter()).await), 0);

    // A backfill of everything, twice: silver and the dead letters stay.
    let before = texts(&rows(&layout.silver("patient")).await, "_version");
    for _ in 0..2 {
        let report = backfill(&layout, &contracts(&relaxed), 0, i64::MAX)
            .await
            .expect("backfill");
        assert_eq!(report.bronze_rows, 3);
        assert_eq!(report.silver.applied, 0, "{report:?}");
        assert_eq!(report.dead_letters, 0);
    }
    let mut after = texts(&rows(&layout.silver("patient")).await, "_version");
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(after, before);
    assert_eq!(count(&rows(&layout.dead_letter()).await), 0);
}
