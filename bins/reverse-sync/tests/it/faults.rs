//! Crashes, lost slots and bad tables.
