//! Integration tests of caresync-testkit against real PostgreSQL binaries.

mod generate;
mod pg;
