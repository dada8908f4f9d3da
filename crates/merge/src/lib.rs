//! The pure planning logic of caresync's idempotent merge engine.
//!
//! Feeds deliver changes late, twice, out of order and in any batching; the
//! table they are merged into must end up the same whatever happened. This
//! crate decides, without any I/O, what a batch of changes does to a table:
//! [`dedupe`] reduces the batch to one winner per key, [`plan`] meets the
//! winners with the stored state of their keys and says which rows are
//! inserted, updated or deleted, which tombstones are recorded and which data
//! files must be rewritten, and [`candidate_files`] narrows the files to read
//! by their key statistics. The lake layer applies the plan to Delta Lake;
//! [`Table`] applies it to an in-memory map and is the reference model.
//!
//! ```
//! use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
//! use caresync_merge::{KeyedChange, Table};
//!
//! // HL7 v2 ADT updates for one patient: version = (MSH-7, MSH-10).
//! let v = |secs, control_id| {
//!     Version::new(EventTime::from_unix_seconds(secs), Tiebreaker::from_text(control_id))
//! };
//! let a08 = |version, name: &'static str| {
//!     KeyedChange::new("pat-0001", version, ChangeOp::Update, name.len() as u64, name)
//! };
//! let now = EventTime::from_unix_seconds(1_700_100_000);
//! let mut table = Table::default();
//!
//! let first = table.apply(
//!     [
//!         a08(v(1_700_000_100, "MSG10"), "DOE^JANE^B"),
//!         a08(v(1_700_000_100, "MSG10"), "DOE^JANE^B"), // re-sent by the interface engine
//!     ],
//!     now,
//! );
//! assert_eq!((first.applied, first.duplicate), (1, 1));
//!
//! // MSG9 was sent before MSG10 but arrives after it: it changes nothing.
//! let second = table.apply([a08(v(1_700_000_000, "MSG9"), "DOE^JANE")], now);
//! assert_eq!(second.late, 1);
//! assert_eq!(table.get(&"pat-0001").and_then(|s| s.row()), Some(&"DOE^JANE^B"));
//! ```
//!
//! # The algebra
//!
//! A change is `(key, version, op, row)` ([`KeyedChange`]), with a
//! caller-supplied `fingerprint` of the row's content. Insert and update are
//! both *upserts*; a delete leaves a *tombstone*. The *state* of a key is an
//! upsert's `(version, row)` or a tombstone's `version`, and states are
//! totally ordered by
//!
//! ```text
//! stamp(state) = (version, kind, fingerprint)    compared left to right
//!   version      core's Version order: event time, then tiebreaker
//!   kind         upsert < delete        (at equal versions a delete wins)
//!   fingerprint  greater wins           (a delete's is taken as 0)
//! ```
//!
//! The merged state of a key is the **maximum** of its stored state and every
//! change to it ever applied: `state(k) = max(stored(k), c₁, c₂, …)`. `max`
//! over a total order is associative, commutative and idempotent, so:
//!
//! - **any permutation** of the changes gives the same table;
//! - **any duplicate** (a re-send, a replayed batch) changes nothing;
//! - **any batch split** gives the same table as one batch;
//! - a batch **planned but not applied** (a crash before commit) and then
//!   applied gives the same table as no crash; a batch applied twice (a crash
//!   after commit, before the source position was recorded) as well.
//!
//! Equal stamps are interchangeable states, so which copy is kept never
//! matters. Two different rows with the same version (a source reusing a
//! version) are resolved by the fingerprint, the same way in every order.
//!
//! Each received change gets exactly one label ([`Counters`]):
//! `superseded` (beaten in its batch), `duplicate` (equal to its batch's
//! winner or to the stored state), `late` (its batch's winner, but less than
//! the stored state) or `applied`.
//!
//! ## Tombstones and their retention
//!
//! A delete is kept as a tombstone with its version, even for a key never
//! seen, so that an older upsert arriving later is refused (`late`) instead
//! of resurrecting the record. Tombstones are kept for a
//! [`TombstoneRetention`] (default 30 days, measured on the time the tombstone
//! was recorded) and then may be pruned ([`Table::prune`]). Pruning is the one
//! place the algebra gives way: it forgets an element of the maximum, so **an
//! upsert older than a pruned tombstone resurrects its key**. The retention
//! must exceed the longest delay after which a source may still deliver or
//! replay a change.
//!
//! # What the caller provides
//!
//! [`plan`] reads the stored state through a closure `FnMut(&K) -> Option<Stored>`
//! reporting, per key, the greater of its live row and its tombstone, and the
//! row's [`RowLocation`] (file and row index) so updates and deletes can name
//! the rows to rewrite and the change feed's pre-images. A store that keeps
//! tombstones apart from rows (a sidecar table) should commit a plan's rows
//! before its tombstones: a crash between the two then leaves a state that
//! is less than or equal to the planned one (a deleted row without its
//! tombstone), which the replay completes, provided the batch is marked done
//! (the Delta `txn`) only by the last of the two commits. The other order
//! could leave a tombstone hiding a row it should have removed. Keys are any
//! `K: Hash + Eq + Ord + Clone`: the lake uses compact keys, not a
//! [`caresync_core::RecordKey`] per row. Rows that lack a key or a version
//! are refused before planning by the [`validate`] helpers, with
//! [`MergeError`]s naming the row and column ([`codes`]: `MERGE-0001`..).
//!
//! **Invariant:** this crate does no I/O, runs no async runtime and knows
//! nothing of Arrow, Delta Lake or PostgreSQL; it depends on `caresync-core`,
//! `thiserror`, and `hashbrown` with `foldhash` for dedupe's hash table only.
//! Its `Debug` output and errors never show keys, rows
//! or fingerprints.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod change;
mod counters;
mod dedupe;
mod error;
mod files;
mod plan;
mod table;
mod tombstone;
pub mod validate;

pub use change::KeyedChange;
pub use counters::Counters;
pub use dedupe::{Deduped, Deduper, dedupe};
pub use error::{MergeError, codes};
pub use files::{FileStats, candidate_files, candidate_key_ranges};
pub use plan::{Delete, FileId, Insert, NewTombstone, Plan, RowLocation, Stored, Update, plan};
pub use table::{State, Table};
pub use tombstone::TombstoneRetention;
