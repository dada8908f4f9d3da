//! The contract model and its TOML form.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::codes::CodeSystem;
use crate::pattern::Pattern;
use crate::rule::{RawRule, Rule};

/// One version of an entity's contract.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Contract {
    /// The entity (`encounter`, `claim_line`).
    pub entity: String,
    /// The contract's version.
    pub version: semver::Version,
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// The quality rules, in order.
    pub rules: Vec<Rule>,
}

/// One field of a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// The column name.
    pub name: String,
    /// Its type.
    pub field_type: FieldType,
    /// Rows must carry a value.
    pub required: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// How it is classified as protected health information.
    pub phi: Phi,
    /// The code system its values belong to, if any.
    pub code_system: Option<CodeSystem>,
    /// The format its values have, if any (string fields only).
    pub pattern: Option<Pattern>,
}

/// A field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// Text.
    String,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// Exact decimal with precision and scale.
    Decimal {
        /// Digits in all.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// True or false.
    Boolean,
    /// A calendar date.
    Date,
    /// An instant (UTC).
    Timestamp,
    /// Bytes.
    Binary,
}

impl FieldType {
    /// Whether every value of `self` is a value of `to` (the promotions
    /// schema registries allow: wider integers and floats, integers to
    /// floats, decimals with more integer digits at the same scale).
    pub fn widens_to(self, to: FieldType) -> bool {
        use FieldType::*;
        match (self, to) {
            (a, b) if a == b => true,
            (Int32, Int64 | Float64) | (Int64, Float64) | (Float32, Float64) => true,
            (Int32, Float32) => true,
            (
                Decimal {
                    precision: p1,
                    scale: s1,
                },
                Decimal {
                    precision: p2,
                    scale: s2,
                },
            ) => s1 == s2 && p2 >= p1,
            _ => false,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::String => f.write_str("string"),
            FieldType::Int32 => f.write_str("int32"),
            FieldType::Int64 => f.write_str("int64"),
            FieldType::Float32 => f.write_str("float32"),
            FieldType::Float64 => f.write_str("float64"),
            FieldType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            FieldType::Boolean => f.write_str("boolean"),
            FieldType::Date => f.write_str("date"),
            FieldType::Timestamp => f.write_str("timestamp"),
            FieldType::Binary => f.write_str("binary"),
        }
    }
}

impl FromStr for FieldType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "string" => FieldType::String,
            "int32" => FieldType::Int32,
            "int64" => FieldType::Int64,
            "float32" => FieldType::Float32,
            "float64" => FieldType::Float64,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "timestamp" => FieldType::Timestamp,
            "binary" => FieldType::Binary,
            other => {
                let inner = other
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or(())?;
                let (p, s) = inner.split_once(',').ok_or(())?;
                let precision: u8 = p.trim().parse().map_err(|_| ())?;
                let scale: u8 = s.trim().parse().map_err(|_| ())?;
                if precision == 0 || precision > 38 || scale > precision {
                    return Err(());
                }
                FieldType::Decimal { precision, scale }
            }
        })
    }
}

/// How a field is classified as protected health information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phi {
    /// Not PHI.
    #[default]
    None,
    /// Identifies a person on its own (name, MRN, phone, email...).
    Identifier,
    /// Identifies a person in combination (dates, ZIP codes, ages).
    QuasiIdentifier,
    /// Health information about a person (diagnoses, notes).
    Sensitive,
}

impl Phi {
    /// The name contracts use: `none`, `identifier`, `quasi_identifier`,
    /// `sensitive`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phi::None => "none",
            Phi::Identifier => "identifier",
            Phi::QuasiIdentifier => "quasi_identifier",
            Phi::Sensitive => "sensitive",
        }
    }
}

/// A contract file that cannot be used. Messages name the file, the line
/// and the field, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The text is not valid TOML, or not a contract's shape.
    #[error("[CONTRACT-0001] {file}:{line}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The contract parses but says something impossible.
    #[error("[CONTRACT-0002] {file}:{line}: field {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// The field (or `version`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A quality rule says something impossible.
    #[error("[CONTRACT-0002] {file}:{line}: rule {rule}: {message}")]
    InvalidRule {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// The rule's name.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

impl ContractError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ContractError::Parse { .. } => "CONTRACT-0001",
            ContractError::Invalid { .. } | ContractError::InvalidRule { .. } => "CONTRACT-0002",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    entity: String,
    version: Spanned<String>,
    #[serde(rename = "field", default)]
    fields: Vec<RawField>,
    #[serde(rename = "rule", default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    #[serde(rename = "type")]
    field_type: Spanned<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    primary_key: bool,
    #[serde(default)]
    phi: Phi,
    #[serde(default)]
    code_system: Option<Spanned<String>>,
    #[serde(default)]
    pattern: Option<Spanned<String>>,
}

