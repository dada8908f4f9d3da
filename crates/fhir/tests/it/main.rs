//! Integration tests of caresync-fhir.
mod flatten;
mod mutations;
mod read;
mod v2;
