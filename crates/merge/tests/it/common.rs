//! Test changes with a readable `Debug`, generators, and the naive reference.

use std::collections::BTreeMap;

use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
use caresync_merge::{KeyedChange, State, Table};
use proptest::prelude::*;

/// The instant every generated batch is applied at (tombstones' recorded time).
pub(crate) const NOW: EventTime = EventTime::from_unix_micros(1_700_000_000_000_000);

/// A change with plain fields, so proptest prints failing cases in full
/// (`KeyedChange`'s `Debug` hides key and row on purpose). The row is its own
/// fingerprint, so two changes with equal (version, op, fingerprint) carry
/// the same row, as a real content hash guarantees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ch {
    pub(crate) key: u8,
    pub(crate) version: Version,
    pub(crate) op: ChangeOp,
    pub(crate) row: u16,
}

impl Ch {
    pub(crate) fn keyed(&self) -> KeyedChange<u8, u16> {
        KeyedChange::new(
            self.key,
            self.version.clone(),
            self.op,
            u64::from(self.row),
            self.row,
        )
    }
}

pub(crate) fn keyed(batch: &[Ch]) -> Vec<KeyedChange<u8, u16>> {
    batch.iter().map(Ch::keyed).collect()
}

/// Few keys, versions and rows, so collisions (equal versions, re-sends,
/// deletes racing upserts) are frequent. The tiebreaker mixes every kind
/// core orders, including texts whose natural order differs from bytes.
pub(crate) fn version() -> impl Strategy<Value = Version> {
    let tiebreaker = prop_oneof![
        Just(Tiebreaker::None),
        (0_u64..3).prop_map(Tiebreaker::Sequence),
        prop::sample::select(vec!["MSG9", "MSG10", "a"]).prop_map(Tiebreaker::from_text),
    ];
    (0_i64..3, tiebreaker).prop_map(|(t, tb)| Version::new(EventTime::from_unix_micros(t), tb))
}

pub(crate) fn change() -> impl Strategy<Value = Ch> {
    let op = prop_oneof![
        2 => Just(ChangeOp::Insert),
        3 => Just(ChangeOp::Update),
        2 => Just(ChangeOp::Delete),
    ];
    (0_u8..6, version(), op, 0_u16..3).prop_map(|(key, version, op, row)| Ch {
        key,
        version,
        op,
        row,
    })
}

/// A set of changes, and the same changes delivered as a feed would: shuffled,
/// some sent again, cut into batches.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) changes: Vec<Ch>,
    pub(crate) batches: Vec<Vec<Ch>>,
}

pub(crate) fn delivery(max_changes: usize) -> impl Strategy<Value = Delivery> {
    prop::collection::vec(change(), 0..max_changes)
        .prop_flat_map(|changes| {
            let n = changes.len();
            let resends = prop::collection::vec(0..n.max(1), 0..(n / 2 + 1));
            (Just(changes), resends)
        })
        .prop_flat_map(|(changes, resends)| {
            let mut sent = changes.clone();
            if !changes.is_empty() {
                sent.extend(resends.iter().map(|&i| changes[i].clone()));
            }
            let cuts = prop::collection::vec(any::<bool>(), sent.len());
            (Just(changes), Just(sent).prop_shuffle(), cuts)
        })
        .prop_map(|(changes, sent, cuts)| {
            let mut batches = vec![Vec::new()];
            for (change, cut) in sent.into_iter().zip(cuts) {
                if cut {
                    batches.push(Vec::new());
                }
                batches.last_mut().expect("one batch at least").push(change);
            }
            Delivery { changes, batches }
        })
}

/// The naive reference: sort every change ascending in the engine's order,
/// then apply them one by one, each overwriting its key. The last write per
/// key is the greatest change. A delete leaves a tombstone recorded at
/// [`NOW`].
///
/// Written from the documented order, not from the crate's code:
/// version, then delete over upsert, then the greater row (a delete's row
/// does not count).
pub(crate) fn reference(changes: &[Ch]) -> BTreeMap<u8, State<u16>> {
    let rank = |c: &Ch| {
        let delete = c.op == ChangeOp::Delete;
        (c.version.clone(), delete, if delete { 0 } else { c.row })
    };
    let mut sorted = changes.to_vec();
    sorted.sort_by_key(rank);
    let mut table = BTreeMap::new();
    for c in sorted {
        let state = if c.op == ChangeOp::Delete {
            State::Tombstone {
                version: c.version,
                recorded_at: NOW,
            }
        } else {
            State::Live {
                version: c.version,
                fingerprint: u64::from(c.row),
                row: c.row,
            }
        };
        table.insert(c.key, state);
    }
    table
}

/// A table after applying `batches` in order at [`NOW`].
pub(crate) fn table_after(batches: &[Vec<Ch>]) -> Table<u8, u16> {
    let mut table = Table::default();
    for batch in batches {
        table.apply(keyed(batch), NOW);
    }
    table
}

/// A version at `secs` with a sequence tiebreaker.
pub(crate) fn v(secs: i64, seq: u64) -> Version {
    Version::new(
        EventTime::from_unix_seconds(secs),
        Tiebreaker::Sequence(seq),
    )
}
