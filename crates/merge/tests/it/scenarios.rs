//! Cases a user would recognise, with their counters.

use std::time::Duration;

use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
use caresync_merge::{Counters, KeyedChange, State, Table, TombstoneRetention};

/// An HL7 v2 version: MSH-7 (seconds here) then MSH-10, the control id.
fn msh(secs: i64, control_id: &str) -> Version {
    Version::new(
        EventTime::from_unix_seconds(secs),
        Tiebreaker::from_text(control_id),
    )
}

/// A fingerprint for tests: a fixed FNV-1a over the row's bytes.
fn fp(row: &str) -> u64 {
    row.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn upsert(
    key: &'static str,
    version: Version,
    row: &'static str,
) -> KeyedChange<&'static str, &'static str> {
    KeyedChange::new(key, version, ChangeOp::Update, fp(row), row)
}

fn delete(key: &'static str, version: Version) -> KeyedChange<&'static str, &'static str> {
    KeyedChange::new(key, version, ChangeOp::Delete, 0, "")
}

fn counters(received: u64, applied: u64, superseded: u64, duplicate: u64, late: u64) -> Counters {
    Counters {
        received,
        applied,
        superseded,
        duplicate,
        late,
    }
}

fn day(d: i64) -> EventTime {
    EventTime::from_unix_seconds(1_700_000_000 + d * 86_400)
}

fn row<'t>(
    table: &'t Table<&'static str, &'static str>,
    key: &'static str,
) -> Option<&'t &'static str> {
    table.get(&key).and_then(State::row)
}

#[test]
fn a_re_sent_adt_message_is_a_duplicate() {
    let mut table = Table::default();
    let a08 = || upsert("pat-1", msh(1_000, "MSG0042"), "DOE^JANE^B|F|19800101");
    // The interface engine sends the message twice in one batch...
    assert_eq!(table.apply([a08(), a08()], day(0)), counters(2, 1, 0, 1, 0));
    // ... and once more the next day after a lost ACK.
    assert_eq!(table.apply([a08()], day(1)), counters(1, 0, 0, 1, 0));
    assert_eq!(row(&table, "pat-1"), Some(&"DOE^JANE^B|F|19800101"));
    assert_eq!(table.entries().len(), 1);
}

#[test]
fn an_out_of_order_update_is_late_and_does_not_roll_back() {
    let mut table = Table::default();
    // MSG10 (the newer A08) arrives first, MSG9 after it.
    table.apply([upsert("pat-1", msh(1_000, "MSG10"), "DOE^JANE^B")], day(0));
    let late = table.apply([upsert("pat-1", msh(1_000, "MSG9"), "DOE^JANE")], day(0));
    assert_eq!(late, counters(1, 0, 0, 0, 1));
    assert_eq!(row(&table, "pat-1"), Some(&"DOE^JANE^B"));
    // In one batch, the older one is superseded instead.
    let mut table = Table::default();
    let c = table.apply(
        [
            upsert("pat-1", msh(1_000, "MSG10"), "DOE^JANE^B"),
            upsert("pat-1", msh(1_000, "MSG9"), "DOE^JANE"),
        ],
        day(0),
    );
    assert_eq!(c, counters(2, 1, 1, 0, 0));
    assert_eq!(row(&table, "pat-1"), Some(&"DOE^JANE^B"));
}

#[test]
fn fhir_version_ids_order_as_numbers() {
    // Same lastUpdated, versionId "10" after "9" (not as text).
    let at = |id| Version::new(EventTime::from_unix_seconds(5), Tiebreaker::from_text(id));
    let mut table = Table::default();
    table.apply(
        [
            upsert("Patient/p1", at("10"), "v10"),
            upsert("Patient/p1", at("9"), "v9"),
        ],
        day(0),
    );
    assert_eq!(row(&table, "Patient/p1"), Some(&"v10"));
}

#[test]
fn a_delete_refuses_a_later_arriving_older_update() {
    let mut table = Table::default();
    table.apply([upsert("enc-7", msh(1_000, "1"), "ADMITTED")], day(0));
    // A11 (cancel admit) deletes the encounter; an A08 sent before it arrives late.
    assert_eq!(
        table.apply([delete("enc-7", msh(2_000, "3"))], day(0)),
        counters(1, 1, 0, 0, 0)
    );
    assert_eq!(
        table.apply([upsert("enc-7", msh(1_500, "2"), "UPDATED")], day(1)),
        counters(1, 0, 0, 0, 1)
    );
    assert!(table.get(&"enc-7").is_some_and(State::is_tombstone));
    assert_eq!(table.rows().count(), 0);
    // The same delete re-sent is a duplicate.
    assert_eq!(
        table.apply([delete("enc-7", msh(2_000, "3"))], day(2)),
        counters(1, 0, 0, 1, 0)
    );
}

#[test]
fn a_delete_of_a_key_never_seen_still_refuses_older_upserts() {
    let mut table = Table::default();
    let plan = table.plan([delete("pat-9", msh(2_000, "1"))]);
    assert!(plan.deletes.is_empty(), "no row to remove");
    assert_eq!(plan.new_tombstones.len(), 1);
    table.apply([delete("pat-9", msh(2_000, "1"))], day(0));
    assert_eq!(
        table.apply([upsert("pat-9", msh(1_000, "0"), "CREATED")], day(0)),
        counters(1, 0, 0, 0, 1)
    );
    assert_eq!(row(&table, "pat-9"), None);
}

