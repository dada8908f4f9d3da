//! `policy check`: a policy against the data contracts of the tables it
//! covers, before anything runs. The promotion gate CI runs.

use std::fmt;

use arrow_schema::{DataType, TimeUnit};
use caresync_contract::{Contract, FieldType, Phi};

use crate::mask;
use crate::model::{Method, Policy};

/// A PHI field with no rule for a purpose (and role) the policy serves.
pub const UNCOVERED_PHI: &str = "POLICY-0100";
/// A rule, consent or filter names a column its table's contract lacks.
pub const UNKNOWN_COLUMN: &str = "POLICY-0101";
/// A rule's method cannot mask its field's type.
pub const UNSUITABLE_METHOD: &str = "POLICY-0102";
/// The policy covers a table no contract describes.
pub const NO_CONTRACT: &str = "POLICY-0103";

/// One thing `check` found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The stable code.
    pub code: &'static str,
    /// The table.
    pub table: String,
    /// The column, where one is concerned.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] table {}", self.code, self.table)?;
        if let Some(column) = &self.column {
            write!(f, ": column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks `policy` against `contracts` (the version of each entity the
/// policy will serve): every PHI field has a rule for every purpose (and
/// role) the policy serves, every column it names exists, every method
/// suits its field's type, and every table it covers has a contract.
/// Tables the policy does not cover are not served at all, so they are
/// not findings.
pub fn check(policy: &Policy, contracts: &[Contract]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for table in &policy.tables {
        let finding = |code, column: Option<&str>, message: String| Finding {
            code,
            table: table.name.clone(),
            column: column.map(str::to_owned),
            message,
        };
        let Some(contract) = contracts.iter().find(|c| c.entity == table.name) else {
            findings.push(finding(
                NO_CONTRACT,
                None,
                "no contract describes this table".to_owned(),
            ));
            continue;
        };
        let named = |column: &str, what: &str, findings: &mut Vec<Finding>| {
            let found = contract.field(column).is_some();
            if !found {
                findings.push(finding(
                    UNKNOWN_COLUMN,
                    Some(column),
                    format!(
                        "{what} names a column contract {} {} does not have",
                        contract.entity, contract.version
                    ),
                ));
            }
            found
        };
        for rule in &table.rules {
            for column in &rule.columns {
                let what = format!("the rule at line {}", rule.line);
                if !named(column, &what, &mut findings) {
                    continue;
                }
                if let Some(field) = contract.field(column)
                    && let Err(why) = mask::suits(&rule.method, &arrow_type(field.field_type))
                {
                    findings.push(finding(
                        UNSUITABLE_METHOD,
                        Some(column),
                        format!(
                            "the rule at line {}: {} on a {} field: {why}",
                            rule.line, rule.method, field.field_type
                        ),
                    ));
                }
            }
            if let Method::DateShift { by, .. } = &rule.method {
                let what = format!("date_shift at line {} (by)", rule.line);
                if named(by, &what, &mut findings)
                    && let Some(field) = contract.field(by)
                    && !mask::is_identifier(&arrow_type(field.field_type))
                {
                    findings.push(finding(
                        UNSUITABLE_METHOD,
                        Some(by),
                        format!(
                            "{what}: a {} field cannot name a patient (text, binary or integer)",
                            field.field_type
                        ),
                    ));
                }
            }
        }
        if let Some(consent) = &table.consent {
            named(&consent.column, "consent", &mut findings);
        }
        for filter in &table.filters {
            named(&filter.column, "a row filter", &mut findings);
        }
        let roles: Vec<Option<&str>> = if policy.roles.is_empty() {
            vec![None]
        } else {
            policy.roles.iter().map(|r| Some(r.as_str())).collect()
        };
        // Fields some request leaves to the table's default must suit it.
        for field in &contract.fields {
            let defaulted = policy.purposes.iter().any(|purpose| {
                roles
                    .iter()
                    .any(|role| table.rule_for(&field.name, purpose, *role).is_none())
            });
            if defaulted
                && let Err(why) = mask::suits(&table.default, &arrow_type(field.field_type))
            {
                findings.push(finding(
                    UNSUITABLE_METHOD,
                    Some(&field.name),
                    format!(
                        "the table's default, {}, on a {} field: {why}",
                        table.default, field.field_type
                    ),
                ));
            }
        }
        for field in contract.fields.iter().filter(|f| f.phi != Phi::None) {
            for purpose in &policy.purposes {
                for role in &roles {
                    if table.rule_for(&field.name, purpose, *role).is_none() {
                        let whom = role.map(|r| format!(", role {r}")).unwrap_or_default();
                        findings.push(finding(
                            UNCOVERED_PHI,
                            Some(&field.name),
                            format!(
                                "{} field has no rule for purpose {purpose}{whom}",
                                phi_name(field.phi)
                            ),
                        ));
                    }
                }
            }
        }
    }
    findings
}

fn phi_name(phi: Phi) -> &'static str {
    match phi {
        Phi::Identifier => "an identifier",
        Phi::QuasiIdentifier => "a quasi-identifier",
        Phi::Sensitive => "a sensitive",
        _ => "a PHI",
    }
}

/// The Arrow type a contract field is stored as.
fn arrow_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::String => DataType::Utf8,
        FieldType::Int32 => DataType::Int32,
        FieldType::Int64 => DataType::Int64,
        FieldType::Float32 => DataType::Float32,
        FieldType::Float64 => DataType::Float64,
        FieldType::Decimal { precision, scale } => {
            DataType::Decimal128(precision, i8::try_from(scale).unwrap_or(i8::MAX))
        }
        FieldType::Boolean => DataType::Boolean,
        FieldType::Date => DataType::Date32,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FieldType::Binary => DataType::Binary,
        _ => DataType::Null,
    }
}
