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
//!
//! Checks on values follow the same logic: a side that checks more than
//! the other may refuse the other's rows.
//!
//! - A **code system** or **pattern** added or changed breaks backward
//!   (old rows may not have it); dropped or changed, forward. A pattern
//!   that only widens (`hl7_date` to `hl7_datetime`) is a loosening.
//! - An **error rule** of the new version that no error rule of the old
//!   one implies (new, stricter, or raised from a warning) breaks
//!   backward; an old error rule that no new one implies (dropped,
//!   loosened, or lowered to a warning) breaks forward. Rules are compared
//!   by what they check, not by name: renaming one changes nothing. A
//!   range implies a range within it, an allowed list its supersets, a
//!   `not_null` a `required_if` on its column, and a required field a
//!   `not_null` on it; other checks imply only themselves.
//! - **Warnings** never break: they refuse no row.

use std::fmt;

use crate::model::{Contract, FieldType};
use crate::pattern::Pattern;
use crate::rule::{Check, Rule, Severity, implies};

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
    /// A field's pattern was added, narrowed or changed (backward), or
    /// dropped, widened or changed (forward).
    PatternChanged,
    /// An error rule is new, stricter, or was a warning: old rows may break
    /// it (backward).
    RuleAdded {
        /// The new version's rule.
        rule: String,
    },
    /// An error rule was dropped, loosened, or became a warning: old
    /// readers may get rows that break it (forward).
    RuleDropped {
        /// The old version's rule.
        rule: String,
    },
}

/// One breaking change, against one earlier version.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakingChange {
    /// The earlier version it breaks against.
    pub against: semver::Version,
    /// The field (the key's fields, or a rule's columns, comma-separated).
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
            Change::PatternChanged => "changed pattern".to_owned(),
            Change::RuleAdded { rule } => {
                return write!(
                    f,
                    "rule {rule} on {} is new or stricter (against {})",
                    self.field, self.against
                );
            }
            Change::RuleDropped { rule } => {
                return write!(
                    f,
                    "rule {rule} on {} was dropped or loosened (against {})",
                    self.field, self.against
                );
            }
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
                    // `a` checks no more than `b` does.
                    let within = |a: Option<Pattern>, b: Option<Pattern>| match (a, b) {
                        (_, None) => true,
                        (None, Some(_)) => false,
                        (Some(a), Some(b)) => a.within(b),
                    };
                    let pattern_breaks = (mode.backward() && !within(was.pattern, new.pattern))
                        || (mode.forward() && !within(new.pattern, was.pattern));
                    if pattern_breaks {
                        push(&new.name, Change::PatternChanged);
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
        if mode.backward() {
            for rule in unimplied(candidate, old) {
                let rule_name = rule.name.clone();
                push(
                    &rule.check.columns().join(","),
                    Change::RuleAdded { rule: rule_name },
                );
            }
        }
        if mode.forward() {
            for rule in unimplied(old, candidate) {
                let rule_name = rule.name.clone();
                push(
                    &rule.check.columns().join(","),
                    Change::RuleDropped { rule: rule_name },
                );
            }
        }
    }
    breaks
}

