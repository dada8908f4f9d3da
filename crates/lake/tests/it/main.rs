//! Integration tests for `caresync-lake`: real Delta tables in temporary directories.

mod appender;
mod bad_input;
mod cdf;
mod common;
mod idempotent;
mod merge;
mod roundtrip;
mod s3;
mod time_travel;
