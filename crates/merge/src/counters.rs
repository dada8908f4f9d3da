//! What happened to the changes of a batch.

use std::fmt;
use std::ops::AddAssign;

/// One label per received change, so
/// `received == applied + superseded + duplicate + late`.
///
/// - `superseded`: beaten inside its batch by a greater change for the same key;
/// - `duplicate`: identical (key, version, kind, fingerprint) to the batch's
///   winner for its key or to the stored state: a re-send;
/// - `late`: its batch's winner for the key, but not greater than the stored
///   state (an older change arriving late, or a losing tie at equal version);
/// - `applied`: changed the state of its key (an insert, an update, a delete
///   or a tombstone for a key never seen).
///
/// For one batch against one stored state the counts do not depend on the
/// order of the changes in the batch: copies of a change that is later beaten
/// count as `superseded`, copies of the winner as `duplicate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Changes given to the engine.
    pub received: u64,
    /// Changes that changed the state of their key.
    pub applied: u64,
    /// Changes beaten by a greater change for the same key in the same batch.
    pub superseded: u64,
    /// Re-sends of the batch winner or of the stored state.
    pub duplicate: u64,
    /// Batch winners not greater than the stored state.
    pub late: u64,
}

impl Counters {
    /// True when every received change has exactly one label.
    pub fn is_balanced(&self) -> bool {
        self.applied + self.superseded + self.duplicate + self.late == self.received
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        self.received += other.received;
        self.applied += other.applied;
        self.superseded += other.superseded;
        self.duplicate += other.duplicate;
        self.late += other.late;
    }
}

/// `received 5, applied 2, superseded 1, duplicate 1, late 1`, for logs.
impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, applied {}, superseded {}, duplicate {}, late {}",
            self.received, self.applied, self.superseded, self.duplicate, self.late
        )
    }
}
