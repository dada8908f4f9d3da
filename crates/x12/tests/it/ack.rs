//! (filled in by the module's tests)