impl Contract {
    /// Parses a contract from TOML; `file` names it in errors.
    ///
    /// ```toml
    /// entity = "encounter"
    /// version = "1.2.0"
    /// [[field]]
    /// name = "mrn"
    /// type = "string"          # string, int32, int64, float32, float64,
    ///                          # decimal(p,s), boolean, date, timestamp, binary
    /// required = true
    /// primary_key = false
    /// phi = "identifier"       # none, identifier, quasi_identifier, sensitive
    /// code_system = "icd10cm"  # optional: icd10cm, cpt_hcpcs, loinc, npi
    /// pattern = "hl7_date"     # optional: date, hl7_date, hl7_datetime,
    ///                          # zip, phone_us (string fields only)
    ///
    /// [[rule]]
    /// name = "discharge_after_admit"  # unique; violations carry it
    /// severity = "error"              # error (row refused) or warning (kept)
    /// # Exactly one check:
    /// order = { before = "admitted_at", after = "discharged_at" }
    /// # not_null = "ward"
    /// # range = { column = "allowed_amount", min = 0, max = "99999.99" }
    /// # allowed = { column = "payer_class", values = ["commercial", "medicare"] }
    /// # required_if = { column = "discharged_at", when = "status", equals = "finished" }
    /// ```
    ///
    /// Range bounds are inclusive and in the column's type: integers,
    /// numbers for floats, numbers or decimal strings for decimals, dates
    /// (`1900-01-01`) for dates, date-times with an offset
    /// (`2000-01-01T00:00:00Z`) for timestamps. `order` compares two
    /// columns of one type (any two integer or any two float types).
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ContractError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let raw: RawContract = toml::from_str(text).map_err(|e| ContractError::Parse {
            file: file.to_owned(),
            line: e.span().map_or(1, |s| line_of(s.start)),
            message: e.message().to_owned(),
        })?;
        let invalid =
            |span: std::ops::Range<usize>, field: &str, message: String| ContractError::Invalid {
                file: file.to_owned(),
                line: line_of(span.start),
                field: field.to_owned(),
                message,
            };
        let version = semver::Version::parse(raw.version.get_ref()).map_err(|_| {
            invalid(
                raw.version.span(),
                "version",
                "not a semantic version (MAJOR.MINOR.PATCH)".to_owned(),
            )
        })?;
        let mut fields: Vec<Field> = Vec::with_capacity(raw.fields.len());
        for f in raw.fields {
            let name = f.name.get_ref().clone();
            if name.is_empty() {
                return Err(invalid(
                    f.name.span(),
                    "(unnamed)",
                    "an empty name".to_owned(),
                ));
            }
            if fields.iter().any(|g| g.name == name) {
                return Err(invalid(f.name.span(), &name, "listed twice".to_owned()));
            }
            let field_type = f.field_type.get_ref().parse().map_err(|()| {
                invalid(
                    f.field_type.span(),
                    &name,
                    "unknown type (string, int32, int64, float32, float64, decimal(p,s), boolean, date, timestamp, binary)"
                        .to_owned(),
                )
            })?;
            if f.primary_key && !f.required {
                return Err(invalid(
                    f.name.span(),
                    &name,
                    "a primary key field must be required".to_owned(),
                ));
            }
            let code_system = match &f.code_system {
                None => None,
                Some(system) => Some(system.get_ref().parse().map_err(|()| {
                    invalid(
                        system.span(),
                        &name,
                        "unknown code system (icd10cm, cpt_hcpcs, loinc, npi)".to_owned(),
                    )
                })?),
            };
            if code_system.is_some() && field_type != FieldType::String {
                return Err(invalid(
                    f.field_type.span(),
                    &name,
                    "a coded field must be a string".to_owned(),
                ));
            }
            let pattern = match &f.pattern {
                None => None,
                Some(pattern) => Some(pattern.get_ref().parse().map_err(|()| {
                    invalid(
                        pattern.span(),
                        &name,
                        "unknown pattern (date, hl7_date, hl7_datetime, zip, phone_us)".to_owned(),
                    )
                })?),
            };
            if pattern.is_some() && field_type != FieldType::String {
                return Err(invalid(
                    f.field_type.span(),
                    &name,
                    "a field with a pattern must be a string".to_owned(),
                ));
            }
            fields.push(Field {
                name,
                field_type,
                required: f.required,
                primary_key: f.primary_key,
                phi: f.phi,
                code_system,
                pattern,
            });
        }
        let rules =
            crate::rule::rules(raw.rules, &fields).map_err(|e| ContractError::InvalidRule {
                file: file.to_owned(),
                line: line_of(e.span.start),
                rule: e.rule,
                message: e.message,
            })?;
        Ok(Contract {
            entity: raw.entity,
            version,
            fields,
            rules,
        })
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The primary key's fields, in order.
    pub fn primary_key(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.primary_key)
            .map(|f| f.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_name_the_file_line_and_field() {
        let cases = [
            (
                "entity = \"e\"\nversion = \"1.0\"\n",
                "CONTRACT-0002",
                "f.toml:2: field version",
            ),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"a\"\ntype = \"text\"\n",
                "CONTRACT-0002",
                "f.toml:5: field a: unknown type",
            ),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"a\"\ntype = \"int32\"\n[[field]]\nname = \"a\"\ntype = \"int32\"\n",
                "CONTRACT-0002",
                "f.toml:7: field a: listed twice",
            ),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"id\"\ntype = \"int64\"\nprimary_key = true\n",
                "CONTRACT-0002",
                "must be required",
            ),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\ncolour = 1\n",
                "CONTRACT-0001",
                "f.toml:3",
            ),
            ("entity = \n", "CONTRACT-0001", "f.toml:1"),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"dx\"\ntype = \"string\"\ncode_system = \"snomed\"\n",
                "CONTRACT-0002",
                "f.toml:6: field dx: unknown code system",
            ),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"dx\"\ntype = \"int64\"\ncode_system = \"npi\"\n",
                "CONTRACT-0002",
                "must be a string",
            ),
        ];
        for (text, code, needle) in cases {
            let e = Contract::from_toml(text, "f.toml").expect_err(text);
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        }
    }

    /// The fields every rule case below can name: lines 3 to 14.
    const FIELDS: &str = "entity = \"e\"\nversion = \"1.0.0\"\n\
        [[field]]\nname = \"status\"\ntype = \"string\"\n\
        [[field]]\nname = \"n\"\ntype = \"int32\"\n\
        [[field]]\nname = \"at\"\ntype = \"timestamp\"\n\
        [[field]]\nname = \"amount\"\ntype = \"decimal(10,2)\"\n";

    #[test]
    fn bad_patterns_and_rules_name_the_file_line_and_rule() {
        let cases = [
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"d\"\ntype = \"string\"\npattern = \"iso\"\n",
                "f.toml:6: field d: unknown pattern (date, hl7_date, hl7_datetime, zip, phone_us)",
            ),
            (
                "entity = \"e\"\nversion = \"1.0.0\"\n[[field]]\nname = \"d\"\ntype = \"date\"\npattern = \"date\"\n",
                "f.toml:5: field d: a field with a pattern must be a string",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"fatal\"\nnot_null = \"n\"\n",
                "f.toml:17: rule r: unknown severity (error, warning)",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nnot_null = \"n\"\n[[rule]]\nname = \"r\"\nseverity = \"warning\"\nnot_null = \"at\"\n",
                "f.toml:20: rule r: listed twice",
            ),
            (
                "[[rule]]\nname = \"\"\nseverity = \"error\"\nnot_null = \"n\"\n",
                "f.toml:16: rule (unnamed): an empty name",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\n",
                "f.toml:16: rule r: a rule takes exactly one check",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nnot_null = \"n\"\nallowed = { column = \"status\", values = [\"a\"] }\n",
                "f.toml:16: rule r: a rule takes exactly one check",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nnot_null = \"ward\"\n",
                "f.toml:18: rule r: no field ward in this contract",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"status\", min = 0 }\n",
                "f.toml:18: rule r: a range needs an integer, float, decimal, date or timestamp column, and status is string",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"n\" }\n",
                "f.toml:18: rule r: a range needs min or max",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"n\", min = 2, max = 1 }\n",
                "f.toml:18: rule r: min is greater than max",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"n\", min = 0.5 }\n",
                "f.toml:18: rule r: an integer column's bound is an integer",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"amount\",\n  min = \"0.001\" }\n",
                "f.toml:19: rule r: a decimal column's bound",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"at\", min = 2000-01-01T00:00:00 }\n",
                "f.toml:18: rule r: a timestamp column's bound is a date-time with an offset",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nallowed = { column = \"n\", values = [\"1\"] }\n",
                "f.toml:18: rule r: allowed values need a string column, and n is int32",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nallowed = { column = \"status\", values = [] }\n",
                "f.toml:18: rule r: no values allowed",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\norder = { before = \"n\", after = \"at\" }\n",
                "f.toml:18: rule r: order needs two integer, float, decimal, date or timestamp columns of one type, and n is int32, at is timestamp",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\norder = { before = \"at\", after = \"at\" }\n",
                "f.toml:18: rule r: a column ordered against itself",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrequired_if = { column = \"at\", when = \"n\", equals = \"1\" }\n",
                "f.toml:18: rule r: the condition needs a string column, and n is int32",
            ),
        ];
        for (rules, needle) in cases {
            let text = if rules.starts_with("entity") {
                rules.to_owned()
            } else {
                format!("{FIELDS}{rules}")
            };
            let e = Contract::from_toml(&text, "f.toml").expect_err(&text);
            assert_eq!(e.code(), "CONTRACT-0002", "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        }
        // Unknown keys and a date that does not exist are not TOML a
        // contract reads.
        for (rules, needle) in [
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nnot_nul = \"n\"\n",
                "f.toml:18",
            ),
            (
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = { column = \"at\", min = 2023-02-29T00:00:00Z }\n",
                "f.toml:18",
            ),
        ] {
            let e = Contract::from_toml(&format!("{FIELDS}{rules}"), "f.toml").expect_err(rules);
            assert_eq!(e.code(), "CONTRACT-0001", "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        }
    }

    #[test]
    fn rules_read_their_checks_and_bounds() {
        let text = format!(
            "{FIELDS}\
            [[rule]]\nname = \"a\"\nseverity = \"warning\"\nrange = {{ column = \"amount\", min = 0, max = \"12.5\" }}\n\
            [[rule]]\nname = \"b\"\nseverity = \"error\"\nrange = {{ column = \"at\", min = 1970-01-01T01:00:00.25+01:00 }}\n"
        );
        let c = Contract::from_toml(&text, "f.toml").expect("valid");
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].severity, crate::Severity::Warning);
        assert_eq!(
            c.rules[0].check,
            crate::Check::Range {
                column: "amount".to_owned(),
                min: Some(crate::Bound::Decimal(0)),
                max: Some(crate::Bound::Decimal(1_250)),
            }
        );
        assert_eq!(
            c.rules[1].check,
            crate::Check::Range {
                column: "at".to_owned(),
                min: Some(crate::Bound::Timestamp(250_000_000)),
                max: None,
            }
        );
    }

    #[test]
    fn types_parse_print_and_widen() {
        for t in [
            "string",
            "int32",
            "int64",
            "float32",
            "float64",
            "decimal(12,2)",
            "boolean",
            "date",
            "timestamp",
            "binary",
        ] {
            let parsed: FieldType = t.parse().expect(t);
            assert_eq!(parsed.to_string(), t);
        }
        for bad in [
            "decimal(0,0)",
            "decimal(39,2)",
            "decimal(4,5)",
            "decimal(4)",
            "int",
        ] {
            assert!(bad.parse::<FieldType>().is_err(), "{bad}");
        }
        let d = |p, s| FieldType::Decimal {
            precision: p,
            scale: s,
        };
        assert!(FieldType::Int32.widens_to(FieldType::Int64));
        assert!(!FieldType::Int64.widens_to(FieldType::Int32));
        assert!(d(10, 2).widens_to(d(12, 2)));
        assert!(!d(10, 2).widens_to(d(12, 3)));
        assert!(!FieldType::String.widens_to(FieldType::Binary));
    }
}