/// The error rules of `strict` that nothing in `loose` implies: rows
/// `loose` accepts may break them.
fn unimplied<'a>(strict: &'a Contract, loose: &Contract) -> impl Iterator<Item = &'a Rule> {
    let errors = |c: &Contract| -> Vec<Check> {
        let mut checks: Vec<Check> = c
            .rules
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .map(|r| r.check.clone())
            .collect();
        // A required field is a `not_null` rule that cannot be a warning.
        checks.extend(
            c.fields
                .iter()
                .filter(|f| f.required)
                .map(|f| Check::NotNull {
                    column: f.name.clone(),
                }),
        );
        checks
    };
    let guaranteed = errors(loose);
    strict
        .rules
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .filter(move |r| !guaranteed.iter().any(|g| implies(g, &r.check)))
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
    use crate::rule::Bound;

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
                    pattern: None,
                })
                .collect(),
            rules: Vec::new(),
        }
    }

    fn rule(name: &str, severity: Severity, check: Check) -> Rule {
        Rule {
            name: name.to_owned(),
            severity,
            check,
        }
    }

    fn beds_at_least(min: i64) -> Check {
        Check::Range {
            column: "beds".to_owned(),
            min: Some(Bound::Int(min)),
            max: None,
        }
    }

    use FieldType::{Int32, Int64, String as Text};

    /// Four fields, the fifth an HL7 date; an error rule on `beds` and a
    /// warning on `ward`.
    fn base() -> Contract {
        let mut base = contract(
            "1.0.0",
            &[
                ("id", Text, true, true),
                ("mrn", Text, true, false),
                ("ward", Text, false, false),
                ("beds", Int32, false, false),
                ("born", Text, false, false),
            ],
        );
        base.fields[4].pattern = Some(Pattern::Hl7Date);
        base.rules = vec![
            rule("beds_counted", Severity::Error, beds_at_least(0)),
            rule(
                "ward_recorded",
                Severity::Warning,
                Check::NotNull {
                    column: "ward".to_owned(),
                },
            ),
        ];
        base
    }

    /// `base` at `version`, edited.
    fn edited_at(version: &str, edit: impl FnOnce(&mut Contract)) -> Contract {
        let mut next = base();
        next.version = semver::Version::parse(version).expect("version");
        edit(&mut next);
        next
    }

    /// `base` at 1.1.0, edited.
    fn edited(edit: impl FnOnce(&mut Contract)) -> Contract {
        edited_at("1.1.0", edit)
    }

    fn field(name: &str, field_type: FieldType, required: bool) -> Field {
        Field {
            name: name.to_owned(),
            field_type,
            required,
            primary_key: false,
            phi: Phi::None,
            code_system: None,
            pattern: None,
        }
    }

    /// Each change, and whether each mode allows it: (backward, forward).
    #[test]
    fn each_change_against_each_mode() {
        type Edit = fn(&mut Contract);
        let cases: [(&str, Edit, bool, bool); 23] = [
            (
                "add an optional field",
                |c| c.fields.push(field("payer", Text, false)),
                true,
                true,
            ),
            (
                "add a required field",
                |c| c.fields.push(field("payer", Text, true)),
                false,
                true,
            ),
            (
                "drop an optional field",
                |c| c.fields.retain(|x| x.name != "ward"),
                true,
                true,
            ),
            (
                "drop a required field",
                |c| c.fields.retain(|x| x.name != "mrn"),
                true,
                false,
            ),
            (
                "widen a type",
                |c| c.fields[3].field_type = Int64,
                true,
                false,
            ),
            (
                "make an optional field required",
                |c| c.fields[2].required = true,
                false,
                true,
            ),
            (
                "make a required field optional",
                |c| c.fields[1].required = false,
                true,
                false,
            ),
            (
                "change the key",
                |c| {
                    c.fields[0].primary_key = false;
                    c.fields[1].primary_key = true;
                },
                false,
                false,
            ),
            (
                "add a pattern",
                |c| c.fields[1].pattern = Some(Pattern::Zip),
                false,
                true,
            ),
            (
                "drop a pattern",
                |c| c.fields[4].pattern = None,
                true,
                false,
            ),
            (
                "widen a pattern",
                |c| c.fields[4].pattern = Some(Pattern::Hl7Datetime),
                true,
                false,
            ),
            (
                "change a pattern",
                |c| c.fields[4].pattern = Some(Pattern::Date),
                false,
                false,
            ),
            (
                "add an error rule",
                |c| {
                    let check = Check::NotNull {
                        column: "born".to_owned(),
                    };
                    c.rules.push(rule("born_known", Severity::Error, check));
                },
                false,
                true,
            ),
            (
                "add a warning rule",
                |c| {
                    let check = Check::NotNull {
                        column: "born".to_owned(),
                    };
                    c.rules.push(rule("born_known", Severity::Warning, check));
                },
                true,
                true,
            ),
            (
                "add an error rule a required field already implies",
                |c| {
                    let check = Check::NotNull {
                        column: "mrn".to_owned(),
                    };
                    c.rules.push(rule("mrn_known", Severity::Error, check));
                },
                true,
                true,
            ),
            (
                "drop an error rule",
                |c| c.rules.retain(|r| r.name != "beds_counted"),
                true,
                false,
            ),
            (
                "drop a warning rule",
                |c| c.rules.retain(|r| r.name != "ward_recorded"),
                true,
                true,
            ),
            (
                "tighten a range",
                |c| c.rules[0].check = beds_at_least(1),
                false,
                true,
            ),
            (
                "loosen a range",
                |c| c.rules[0].check = beds_at_least(-1),
                true,
                false,
            ),
            (
                "raise a warning to an error",
                |c| c.rules[1].severity = Severity::Error,
                false,
                true,
            ),
            (
                "lower an error to a warning",
                |c| c.rules[0].severity = Severity::Warning,
                true,
                false,
            ),
            (
                "rename a rule",
                |c| c.rules[0].name = "beds_not_negative".to_owned(),
                true,
                true,
            ),
            (
                "make a required field a not_null error rule",
                |c| {
                    c.fields[1].required = false;
                    let check = Check::NotNull {
                        column: "mrn".to_owned(),
                    };
                    c.rules.push(rule("mrn_known", Severity::Error, check));
                },
                true,
                // Still a break: old readers were promised a required field.
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
    fn rule_changes_name_the_rule_and_its_columns() {
        let history = [base()];
        let next = edited(|c| {
            c.rules[0].check = beds_at_least(1);
            c.rules.push(rule(
                "discharge_after_admit",
                Severity::Error,
                Check::Order {
                    before: "id".to_owned(),
                    after: "mrn".to_owned(),
                },
            ));
        });
        let shown: Vec<String> = check(&history, &next, Mode::Full)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "rule beds_counted on beds is new or stricter (against 1.0.0)",
                "rule discharge_after_admit on mrn,id is new or stricter (against 1.0.0)",
            ]
        );
        let looser = edited(|c| c.rules.clear());
        let shown: Vec<String> = check(&history, &looser, Mode::Forward)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            ["rule beds_counted on beds was dropped or loosened (against 1.0.0)"]
        );
    }

    #[test]
    fn transitive_modes_check_every_earlier_version() {
        // 1.1.0 drops `ward`; 1.2.0 adds it back as an int32. Against
        // 1.1.0 that is a new optional field; against 1.0.0, where `ward`
        // was text, it is a type change.
        let v1 = base();
        let v2 = edited_at("1.1.0", |c| {
            c.fields.retain(|f| f.name != "ward");
            c.rules.retain(|r| r.check.column() != "ward");
        });
        let v3 = edited_at("1.2.0", |c| {
            c.fields.retain(|f| f.name != "ward");
            c.rules.retain(|r| r.check.column() != "ward");
            c.fields.push(field("ward", Int32, false));
        });
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
        let v3 = edited_at("1.10.0", |_| {});
        let v2 = edited_at("1.2.0", |c| c.fields.push(field("payer", Text, true)));
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

    /// The change `caresync contract check` is tested with: the shipped
    /// encounter contract, payer class made optional, and nothing else.
    #[test]
    fn the_shipped_encounter_with_an_optional_payer_breaks_forward_only() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contracts/encounter/1.0.0.toml"
        );
        let text = std::fs::read_to_string(path).expect("the shipped contract");
        let optional = text
            .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
            .replace(
                "name = \"payer_class\"\ntype = \"string\"\nrequired = true\n",
                "name = \"payer_class\"\ntype = \"string\"\n",
            );
        let v1 = Contract::from_toml(&text, "encounter/1.0.0.toml").expect("valid");
        let v2 = Contract::from_toml(&optional, "encounter/1.1.0.toml").expect("valid");
        assert!(check(std::slice::from_ref(&v1), &v2, Mode::Backward).is_empty());
        let breaks: Vec<String> = check(&[v1], &v2, Mode::Full)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            breaks,
            ["field payer_class became optional (against 1.0.0)"]
        );
    }

    #[test]
    fn modes_parse_as_registries_spell_them() {
        assert_eq!("backward_transitive".parse(), Ok(Mode::BackwardTransitive));
        assert_eq!("FULL".parse(), Ok(Mode::Full));
        assert!("sideways".parse::<Mode>().is_err());
    }
}
