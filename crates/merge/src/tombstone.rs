//! How long tombstones are kept.

use std::time::Duration;

use caresync_core::EventTime;

/// How long a tombstone is kept after it was recorded.
///
/// A tombstone is what refuses an upsert older than a delete. Once it is
/// pruned, the engine no longer knows the key was deleted, so an upsert older
/// than that delete arriving afterwards is taken as new and **resurrects the
/// key**. The retention must therefore exceed the longest delay after which a
/// source may still deliver (or replay) an older change.
///
/// Age is measured on the tombstone's *recorded* time (when the engine wrote
/// it, given by the caller as `now`), not on the delete's event time, so a
/// backfill of old deletes is protected for the full retention as well. A
/// tombstone recorded at `t` is kept while `now - t <= retention`, and may be
/// pruned from the first instant after. Default: 30 days.
///
/// ```
/// use std::time::Duration;
/// use caresync_core::EventTime;
/// use caresync_merge::TombstoneRetention;
///
/// let retention = TombstoneRetention::default();
/// assert_eq!(retention.period(), Duration::from_secs(30 * 24 * 3600));
/// let day = |d: i64| EventTime::from_unix_seconds(d * 24 * 3600);
/// assert!(!retention.is_expired(day(0), day(30)));
/// assert!(retention.is_expired(day(0), day(31)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TombstoneRetention {
    period: Duration,
}

impl TombstoneRetention {
    /// The default retention: 30 days.
    pub const DEFAULT: TombstoneRetention =
        TombstoneRetention::new(Duration::from_secs(30 * 24 * 3600));

    /// A retention of `period`.
    pub const fn new(period: Duration) -> Self {
        TombstoneRetention { period }
    }

    /// How long tombstones are kept.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The earliest recorded time still kept at `now`: tombstones recorded
    /// before it may be pruned (for a store: `DELETE ... WHERE recorded_at <
    /// cutoff`). Saturates at the ends of the time range.
    pub fn cutoff(&self, now: EventTime) -> EventTime {
        let micros = i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX);
        EventTime::from_unix_micros(now.as_unix_micros().saturating_sub(micros))
    }

    /// True when a tombstone recorded at `recorded_at` may be pruned at `now`.
    pub fn is_expired(&self, recorded_at: EventTime, now: EventTime) -> bool {
        recorded_at < self.cutoff(now)
    }
}

impl Default for TombstoneRetention {
    fn default() -> Self {
        TombstoneRetention::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_kept() {
        let r = TombstoneRetention::new(Duration::from_micros(10));
        let t = EventTime::from_unix_micros;
        assert_eq!(r.cutoff(t(100)), t(90));
        assert!(!r.is_expired(t(90), t(100)));
        assert!(r.is_expired(t(89), t(100)));
        // A tombstone recorded after `now` (clock skew) is kept.
        assert!(!r.is_expired(t(200), t(100)));
    }

    #[test]
    fn huge_retentions_saturate() {
        let forever = TombstoneRetention::new(Duration::MAX);
        let t = EventTime::from_unix_micros;
        assert_eq!(forever.cutoff(t(i64::MIN + 5)), EventTime::MIN);
        assert!(!forever.is_expired(t(0), t(i64::MAX)));
        assert!(!forever.is_expired(EventTime::MIN, t(-1)));
    }
}