#[test]
fn a_newer_upsert_after_a_delete_brings_the_key_back() {
    let mut table = Table::default();
    table.apply([delete("pat-2", msh(1_000, "1"))], day(0));
    let plan = table.plan([upsert("pat-2", msh(3_000, "2"), "RE-REGISTERED")]);
    assert_eq!(plan.inserts.len(), 1);
    assert_eq!(plan.inserts[0].replaces_tombstone, Some(msh(1_000, "1")));
    table.apply([upsert("pat-2", msh(3_000, "2"), "RE-REGISTERED")], day(0));
    assert_eq!(row(&table, "pat-2"), Some(&"RE-REGISTERED"));
}

#[test]
fn past_retention_a_pruned_tombstone_lets_an_older_upsert_resurrect_the_key() {
    let mut table = Table::new(TombstoneRetention::default());
    table.apply([upsert("pat-3", msh(1_000, "1"), "ALIVE")], day(0));
    table.apply([delete("pat-3", msh(2_000, "2"))], day(0));
    let stale = || upsert("pat-3", msh(1_500, "1b"), "STALE");

    // Within 30 days the tombstone is kept and the stale update refused.
    assert_eq!(table.prune(day(30)), 0);
    assert_eq!(table.apply([stale()], day(30)), counters(1, 0, 0, 0, 1));
    assert_eq!(row(&table, "pat-3"), None);

    // On day 31 it is pruned, and the same stale update is taken as new.
    assert_eq!(table.prune(day(31)), 1);
    assert_eq!(table.get(&"pat-3"), None);
    assert_eq!(table.apply([stale()], day(31)), counters(1, 1, 0, 0, 0));
    assert_eq!(row(&table, "pat-3"), Some(&"STALE"));
}

#[test]
fn retention_is_measured_from_when_the_tombstone_was_recorded() {
    // A backfill on day 100 of a delete that happened on day 0.
    let mut table = Table::new(TombstoneRetention::new(Duration::from_secs(7 * 86_400)));
    let deleted_on_day_0 = Version::new(day(0), Tiebreaker::None);
    table.apply([delete("pat-4", deleted_on_day_0)], day(100));
    assert_eq!(table.prune(day(107)), 0);
    assert_eq!(table.prune(day(108)), 1);
}

#[test]
fn pruning_never_drops_rows() {
    let mut table = Table::new(TombstoneRetention::new(Duration::ZERO));
    table.apply([upsert("pat-5", msh(1, "1"), "ROW")], day(0));
    assert_eq!(table.prune(day(1_000)), 0);
    assert_eq!(row(&table, "pat-5"), Some(&"ROW"));
}

#[test]
fn a_reused_version_resolves_the_same_in_every_order() {
    let version = msh(1_000, "MSG1");
    let a = || upsert("pat-6", version.clone(), "CONTENT-A");
    let b = || upsert("pat-6", version.clone(), "CONTENT-B");
    let winner = if fp("CONTENT-A") > fp("CONTENT-B") {
        "CONTENT-A"
    } else {
        "CONTENT-B"
    };
    for batches in [
        vec![vec![a(), b()]],
        vec![vec![b(), a()]],
        vec![vec![a()], vec![b()]],
        vec![vec![b()], vec![a()]],
    ] {
        let mut table = Table::default();
        for batch in batches {
            table.apply(batch, day(0));
        }
        assert_eq!(row(&table, "pat-6"), Some(&winner));
    }
    // At the same version, a delete beats an upsert in both orders.
    for batches in [
        vec![vec![a()], vec![delete("pat-6", version.clone())]],
        vec![vec![delete("pat-6", version.clone())], vec![a()]],
    ] {
        let mut table = Table::default();
        for batch in batches {
            table.apply(batch, day(0));
        }
        assert!(table.get(&"pat-6").is_some_and(State::is_tombstone));
    }
}

#[test]
fn a_replayed_feed_after_a_crash_applies_nothing() {
    let feed = || {
        [
            upsert("pat-1", msh(1, "1"), "A"),
            upsert("pat-2", msh(2, "2"), "B"),
            upsert("pat-1", msh(3, "3"), "A2"),
            delete("pat-2", msh(4, "4")),
            upsert("pat-3", msh(5, "5"), "C"),
        ]
    };
    let mut table = Table::default();
    assert_eq!(table.apply(feed(), day(0)), counters(5, 3, 2, 0, 0));
    let before = table.entries().clone();
    // The whole day is replayed from bronze.
    assert_eq!(table.apply(feed(), day(1)), counters(5, 0, 2, 3, 0));
    assert_eq!(table.entries(), &before);
}

#[test]
fn an_update_names_the_row_it_replaces_for_the_change_feed() {
    let mut table = Table::default();
    table.apply(
        [
            upsert("clm-1", msh(1, "1"), "BILLED"),
            upsert("clm-2", msh(1, "1"), "BILLED"),
        ],
        day(0),
    );
    let plan = table.plan([
        upsert("clm-2", msh(2, "2"), "PAID"),
        upsert("clm-3", msh(2, "2"), "BILLED"),
    ]);
    assert_eq!(plan.updates.len(), 1);
    let update = &plan.updates[0];
    assert_eq!(update.key, "clm-2");
    assert_eq!(update.old_version, msh(1, "1"));
    assert_eq!(update.location, table.location(&"clm-2"));
    assert_eq!(update.location.map(|l| l.row), Some(1));
    assert_eq!(plan.inserts.len(), 1);
    assert_eq!(
        plan.files_to_rewrite.iter().copied().collect::<Vec<_>>(),
        update
            .location
            .map(|l| l.file)
            .into_iter()
            .collect::<Vec<_>>()
    );
}
