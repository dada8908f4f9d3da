//! Compatibility between contract versions, in the modes schema registries
//! use.
//!
//! - **Backward**: readers of the new version can read rows written under
//!   the old one. A new field must be optional; a field may be dropped; a
//!   type may only widen (old → new); an optional field may not become
//!   required.
//! - **Forward**: readers of the old version can read rows written under
//!   the new one. A required field may not be dropped; a type may only
//!   narrow (new widens to old); a required field may not become optional.
//! - **Full**: both.
//! - The **transitive** modes check against every earlier version, the
//!   others against the latest only.
//!
//! In every mode a change of primary key breaks: rows are no longer the
//! same rows.

use std::fmt;

use crate::model::{Contract, FieldType};

/// A compatibility mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// No check.
    None,
    /// New readers read the latest old rows.
    Backward,
    /// New readers read every old version's rows.
    BackwardTransitive,
    /// Latest old readers read new rows.
    Forward,
    /// Every old version's readers read new rows.
    ForwardTransitive,
    /// Backward and forward against the latest.
    Full,
    /// Backward and forward against every earlier version.
    FullTransitive,
}

impl Mode {
    fn backward(self) -> bool {
        matches!(
            self,
            Mode::Backward | Mode::BackwardTransitive | Mode::Full | Mode::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Mode::Forward | Mode::ForwardTransitive | Mode::Full | Mode::FullTransitive
        )
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive
        )
    }
}

impl std::str::FromStr for Mode {
    type Err = ();

    /// `BACKWARD`, `FORWARD_TRANSITIVE`, ... (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => Mode::None,
            "BACKWARD" => Mode::Backward,
            "BACKWARD_TRANSITIVE" => Mode::BackwardTransitive,
            "FORWARD" => Mode::Forward,
            "FORWARD_TRANSITIVE" => Mode::ForwardTransitive,
            "FULL" => Mode::Full,
            "FULL_TRANSITIVE" => Mode::FullTransitive,
            _ => return Err(()),
        })
    }
}

/// What breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A new required field: old rows lack it (backward).
    AddedRequired,
    /// A required field dropped: old readers need it (forward).
    RemovedRequired,
    /// A type that does not widen the way the mode needs.
    TypeChanged {
        /// The old version's type.
        from: FieldType,
        /// The new version's type.
        to: FieldType,
    },
    /// An optional field made required: old rows may lack it (backward).
    BecameRequired,
    /// A required field made optional: old readers need it (forward).
    BecameOptional,
    /// The primary key's fields changed.
    KeyChanged,
    /// A field's code system was added or changed: rows the other side
    /// wrote may not belong to it.
    CodeSystemChanged,
}

/// One breaking change, against one earlier version.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakingChange {
    /// The earlier version it breaks against.
    pub against: semver::Version,
    /// The field (the key's fields, comma-separated, for a key change).
    pub field: String,
    /// What breaks.
    pub change: Change,
}

impl fmt::Display for BreakingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.change {
            Change::AddedRequired => "is new and required".to_owned(),
            Change::RemovedRequired => "was required and is gone".to_owned(),
            Change::TypeChanged { from, to } => format!("changed type from {from} to {to}"),
            Change::BecameRequired => "became required".to_owned(),
            Change::BecameOptional => "became optional".to_owned(),
            Change::KeyChanged => "is the new primary key".to_owned(),
            Change::CodeSystemChanged => "changed code system".to_owned(),
        };
        write!(f, "field {} {what} (against {})", self.field, self.against)
    }
}

