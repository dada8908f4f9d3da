//! The laws, as properties: any permutation, duplicates, batch split, crash or
//! replay gives the table the naive reference gives.

use std::collections::BTreeSet;

use caresync_core::EventTime;
use caresync_merge::{
    Counters, FileId, FileStats, State, Table, TombstoneRetention, candidate_files, dedupe,
};
use proptest::prelude::*;

use crate::common::{Ch, NOW, delivery, keyed, reference, table_after};

/// What can happen to a batch on its way into the table.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Applied once.
    Normal,
    /// Planned, then the process died before the commit; applied on restart.
    CrashBeforeCommit,
    /// Committed, then the process died before recording the source position;
    /// the batch is applied again on restart.
    CrashAfterCommit,
    /// Applied, and later a replay of the feed sends batch `i % applied` again.
    ReplayEarlier(usize),
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        3 => Just(Fate::Normal),
        1 => Just(Fate::CrashBeforeCommit),
        1 => Just(Fate::CrashAfterCommit),
        1 => any::<usize>().prop_map(Fate::ReplayEarlier),
    ]
}

/// A redelivery must change nothing: every change is superseded, a
/// duplicate or late.
fn assert_nothing_applied(c: Counters) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.applied, 0, "{}", c);
    prop_assert!(c.is_balanced(), "{}", c);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any permutation, any duplicates, any batch split: the same rows and
    /// tombstones as the sorted changes applied one by one.
    #[test]
    fn any_delivery_gives_the_reference_table(d in delivery(40)) {
        let expected = reference(&d.changes);
        let mut table = Table::default();
        let mut total = Counters::default();
        for batch in &d.batches {
            let c = table.apply(keyed(batch), NOW);
            prop_assert!(c.is_balanced(), "{}", c);
            total += c;
        }
        prop_assert_eq!(table.entries(), &expected);
        let sent: usize = d.batches.iter().map(Vec::len).sum();
        prop_assert_eq!(total.received, sent as u64);
        // Each key's state was written at least once, and at most once per
        // distinct change to it.
        prop_assert!(total.applied >= expected.len() as u64);
    }

    /// Crashes before or after a commit and replays of earlier batches
    /// converge to the same table, and the redeliveries apply nothing.
    #[test]
    fn crashes_and_replays_converge(
        d in delivery(40),
        fates in prop::collection::vec(fate(), 40),
    ) {
        let mut table = Table::default();
        for (i, batch) in d.batches.iter().enumerate() {
            match fates[i % fates.len()] {
                Fate::Normal => {
                    table.apply(keyed(batch), NOW);
                }
                Fate::CrashBeforeCommit => {
                    let before = table.entries().clone();
                    let planned = table.plan(keyed(batch));
                    drop(planned);
                    prop_assert_eq!(table.entries(), &before);
                    table.apply(keyed(batch), NOW);
                }
                Fate::CrashAfterCommit => {
                    table.apply(keyed(batch), NOW);
                    let after = table.entries().clone();
                    assert_nothing_applied(table.apply(keyed(batch), NOW))?;
                    prop_assert_eq!(table.entries(), &after);
                }
                Fate::ReplayEarlier(j) => {
                    table.apply(keyed(batch), NOW);
                    let earlier = &d.batches[j % (i + 1)];
                    assert_nothing_applied(table.apply(keyed(earlier), NOW))?;
                }
            }
        }
        prop_assert_eq!(table.entries(), &reference(&d.changes));
    }

    /// For one batch against one table, the counters and the result do not
    /// depend on the order of the batch.
    #[test]
    fn counters_do_not_depend_on_order(
        before in delivery(20),
        batch in prop::collection::vec(crate::common::change(), 0..30)
            .prop_flat_map(|b| (Just(b.clone()), Just(b).prop_shuffle())),
    ) {
        let (batch, shuffled) = batch;
        let mut a = table_after(&before.batches);
        let mut b = table_after(&before.batches);
        let ca = a.apply(keyed(&batch), NOW);
        let cb = b.apply(keyed(&shuffled), NOW);
        prop_assert_eq!(ca, cb);
        prop_assert_eq!(a.entries(), b.entries());
    }

    /// Plans name the stored rows they touch: each update and delete carries
    /// the row's real location and version, the files to rewrite are exactly
    /// those rows' files, and candidate files found by key range cover them.
    #[test]
    fn plans_point_at_the_rows_they_replace(
        before in delivery(30),
        batch in prop::collection::vec(crate::common::change(), 0..20),
    ) {
        let table = table_after(&before.batches);
        let plan = table.plan(keyed(&batch));
        let mut files = BTreeSet::new();
        for u in &plan.updates {
            prop_assert_eq!(u.location, table.location(&u.key));
            prop_assert_eq!(Some(&u.old_version), table.get(&u.key).map(State::version));
            // Equal when a greater fingerprint wins a reused version.
            prop_assert!(u.version >= u.old_version);
            files.extend(u.location.map(|l| l.file));
        }
        for d in &plan.deletes {
            prop_assert_eq!(d.location, table.location(&d.key));
            prop_assert!(table.get(&d.key).is_some_and(|s| !s.is_tombstone()));
            prop_assert!(plan.new_tombstones.iter().any(|t| t.key == d.key));
            files.extend(d.location.map(|l| l.file));
        }
        for i in &plan.inserts {
            prop_assert!(table.get(&i.key).is_none_or(State::is_tombstone));
            prop_assert_eq!(
                i.replaces_tombstone.as_ref(),
                table.get(&i.key).map(State::version)
            );
        }
        prop_assert_eq!(&plan.files_to_rewrite, &files);
        // Every list is sorted by key with no key twice, and no key is both
        // inserted, updated and deleted.
        let keys: Vec<u8> = plan.inserts.iter().map(|i| i.key)
            .chain(plan.updates.iter().map(|u| u.key))
            .chain(plan.deletes.iter().map(|d| d.key))
            .collect();
        prop_assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), keys.len());
        for list in [
            plan.inserts.iter().map(|i| i.key).collect::<Vec<_>>(),
            plan.updates.iter().map(|u| u.key).collect(),
            plan.deletes.iter().map(|d| d.key).collect(),
            plan.new_tombstones.iter().map(|t| t.key).collect(),
        ] {
            prop_assert!(list.is_sorted_by(|a, b| a < b), "{:?}", list);
        }
        let sorted_keys = dedupe(keyed(&batch)).sorted_keys();
        let candidates: BTreeSet<FileId> =
            candidate_files(&table.file_stats(), &sorted_keys).into_iter().collect();
        prop_assert!(files.is_subset(&candidates), "{:?} {:?}", files, candidates);
    }

    /// Pruning forgets exactly the expired tombstones: afterwards the table
    /// behaves as the reference of what is left, so an upsert older than a
    /// pruned tombstone resurrects its key and one older than a kept
    /// tombstone does not.
    #[test]
    fn pruning_forgets_only_expired_tombstones(
        old in delivery(20),
        recent in delivery(20),
        later in prop::collection::vec(crate::common::change(), 0..20),
    ) {
        let day = |d: i64| EventTime::from_unix_seconds(d * 86_400);
        let mut table = Table::new(TombstoneRetention::default());
        for batch in &old.batches {
            table.apply(keyed(batch), day(0));
        }
        for batch in &recent.batches {
            table.apply(keyed(batch), day(20));
        }
        let before = table.entries().clone();
        let pruned = table.prune(day(40));
        // What survives: rows, and tombstones recorded on day 20.
        let kept: Vec<_> = before
            .iter()
            .filter(|(_, s)| match s {
                State::Tombstone { recorded_at, .. } => *recorded_at == day(20),
                State::Live { .. } => true,
            })
            .collect();
        prop_assert_eq!(pruned, before.len() - kept.len());
        prop_assert_eq!(table.entries().iter().collect::<Vec<_>>(), kept);

        // Then `later` meets only what is left.
        let mut expected = table.entries().clone();
        table.apply(keyed(&later), day(40));
        for (key, state) in reference(&later) {
            let newer = expected.get(&key).is_none_or(|s| {
                (state.version(), state.is_tombstone(), fingerprint(&state))
                    > (s.version(), s.is_tombstone(), fingerprint(s))
            });
            if newer {
                let state = match state {
                    State::Tombstone { version, .. } => {
                        State::Tombstone { version, recorded_at: day(40) }
                    }
                    live => live,
                };
                expected.insert(key, state);
            }
        }
        prop_assert_eq!(table.entries(), &expected);
    }

    /// Candidate files by binary search are exactly the files whose range
    /// holds a key, by brute force.
    #[test]
    fn candidate_files_match_brute_force(
        ranges in prop::collection::vec((0_u16..500, 0_u16..60), 0..30),
        mut keys in prop::collection::vec(0_u16..600, 0..60),
    ) {
        keys.sort_unstable();
        keys.dedup();
        let files: Vec<FileStats<u16>> = (0_u64..)
            .zip(&ranges)
            .map(|(id, &(min, len))| FileStats { id: FileId(id), min, max: min + len })
            .collect();
        let expected: Vec<FileId> = files
            .iter()
            .filter(|f| keys.iter().any(|k| f.min <= *k && *k <= f.max))
            .map(|f| f.id)
            .collect();
        prop_assert_eq!(candidate_files(&files, &keys), expected);
    }
}

fn fingerprint(state: &State<u16>) -> u64 {
    match state {
        State::Live { fingerprint, .. } => *fingerprint,
        State::Tombstone { .. } => 0,
    }
}

/// The test of the laws can fail: a reference that keeps the *first* change
/// per key instead of the greatest disagrees with the engine.
#[test]
fn the_reference_comparison_catches_a_wrong_winner() {
    use caresync_core::ChangeOp;
    let older = Ch {
        key: 1,
        version: crate::common::v(1, 0),
        op: ChangeOp::Update,
        row: 1,
    };
    let newer = Ch {
        version: crate::common::v(2, 0),
        row: 2,
        ..older.clone()
    };
    let table = table_after(&[vec![newer.clone()], vec![older.clone()]]);
    assert_eq!(table.entries(), &reference(&[older.clone(), newer.clone()]));
    assert_ne!(table.entries(), &reference(&[older]));
}
