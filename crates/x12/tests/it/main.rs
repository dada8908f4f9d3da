//! Integration tests of caresync-x12 (one binary, modules by topic).

mod ack;
mod claims;
mod corpus;
mod envelope;
mod flatten;
mod generated;
mod remits;