/// The breaking changes of `candidate` against `history` (earlier versions,
/// oldest first) in `mode`; empty when compatible.
pub fn check(history: &[Contract], candidate: &Contract, mode: Mode) -> Vec<BreakingChange> {
    if mode == Mode::None {
        return Vec::new();
    }
    let against: &[Contract] = if mode.transitive() {
        history
    } else {
        history.last().map(std::slice::from_ref).unwrap_or_default()
    };
    let mut breaks = Vec::new();
    for old in against {
        let mut push = |field: &str, change: Change| {
            breaks.push(BreakingChange {
                against: old.version.clone(),
                field: field.to_owned(),
                change,
            });
        };
        if old.primary_key() != candidate.primary_key() {
            push(&candidate.primary_key().join(","), Change::KeyChanged);
        }
        for new in &candidate.fields {
            match old.field(&new.name) {
                None if mode.backward() && new.required => push(&new.name, Change::AddedRequired),
                None => {}
                Some(was) => {
                    let widens = |a: FieldType, b: FieldType| a.widens_to(b);
                    let type_ok = (!mode.backward() || widens(was.field_type, new.field_type))
                        && (!mode.forward() || widens(new.field_type, was.field_type));
                    if !type_ok {
                        push(
                            &new.name,
                            Change::TypeChanged {
                                from: was.field_type,
                                to: new.field_type,
                            },
                        );
                    }
                    // New readers expect the new system (backward); old
                    // readers expect the old one (forward). Dropping a
                    // system loosens for the side that no longer checks.
                    let system_breaks = was.code_system != new.code_system
                        && ((mode.backward() && new.code_system.is_some())
                            || (mode.forward() && was.code_system.is_some()));
                    if system_breaks {
                        push(&new.name, Change::CodeSystemChanged);
                    }
                    if mode.backward() && new.required && !was.required {
                        push(&new.name, Change::BecameRequired);
                    }
                    if mode.forward() && was.required && !new.required {
                        push(&new.name, Change::BecameOptional);
                    }
                }
            }
        }
        if mode.forward() {
            for was in &old.fields {
                if was.required && candidate.field(&was.name).is_none() {
                    push(&was.name, Change::RemovedRequired);
                }
            }
        }
    }
    breaks
}

