//! Integration tests of caresync-fhir.
mod flatten;
mod read;
mod v2;
