//! Record keys: which record a change is about.

use std::fmt;

/// One component of a [`RecordKey`].
///
/// Integer parts compare as integers; text parts as bytes. A key mixing the
/// two kinds in one position is legal but unusual (integers sort first).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPart {
    /// An integer column of a primary key.
    Int(i64),
    /// A text identifier: FHIR logical id, claim id, MRN, a text primary key.
    Text(Box<str>),
}

impl From<i64> for KeyPart {
    fn from(v: i64) -> Self {
        KeyPart::Int(v)
    }
}

impl From<&str> for KeyPart {
    fn from(v: &str) -> Self {
        KeyPart::Text(v.into())
    }
}

impl From<String> for KeyPart {
    fn from(v: String) -> Self {
        KeyPart::Text(v.into_boxed_str())
    }
}

/// `Debug` never shows the value: identifiers such as MRNs are PHI.
impl fmt::Debug for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPart::Int(_) => f.write_str("Int(<redacted>)"),
            KeyPart::Text(t) => write!(f, "Text(<redacted, {} bytes>)", t.len()),
        }
    }
}

/// The identity of a record: the entity it belongs to and its key parts.
///
/// The entity is a resource type (`Patient`), a silver table (`claim`) or a
/// source table (`public.notes`). The parts are its primary key, in order: a
/// FHIR logical id, or submitter + CLM01 + interchange control number for a
/// claim.
///
/// `Debug` prints the entity and the number of parts but never their values,
/// so a key can be logged and can appear in an error without leaking an
/// identifier that may be PHI (an MRN). Read values with [`RecordKey::parts`].
///
/// ```
/// use caresync_core::{KeyPart, RecordKey};
///
/// let key = RecordKey::new("claim", ["SUBMITTER1", "CLM-778", "000000905"]);
/// assert_eq!(key.entity(), "claim");
/// assert_eq!(key.parts()[1], KeyPart::from("CLM-778"));
/// assert_eq!(format!("{key:?}"), "RecordKey { entity: \"claim\", parts: <3 redacted> }");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    entity: Box<str>,
    parts: Box<[KeyPart]>,
}

impl RecordKey {
    /// A key for `entity` made of `parts`, in primary-key order.
    pub fn new<P: Into<KeyPart>>(entity: &str, parts: impl IntoIterator<Item = P>) -> Self {
        RecordKey {
            entity: entity.into(),
            parts: parts.into_iter().map(Into::into).collect(),
        }
    }

    /// The entity (resource type or table) the record belongs to.
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// The key parts in primary-key order.
    pub fn parts(&self) -> &[KeyPart] {
        &self.parts
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RecordKey {{ entity: {:?}, parts: <{} redacted> }}",
            self.entity,
            self.parts.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_equal_by_entity_and_parts() {
        let a = RecordKey::new("Patient", ["p1"]);
        assert_eq!(a, RecordKey::new("Patient", ["p1"]));
        assert_ne!(a, RecordKey::new("Encounter", ["p1"]));
        assert_ne!(a, RecordKey::new("Patient", ["p2"]));
        assert_ne!(
            RecordKey::new("t", [KeyPart::Int(1)]),
            RecordKey::new("t", ["1"])
        );
    }

    #[test]
    fn debug_output_hides_identifiers() {
        let key = RecordKey::new("Patient", [KeyPart::from("MRN-000123"), KeyPart::Int(77)]);
        let shown = format!("{key:?} {:?}", key.parts());
        assert!(!shown.contains("000123"), "{shown}");
        assert!(!shown.contains("77"), "{shown}");
        assert!(shown.contains("Patient"));
    }
}
