//! Ordering and parsing of versions: the merge engine compares versions for
//! every change it sees.

use std::hint::black_box;

use caresync_core::{EventTime, Tiebreaker, Version};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn versions(n: usize) -> Vec<Version> {
    (0..n)
        .map(|i| {
            let t = EventTime::from_unix_seconds(1_700_000_000 + (i as i64 * 7919) % 3_600);
            let tb = if i % 2 == 0 {
                Tiebreaker::Sequence(i as u64)
            } else {
                Tiebreaker::Text(format!("MSG{:06}", (i * 31) % 100_000).into())
            };
            Version::new(t, tb)
        })
        .collect()
}

fn sort(c: &mut Criterion) {
    let input = versions(100_000);
    let mut group = c.benchmark_group("version");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("sort_100k", |b| {
        b.iter_batched(
            || input.clone(),
            |mut v| {
                v.sort_unstable();
                v
            },
            criterion::BatchSize::LargeInput,
        )
    });
    let text: Vec<String> = input.iter().map(ToString::to_string).collect();
    group.bench_function("parse_100k", |b| {
        b.iter(|| {
            text.iter()
                .filter_map(|s| black_box(s).parse::<Version>().ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, sort);
criterion_main!(benches);
