//! In-memory dedupe of a batch of changes by the merge engine
//! (`caresync_merge::dedupe`): 1,000,000 changes over 800,000 keys, so one
//! change in five meets an earlier one for its key (re-sends, older and
//! newer versions), with `u64` keys as the lake's compact keys are.
//! Throughput in changes.

use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
use caresync_merge::{KeyedChange, dedupe};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const CHANGES: u64 = 1_000_000;
const KEYS: u64 = 800_000;

fn batch() -> Vec<KeyedChange<u64, u32>> {
    (0..CHANGES)
        .map(|i| {
            // Keys visited in a scrambled order (a multiplicative
            // permutation), versions up and down.
            let key = (i.wrapping_mul(2_654_435_761) % KEYS) ^ 0x5bd1;
            let micros = 1_700_000_000_000_000 + ((i * 7_919) % 1_000) as i64;
            let version = Version::new(
                EventTime::from_unix_micros(micros),
                Tiebreaker::Sequence(i % 3),
            );
            let op = if i % 50 == 0 {
                ChangeOp::Delete
            } else {
                ChangeOp::Update
            };
            KeyedChange::new(key, version, op, i % 7, i as u32)
        })
        .collect()
}

fn dedupe_bench(c: &mut Criterion) {
    let changes = batch();
    let winners = dedupe(changes.clone()).winners().len();
    assert!(winners as u64 <= KEYS && winners as u64 > KEYS / 2);

    let mut group = c.benchmark_group("merge_dedupe");
    group.sample_size(20);
    group.throughput(Throughput::Elements(CHANGES));
    group.bench_function("1m_changes_800k_keys", |b| {
        b.iter_batched(
            || changes.clone(),
            |batch| dedupe(batch).winners().len(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, dedupe_bench);
criterion_main!(benches);