/// Every version of every entity checked against the versions before it
/// (in version order): what a registry gate runs. Returns, per entity and
/// version, its breaking changes; only versions that break are listed.
pub fn check_all(
    contracts: &[Contract],
    mode: Mode,
) -> Vec<(String, semver::Version, Vec<BreakingChange>)> {
    let mut entities: Vec<&str> = contracts.iter().map(|c| c.entity.as_str()).collect();
    entities.sort_unstable();
    entities.dedup();
    let mut out = Vec::new();
    for entity in entities {
        let mut versions: Vec<Contract> = contracts
            .iter()
            .filter(|c| c.entity == entity)
            .cloned()
            .collect();
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        for i in 1..versions.len() {
            let breaks = check(&versions[..i], &versions[i], mode);
            if !breaks.is_empty() {
                out.push((entity.to_owned(), versions[i].version.clone(), breaks));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, Phi};

    fn contract(version: &str, fields: &[(&str, FieldType, bool, bool)]) -> Contract {
        Contract {
            entity: "encounter".to_owned(),
            version: semver::Version::parse(version).expect("version"),
            fields: fields
                .iter()
                .map(|&(name, field_type, required, primary_key)| Field {
                    name: name.to_owned(),
                    field_type,
                    required,
                    primary_key,
                    phi: Phi::None,
                    code_system: None,
                })
                .collect(),
        }
    }

    use FieldType::{Int32, Int64, String as Text};

    fn base() -> Contract {
        contract(
            "1.0.0",
            &[
                ("id", Text, true, true),
                ("mrn", Text, true, false),
                ("ward", Text, false, false),
                ("beds", Int32, false, false),
            ],
        )
    }

    /// `base` at 1.1.0, edited.
    fn edited(edit: impl FnOnce(&mut Vec<Field>)) -> Contract {
        let mut next = base();
        next.version = semver::Version::new(1, 1, 0);
        edit(&mut next.fields);
        next
    }

    fn field(name: &str, field_type: FieldType, required: bool) -> Field {
        Field {
            name: name.to_owned(),
            field_type,
            required,
            primary_key: false,
            phi: Phi::None,
            code_system: None,
        }
    }

    /// Each change, and whether each mode allows it: (backward, forward).
    #[test]
    fn each_change_against_each_mode() {
        type Edit = fn(&mut Vec<Field>);
        let cases: [(&str, Edit, bool, bool); 8] = [
            (
                "add an optional field",
                |f| f.push(field("payer", Text, false)),
                true,
                true,
            ),
            (
                "add a required field",
                |f| f.push(field("payer", Text, true)),
                false,
                true,
            ),
            (
                "drop an optional field",
                |f| f.retain(|x| x.name != "ward"),
                true,
                true,
            ),
            (
                "drop a required field",
                |f| f.retain(|x| x.name != "mrn"),
                true,
                false,
            ),
            ("widen a type", |f| f[3].field_type = Int64, true, false),
            (
                "make an optional field required",
                |f| f[2].required = true,
                false,
                true,
            ),
            (
                "make a required field optional",
                |f| f[1].required = false,
                true,
                false,
            ),
            (
                "change the key",
                |f| {
                    f[0].primary_key = false;
                    f[1].primary_key = true;
                },
                false,
                false,
            ),
        ];
        for (what, edit, backward, forward) in cases {
            let history = [base()];
            let next = edited(edit);
            let ok = |mode| check(&history, &next, mode).is_empty();
            assert_eq!(ok(Mode::Backward), backward, "{what}: backward");
            assert_eq!(ok(Mode::Forward), forward, "{what}: forward");
            assert_eq!(ok(Mode::Full), backward && forward, "{what}: full");
            assert!(ok(Mode::None), "{what}: none");
        }
    }

    #[test]
    fn transitive_modes_check_every_earlier_version() {
        // 1.1.0 drops `ward`; 1.2.0 adds it back as an int32. Against
        // 1.1.0 that is a new optional field; against 1.0.0, where `ward`
        // was text, it is a type change.
        let v1 = base();
        let v2 = contract(
            "1.1.0",
            &[
                ("id", Text, true, true),
                ("mrn", Text, true, false),
                ("beds", Int32, false, false),
            ],
        );
        let v3 = contract(
            "1.2.0",
            &[
                ("id", Text, true, true),
                ("mrn", Text, true, false),
                ("beds", Int32, false, false),
                ("ward", Int32, false, false),
            ],
        );
        let history = [v1, v2];
        assert!(check(&history, &v3, Mode::Backward).is_empty());
        let breaks = check(&history, &v3, Mode::BackwardTransitive);
        assert_eq!(breaks.len(), 1);
        assert_eq!(
            breaks[0].to_string(),
            "field ward changed type from string to int32 (against 1.0.0)"
        );
        assert_eq!(check(&history, &v3, Mode::FullTransitive).len(), 1);
    }

    #[test]
    fn a_registry_is_checked_version_by_version_in_version_order() {
        let v1 = base();
        let mut v3 = base();
        v3.version = semver::Version::new(1, 10, 0);
        let mut v2 = contract(
            "1.2.0",
            &[
                ("id", Text, true, true),
                ("mrn", Text, true, false),
                ("ward", Text, false, false),
                ("beds", Int32, false, false),
                ("payer", Text, true, false),
            ],
        );
        v2.entity = "encounter".to_owned();
        // Given out of order; 1.2.0 adds a required field (breaks
        // backward), 1.10.0 drops it again (fine backward).
        let found = check_all(&[v3, v2, v1], Mode::Backward);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "encounter");
        assert_eq!(found[0].1, semver::Version::new(1, 2, 0));
    }

    #[test]
    fn a_code_system_added_breaks_backward_and_dropped_breaks_forward() {
        let plain = base();
        let mut coded = base();
        coded.version = semver::Version::new(1, 1, 0);
        coded.fields[1].code_system = Some(crate::CodeSystem::Npi);
        assert_eq!(
            check(std::slice::from_ref(&plain), &coded, Mode::Backward).len(),
            1
        );
        assert!(check(std::slice::from_ref(&plain), &coded, Mode::Forward).is_empty());
        let mut plain_again = plain;
        plain_again.version = semver::Version::new(1, 2, 0);
        assert!(check(&[coded.clone()], &plain_again, Mode::Backward).is_empty());
        assert_eq!(
            check(&[coded], &plain_again, Mode::Forward)[0].change,
            Change::CodeSystemChanged
        );
    }

    #[test]
    fn modes_parse_as_registries_spell_them() {
        assert_eq!("backward_transitive".parse(), Ok(Mode::BackwardTransitive));
        assert_eq!("FULL".parse(), Ok(Mode::Full));
        assert!("sideways".parse::<Mode>().is_err());
    }
}
