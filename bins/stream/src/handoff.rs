//! The bronze writer's hand-off of committed batches to the silver stage.
//!
//! The queue between them is bounded by the bytes it holds, not by a count
//! of batches: a batch's size follows its messages (a few KiB for an ADT,
//! far more for a result with embedded documents), and the bound is on
//! memory. A batch that does not fit is not queued; the silver stage reads
//! it back from the bronze table when it gets there, so a burst bronze
//! takes faster than silver costs a re-read only beyond the bound.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::bronze::BronzeBatch;

/// What a queued row holds besides its payload (source, ids, content hash
/// and the row's own fields), counted against the bound.
const ROW_OVERHEAD: usize = 160;

/// The unit of the bound (a semaphore permit).
const UNIT: usize = 1024;

/// The writer's end: queues committed batches while they fit.
#[derive(Debug)]
pub(crate) struct Handoff {
    tx: mpsc::UnboundedSender<Queued>,
    room: Arc<Semaphore>,
}

/// A queued batch, holding its share of the bound until dropped.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) batch: BronzeBatch,
    pub(crate) held: OwnedSemaphorePermit,
}

/// What became of an offered batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    Queued,
    /// The queue holds too much already.
    Full,
    /// The silver stage stopped.
    Closed,
}

impl Handoff {
    /// A hand-off holding up to `bytes` of batches, and its receiving end.
    pub(crate) fn bounded(bytes: usize) -> (Handoff, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let units = (bytes / UNIT).min(Semaphore::MAX_PERMITS);
        let room = Arc::new(Semaphore::new(units));
        (Handoff { tx, room }, rx)
    }

    /// Queues `batch` if it fits in what the queue has room for.
    pub(crate) fn offer(&self, batch: BronzeBatch) -> Offered {
        if self.tx.is_closed() {
            return Offered::Closed;
        }
        let units = u32::try_from(size(&batch).div_ceil(UNIT)).unwrap_or(u32::MAX);
        let Ok(held) = self.room.clone().try_acquire_many_owned(units) else {
            return Offered::Full;
        };
        match self.tx.send(Queued { batch, held }) {
            Ok(()) => Offered::Queued,
            Err(_) => Offered::Closed,
        }
    }
}

/// The bytes `batch` holds, as counted against the bound.
fn size(batch: &BronzeBatch) -> usize {
    batch
        .rows
        .iter()
        .map(|r| r.payload.len() + ROW_OVERHEAD)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::BronzeRow;
    use crate::ingest::Format;

    fn batch(seq: i64, rows: usize, bytes: usize) -> BronzeBatch {
        BronzeBatch {
            seq,
            rows: (0..rows)
                .map(|i| BronzeRow {
                    row: u32::try_from(i).expect("small"),
                    source: Arc::from("test"),
                    format: Format::Hl7v2,
                    received_at: 0,
                    message_id: None,
                    content_sha256: String::new(),
                    payload: vec![b'x'; bytes],
                })
                .collect(),
        }
    }

    #[test]
    fn batches_are_queued_while_their_bytes_fit_and_free_room_when_dropped() {
        let (handoff, mut rx) = Handoff::bounded(64 * 1024);
        // 10 rows of ~3 KiB: ~31 KiB each, so two fit and the third does not.
        assert_eq!(handoff.offer(batch(1, 10, 3000)), Offered::Queued);
        assert_eq!(handoff.offer(batch(2, 10, 3000)), Offered::Queued);
        assert_eq!(handoff.offer(batch(3, 10, 3000)), Offered::Full);
        // A small batch still fits beside them.
        assert_eq!(handoff.offer(batch(4, 1, 100)), Offered::Queued);

        let first = rx.try_recv().expect("batch 1");
        assert_eq!(first.batch.seq, 1);
        assert_eq!(handoff.offer(batch(5, 10, 3000)), Offered::Full);
        drop(first);
        assert_eq!(handoff.offer(batch(5, 10, 3000)), Offered::Queued);
        let seqs: Vec<i64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|q| q.batch.seq)
            .collect();
        assert_eq!(seqs, [2, 4, 5], "queued batches keep their order");
    }

    #[test]
    fn a_batch_larger_than_the_bound_is_never_queued() {
        let (handoff, _rx) = Handoff::bounded(16 * 1024);
        assert_eq!(handoff.offer(batch(1, 1, 20_000)), Offered::Full);
    }

    #[test]
    fn a_bound_of_zero_queues_no_batch() {
        let (handoff, _rx) = Handoff::bounded(0);
        assert_eq!(handoff.offer(batch(1, 1, 1)), Offered::Full);
    }

    #[test]
    fn a_stopped_stage_closes_the_handoff() {
        let (handoff, rx) = Handoff::bounded(1 << 20);
        drop(rx);
        assert_eq!(handoff.offer(batch(1, 1, 10)), Offered::Closed);
    }
}
