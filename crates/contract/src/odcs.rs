//! Export of contracts to the Open Data Contract Standard (ODCS): see
//! [`to_odcs_yaml`] for the mapping and what it loses. The YAML is written
//! by hand (see `yaml`), with no YAML library.

mod yaml;

use caresync_core::calendar::civil_from_days;

use crate::codes::CodeSystem;
use crate::model::{Contract, Field, FieldType, Phi};
use crate::pattern::Pattern;
use crate::rule::{Bound, Check, Rule};
use yaml::Node;

/// The ODCS version the export writes.
const API_VERSION: &str = "v3.1.0";

/// The engine named by `custom` quality checks.
const ENGINE: &str = "caresync";

/// `contract` as an [Open Data Contract Standard][odcs] (ODCS) data contract,
/// `apiVersion: v3.1.0`, in YAML: one document, starting `apiVersion:` and
/// ending with a newline, holding one data contract with one schema object
/// (the entity's table) whose properties are the contract's fields and
/// whose quality checks are its rules. The document is valid against the
/// ODCS v3.1.0 JSON Schema, and against v3.2.0's, which accepts v3.1.0
/// documents.
///
/// ```
/// use caresync_contract::{Contract, to_odcs_yaml};
///
/// let contract = Contract::from_toml(r#"
///     entity = "encounter"
///     version = "1.2.0"
///     [[field]]
///     name = "encounter_id"
///     type = "string"
///     required = true
///     primary_key = true
/// "#, "encounter-1.2.0.toml")?;
/// let yaml = to_odcs_yaml(&contract);
/// assert!(yaml.starts_with("apiVersion: \"v3.1.0\"\nkind: \"DataContract\"\n"));
/// assert!(yaml.contains("id: \"caresync:encounter\"\n"));
/// assert!(yaml.contains("version: \"1.2.0\"\n"));
/// assert!(yaml.contains("      - name: \"encounter_id\"\n"));
/// # Ok::<(), caresync_contract::ContractError>(())
/// ```
///
/// # The mapping
///
/// | caresync | ODCS v3.1.0 |
/// | --- | --- |
/// | the file | `apiVersion: v3.1.0`, `kind: DataContract`, `status: active` |
/// | `entity` | `id: caresync:{entity}` (one id for every version, as ODCS pairs `id` with `version`), `name`, and the one `schema` object's `name` (`physicalType: table`, `logicalType: object`) |
/// | `version` | `version` (the semantic version as written) |
/// | `[[field]]` | a `schema[0].properties` entry, in order |
/// | `name` | `name` |
/// | `type` | `physicalType`: our type name (`int32`, `decimal(12,2)`...), and `logicalType`: see below |
/// | `required` | `required` |
/// | `primary_key` | `primaryKey: true` and `primaryKeyPosition` (1-based, in field order) |
/// | `phi` | `classification`: `identifier` and `sensitive` → `restricted`, `quasi_identifier` → `confidential`, `none` → none; and the exact class in the custom property `caresyncPhi` (absent for `none`) |
/// | `code_system` | `logicalTypeOptions.pattern`: a regular expression of the code's shape; and the name in the custom property `caresyncCodeSystem` |
/// | `pattern` | `logicalTypeOptions.pattern`: a regular expression of the format's shape (both at once: one expression with a lookahead); and the name in the custom property `caresyncPattern` |
/// | `[[rule]]` | a `quality` entry: on its column's property for `not_null`, `allowed` and `range`, on the schema object for `order` and `required_if`; `name`, `severity` (`error`, `warning`), a `description`, a `dimension` |
/// | `not_null` | `type: library`, `metric: nullValues`, `mustBe: 0`, `unit: rows` (completeness) |
/// | `allowed` | `type: library`, `metric: invalidValues`, `arguments.validValues`, `mustBe: 0`, `unit: rows` (conformity) |
/// | `range` | `type: custom`, `engine: caresync`, `implementation: { range: { column, min, max } }` (conformity): ODCS's operators take numbers only, and its library has no range metric |
/// | `order` | `type: custom`, `engine: caresync`, `implementation: { order: { before, after } }` (consistency) |
/// | `required_if` | `type: custom`, `engine: caresync`, `implementation: { required_if: { column, when, equals } }` (completeness) |
///
/// | `type` | `logicalType` | `logicalTypeOptions` |
/// | --- | --- | --- |
/// | `string` | `string` | |
/// | `int32`, `int64` | `integer` | `format: i32`, `i64` |
/// | `float32`, `float64` | `number` | `format: f32`, `f64` |
/// | `decimal(p,s)` | `number` | (precision and scale in `physicalType`) |
/// | `boolean` | `boolean` | |
/// | `date` | `date` | |
/// | `timestamp` | `timestamp` | `timezone: true`, `defaultTimezone: Etc/UTC` (an instant) |
/// | `binary` | `string` | `format: binary` (ODCS has no bytes type) |
///
/// Range bounds are written as TOML would read them back: integers and
/// floats as numbers, decimals as decimal strings at the field's scale
/// (`"0.00"`), dates as `"1900-01-01"`, timestamps as RFC 3339 in UTC
/// (`"1900-01-01T00:00:00Z"`). Nulls pass every rule but `not_null` and
/// `required_if`, as in ODCS engines, where a null is missing, not invalid.
///
/// # What the export loses or weakens
///
/// - **Severity's effect.** ODCS's `severity` is a label; in caresync an
///   `error` refuses the row (to the dead-letter table) and a `warning`
///   reports it and keeps it. ODCS library checks count over the whole
///   dataset (`mustBe: 0` rows); caresync checks row by row.
/// - **Code systems and patterns as regular expressions** check shape only:
///   not NPI's or LOINC's check digit, not whether a date exists
///   (`2023-02-30` matches `date`'s expression). The exact checks live in
///   the `caresync*` custom properties, which only caresync reads.
/// - **Rule order across columns**: rules sit on their column's property
///   (or on the schema object), each group in contract order.
/// - **`status`** is always `active`: caresync contracts have no lifecycle
///   field. Comments in the TOML file are not exported.
///
/// [odcs]: https://bitol-io.github.io/open-data-contract-standard/
pub fn to_odcs_yaml(contract: &Contract) -> String {
    yaml::to_string(&document(contract))
}

fn document(contract: &Contract) -> Node {
    let mut key_position = 0;
    let properties = contract
        .fields
        .iter()
        .map(|field| {
            let position = field.primary_key.then(|| {
                key_position += 1;
                key_position
            });
            property(contract, field, position)
        })
        .collect();
    let mut object = vec![
        ("name", Node::str(&contract.entity)),
        ("physicalType", Node::str("table")),
        ("logicalType", Node::str("object")),
        ("properties", Node::Seq(properties)),
    ];
    let table_rules: Vec<Node> = contract
        .rules
        .iter()
        .filter(|rule| on_one_column(&rule.check).is_none())
        .map(|rule| quality(contract, rule))
        .collect();
    if !table_rules.is_empty() {
        object.push(("quality", Node::Seq(table_rules)));
    }
    Node::Map(vec![
        ("apiVersion", Node::str(API_VERSION)),
        ("kind", Node::str("DataContract")),
        ("id", Node::str(format!("caresync:{}", contract.entity))),
        ("name", Node::str(&contract.entity)),
        ("version", Node::str(contract.version.to_string())),
        ("status", Node::str("active")),
        ("schema", Node::Seq(vec![Node::Map(object)])),
    ])
}

fn property(contract: &Contract, field: &Field, key_position: Option<u32>) -> Node {
    let mut entries = vec![
        ("name", Node::str(&field.name)),
        ("logicalType", Node::str(logical_type(field.field_type))),
    ];
    let mut options = type_options(field.field_type);
    if let Some(pattern) = shape(field.pattern, field.code_system) {
        options.push(("pattern", Node::Str(pattern)));
    }
    if !options.is_empty() {
        entries.push(("logicalTypeOptions", Node::Map(options)));
    }
    entries.push(("physicalType", Node::str(field.field_type.to_string())));
    entries.push(("required", Node::bool(field.required)));
    if let Some(position) = key_position {
        entries.push(("primaryKey", Node::bool(true)));
        entries.push(("primaryKeyPosition", Node::int(position)));
    }
    if let Some(class) = classification(field.phi) {
        entries.push(("classification", Node::str(class)));
    }
    let mut custom = Vec::new();
    if field.phi != Phi::None {
        custom.push(custom_property("caresyncPhi", field.phi.as_str()));
    }
    if let Some(system) = field.code_system {
        custom.push(custom_property("caresyncCodeSystem", system.as_str()));
    }
    if let Some(pattern) = field.pattern {
        custom.push(custom_property("caresyncPattern", pattern.as_str()));
    }
    if !custom.is_empty() {
        entries.push(("customProperties", Node::Seq(custom)));
    }
    let checks: Vec<Node> = contract
        .rules
        .iter()
        .filter(|rule| on_one_column(&rule.check) == Some(field.name.as_str()))
        .map(|rule| quality(contract, rule))
        .collect();
    if !checks.is_empty() {
        entries.push(("quality", Node::Seq(checks)));
    }
    Node::Map(entries)
}

fn custom_property(name: &str, value: &str) -> Node {
    Node::Map(vec![
        ("property", Node::str(name)),
        ("value", Node::str(value)),
    ])
}

fn logical_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::Binary => "string",
        FieldType::Int32 | FieldType::Int64 => "integer",
        FieldType::Float32 | FieldType::Float64 | FieldType::Decimal { .. } => "number",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::Timestamp => "timestamp",
    }
}

fn type_options(ty: FieldType) -> Vec<(&'static str, Node)> {
    let format = |f: &str| vec![("format", Node::str(f))];
    match ty {
        FieldType::Int32 => format("i32"),
        FieldType::Int64 => format("i64"),
        FieldType::Float32 => format("f32"),
        FieldType::Float64 => format("f64"),
        FieldType::Binary => format("binary"),
        FieldType::Timestamp => vec![
            ("timezone", Node::bool(true)),
            ("defaultTimezone", Node::str("Etc/UTC")),
        ],
        FieldType::String | FieldType::Decimal { .. } | FieldType::Boolean | FieldType::Date => {
            Vec::new()
        }
    }
}

fn classification(phi: Phi) -> Option<&'static str> {
    match phi {
        Phi::None => None,
        Phi::Identifier | Phi::Sensitive => Some("restricted"),
        Phi::QuasiIdentifier => Some("confidential"),
    }
}

/// An ECMA-262 expression every value of the pattern or code system
/// matches, anchored: the shape without the calendar or check digit.
fn shape(pattern: Option<Pattern>, system: Option<CodeSystem>) -> Option<String> {
    let pattern = pattern.map(pattern_shape);
    let system = system.map(code_shape);
    match (pattern, system) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(format!("^{one}$")),
        (Some(pattern), Some(system)) => Some(format!("^(?={system}$){pattern}$")),
    }
}

/// The shape of a pattern's values, unanchored, alternatives grouped.
fn pattern_shape(pattern: Pattern) -> &'static str {
    match pattern {
        Pattern::Date => "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
        Pattern::Hl7Date => "[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])",
        Pattern::Hl7Datetime => {
            "[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])\
             (([01][0-9]|2[0-3])[0-5][0-9]([0-5][0-9](\\.[0-9]{1,4})?)?)?\
             ([+-](0[0-9]|1[0-4])[0-5][0-9])?"
        }
        Pattern::Zip => "[0-9]{5}(-[0-9]{4})?",
        Pattern::PhoneUs => {
            "([2-9][0-9]{2}[2-9][0-9]{6}|[2-9][0-9]{2}-[2-9][0-9]{2}-[0-9]{4}\
             |\\([2-9][0-9]{2}\\) [2-9][0-9]{2}-[0-9]{4})"
        }
    }
}

/// The shape of a code system's codes, unanchored, alternatives grouped.
fn code_shape(system: CodeSystem) -> &'static str {
    match system {
        CodeSystem::Icd10Cm => "[A-TV-Z][0-9][0-9A-Z](\\.?[0-9A-Z]{1,4})?",
        CodeSystem::CptHcpcs => "([0-9]{4}[0-9FTU]|[A-V][0-9]{4})",
        CodeSystem::Loinc => "[0-9]{1,7}-[0-9]",
        CodeSystem::Npi => "[12][0-9]{9}",
    }
}

/// The column of a rule that checks one column; `None` for rules across
/// columns.
fn on_one_column(check: &Check) -> Option<&str> {
    match check {
        Check::NotNull { column } | Check::Range { column, .. } | Check::Allowed { column, .. } => {
            Some(column)
        }
        Check::Order { .. } | Check::RequiredIf { .. } => None,
    }
}

fn quality(contract: &Contract, rule: &Rule) -> Node {
    let mut entries = vec![("name", Node::str(&rule.name))];
    let dimension = match &rule.check {
        Check::NotNull { column } => {
            entries.push(("description", Node::Str(format!("{column} has a value"))));
            entries.extend(library("nullValues", None));
            "completeness"
        }
        Check::Allowed { column, values } => {
            entries.push((
                "description",
                Node::Str(format!("{column} is one of the valid values")),
            ));
            let valid = values.iter().map(Node::str).collect();
            let arguments = Node::Map(vec![("validValues", Node::Seq(valid))]);
            entries.extend(library("invalidValues", Some(arguments)));
            "conformity"
        }
        Check::Range { column, min, max } => {
            let ty = contract.field(column).map(|f| f.field_type);
            let min = min.map(|b| bound(b, ty));
            let max = max.map(|b| bound(b, ty));
            let text = |b: &Option<(String, bool)>| b.as_ref().map(|(t, _)| t.clone());
            let description = match (text(&min), text(&max)) {
                (Some(lo), Some(hi)) => format!("{column} is between {lo} and {hi}, inclusive"),
                (Some(lo), None) => format!("{column} is at least {lo}"),
                (None, Some(hi)) => format!("{column} is at most {hi}"),
                (None, None) => format!("{column} is any value"),
            };
            entries.push(("description", Node::Str(description)));
            let value = |(text, quoted): (String, bool)| {
                if quoted {
                    Node::Str(text)
                } else {
                    Node::Plain(text)
                }
            };
            let mut range = vec![("column", Node::str(column))];
            range.extend(min.map(|b| ("min", value(b))));
            range.extend(max.map(|b| ("max", value(b))));
            entries.extend(custom("range", range));
            "conformity"
        }
        Check::Order { before, after } => {
            entries.push((
                "description",
                Node::Str(format!(
                    "{before} is not after {after} when both have values"
                )),
            ));
            let order = vec![("before", Node::str(before)), ("after", Node::str(after))];
            entries.extend(custom("order", order));
            "consistency"
        }
        Check::RequiredIf {
            column,
            when,
            equals,
        } => {
            let mut equals_text = String::new();
            yaml::quote(&mut equals_text, equals);
            entries.push((
                "description",
                Node::Str(format!("{column} has a value when {when} is {equals_text}")),
            ));
            let required_if = vec![
                ("column", Node::str(column)),
                ("when", Node::str(when)),
                ("equals", Node::str(equals)),
            ];
            entries.extend(custom("required_if", required_if));
            "completeness"
        }
    };
    entries.push(("dimension", Node::str(dimension)));
    entries.push(("severity", Node::str(rule.severity.as_str())));
    Node::Map(entries)
}

/// A library metric's entries: no rows may count.
fn library(metric: &str, arguments: Option<Node>) -> Vec<(&'static str, Node)> {
    let mut entries = vec![
        ("type", Node::str("library")),
        ("metric", Node::str(metric)),
    ];
    entries.extend(arguments.map(|a| ("arguments", a)));
    entries.push(("mustBe", Node::int(0)));
    entries.push(("unit", Node::str("rows")));
    entries
}

/// A custom check's entries: the rule's check as its TOML table.
fn custom(check: &'static str, table: Vec<(&'static str, Node)>) -> Vec<(&'static str, Node)> {
    vec![
        ("type", Node::str("custom")),
        ("engine", Node::str(ENGINE)),
        ("implementation", Node::Map(vec![(check, Node::Map(table))])),
    ]
}

/// A range bound's text, and whether YAML should quote it (all but
/// numbers).
fn bound(bound: Bound, ty: Option<FieldType>) -> (String, bool) {
    match bound {
        Bound::Int(i) => (i.to_string(), false),
        Bound::Float(f) => (float_text(f), false),
        Bound::Decimal(unscaled) => {
            let scale = match ty {
                Some(FieldType::Decimal { scale, .. }) => scale,
                _ => 0,
            };
            (decimal_text(unscaled, scale), true)
        }
        Bound::Date(days) => (date_text(i64::from(days)), true),
        Bound::Timestamp(nanos) => (timestamp_text(nanos), true),
    }
}

/// A float as a YAML float: `1.0`, never `1`; never an exponent.
fn float_text(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    // Display writes the shortest digits that read back as `f`.
    let text = f.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// `1250` at scale 2 is `12.50`; `-5` at scale 2 is `-0.05`.
fn decimal_text(unscaled: i128, scale: u8) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn date_text(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Nanoseconds since the epoch as RFC 3339 in UTC, the fraction only when
/// there is one, without trailing zeros.
fn timestamp_text(nanos: i128) -> String {
    const NANOS: i128 = 1_000_000_000;
    // Far beyond any calendar a bound can name; keeps the arithmetic in range.
    const DAYS: i128 = 1 << 40;
    let seconds = nanos.div_euclid(NANOS);
    let fraction = nanos.rem_euclid(NANOS);
    let days = seconds.div_euclid(86_400).clamp(-DAYS, DAYS);
    let of_day = seconds.rem_euclid(86_400);
    let date = date_text(i64::try_from(days).unwrap_or_default());
    let (h, m, s) = (of_day / 3_600, of_day / 60 % 60, of_day % 60);
    let mut text = format!("{date}T{h:02}:{m:02}:{s:02}");
    if fraction != 0 {
        let digits = format!(".{fraction:09}");
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::yaml::tests::read;
    use super::*;

    fn shipped(entity: &str) -> Contract {
        let text = match entity {
            "encounter" => include_str!("../../../contracts/encounter/1.0.0.toml"),
            "claim_line" => include_str!("../../../contracts/claim_line/1.0.0.toml"),
            other => panic!("no shipped contract {other}"),
        };
        Contract::from_toml(text, &format!("{entity}/1.0.0.toml")).expect("valid")
    }

    /// Exports `contract`, checks the YAML reads back as the tree it was
    /// written from, and compares it with `expected`.
    fn check(contract: &Contract, expected: Expect) {
        let yaml = to_odcs_yaml(contract);
        assert_eq!(read(&yaml), document(contract), "the YAML reads back");
        expected.assert_eq(&yaml);
    }

    #[test]
    fn the_shipped_encounter_contract_exports_exactly() {
        check(
            &shipped("encounter"),
            expect![[r#"
                apiVersion: "v3.1.0"
                kind: "DataContract"
                id: "caresync:encounter"
                name: "encounter"
                version: "1.0.0"
                status: "active"
                schema:
                  - name: "encounter"
                    physicalType: "table"
                    logicalType: "object"
                    properties:
                      - name: "encounter_id"
                        logicalType: "string"
                        physicalType: "string"
                        required: true
                        primaryKey: true
                        primaryKeyPosition: 1
                        classification: "restricted"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "identifier"
                      - name: "mrn"
                        logicalType: "string"
                        physicalType: "string"
                        required: true
                        classification: "restricted"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "identifier"
                      - name: "admitted_at"
                        logicalType: "timestamp"
                        logicalTypeOptions:
                          timezone: true
                          defaultTimezone: "Etc/UTC"
                        physicalType: "timestamp"
                        required: true
                        classification: "confidential"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "quasi_identifier"
                        quality:
                          - name: "admitted_since_1900"
                            description: "admitted_at is at least 1900-01-01T00:00:00Z"
                            type: "custom"
                            engine: "caresync"
                            implementation:
                              range:
                                column: "admitted_at"
                                min: "1900-01-01T00:00:00Z"
                            dimension: "conformity"
                            severity: "error"
                      - name: "discharged_at"
                        logicalType: "timestamp"
                        logicalTypeOptions:
                          timezone: true
                          defaultTimezone: "Etc/UTC"
                        physicalType: "timestamp"
                        required: false
                        classification: "confidential"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "quasi_identifier"
                      - name: "payer_class"
                        logicalType: "string"
                        physicalType: "string"
                        required: true
                        quality:
                          - name: "payer_class_known"
                            description: "payer_class is one of the valid values"
                            type: "library"
                            metric: "invalidValues"
                            arguments:
                              validValues:
                                - "commercial"
                                - "medicare"
                                - "medicaid"
                                - "tricare"
                                - "self-pay"
                                - "other"
                            mustBe: 0
                            unit: "rows"
                            dimension: "conformity"
                            severity: "error"
                      - name: "status"
                        logicalType: "string"
                        physicalType: "string"
                        required: true
                        quality:
                          - name: "status_known"
                            description: "status is one of the valid values"
                            type: "library"
                            metric: "invalidValues"
                            arguments:
                              validValues:
                                - "planned"
                                - "arrived"
                                - "triaged"
                                - "in-progress"
                                - "onleave"
                                - "finished"
                                - "cancelled"
                                - "entered-in-error"
                                - "unknown"
                            mustBe: 0
                            unit: "rows"
                            dimension: "conformity"
                            severity: "error"
                      - name: "ward"
                        logicalType: "string"
                        physicalType: "string"
                        required: false
                        quality:
                          - name: "ward_recorded"
                            description: "ward has a value"
                            type: "library"
                            metric: "nullValues"
                            mustBe: 0
                            unit: "rows"
                            dimension: "completeness"
                            severity: "warning"
                    quality:
                      - name: "discharged_when_finished"
                        description: "discharged_at has a value when status is \"finished\""
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          required_if:
                            column: "discharged_at"
                            when: "status"
                            equals: "finished"
                        dimension: "completeness"
                        severity: "error"
                      - name: "discharged_after_admitted"
                        description: "admitted_at is not after discharged_at when both have values"
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          order:
                            before: "admitted_at"
                            after: "discharged_at"
                        dimension: "consistency"
                        severity: "error"
            "#]],
        );
    }

    #[test]
    fn the_shipped_claim_line_contract_exports_exactly() {
        check(
            &shipped("claim_line"),
            expect![[r#"
                apiVersion: "v3.1.0"
                kind: "DataContract"
                id: "caresync:claim_line"
                name: "claim_line"
                version: "1.0.0"
                status: "active"
                schema:
                  - name: "claim_line"
                    physicalType: "table"
                    logicalType: "object"
                    properties:
                      - name: "claim_key"
                        logicalType: "string"
                        physicalType: "string"
                        required: true
                        primaryKey: true
                        primaryKeyPosition: 1
                        classification: "restricted"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "identifier"
                      - name: "line_number"
                        logicalType: "integer"
                        logicalTypeOptions:
                          format: "i32"
                        physicalType: "int32"
                        required: true
                        primaryKey: true
                        primaryKeyPosition: 2
                        quality:
                          - name: "line_number_positive"
                            description: "line_number is at least 1"
                            type: "custom"
                            engine: "caresync"
                            implementation:
                              range:
                                column: "line_number"
                                min: 1
                            dimension: "conformity"
                            severity: "error"
                      - name: "procedure_code"
                        logicalType: "string"
                        logicalTypeOptions:
                          pattern: "^([0-9]{4}[0-9FTU]|[A-V][0-9]{4})$"
                        physicalType: "string"
                        required: true
                        customProperties:
                          - property: "caresyncCodeSystem"
                            value: "cpt_hcpcs"
                      - name: "primary_diagnosis"
                        logicalType: "string"
                        logicalTypeOptions:
                          pattern: "^[A-TV-Z][0-9][0-9A-Z](\\.?[0-9A-Z]{1,4})?$"
                        physicalType: "string"
                        required: true
                        classification: "restricted"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "sensitive"
                          - property: "caresyncCodeSystem"
                            value: "icd10cm"
                      - name: "allowed_amount"
                        logicalType: "number"
                        physicalType: "decimal(12,2)"
                        required: true
                        quality:
                          - name: "allowed_amount_not_negative"
                            description: "allowed_amount is at least 0.00"
                            type: "custom"
                            engine: "caresync"
                            implementation:
                              range:
                                column: "allowed_amount"
                                min: "0.00"
                            dimension: "conformity"
                            severity: "error"
                      - name: "rendering_npi"
                        logicalType: "string"
                        logicalTypeOptions:
                          pattern: "^[12][0-9]{9}$"
                        physicalType: "string"
                        required: false
                        customProperties:
                          - property: "caresyncCodeSystem"
                            value: "npi"
                      - name: "service_date"
                        logicalType: "date"
                        physicalType: "date"
                        required: false
                        classification: "confidential"
                        customProperties:
                          - property: "caresyncPhi"
                            value: "quasi_identifier"
                        quality:
                          - name: "service_date_recorded"
                            description: "service_date has a value"
                            type: "library"
                            metric: "nullValues"
                            mustBe: 0
                            unit: "rows"
                            dimension: "completeness"
                            severity: "warning"
                          - name: "service_date_since_1900"
                            description: "service_date is at least 1900-01-01"
                            type: "custom"
                            engine: "caresync"
                            implementation:
                              range:
                                column: "service_date"
                                min: "1900-01-01"
                            dimension: "conformity"
                            severity: "error"
            "#]],
        );
    }

    /// Every type, PHI class, pattern, code system and kind of rule and
    /// bound, with names and values that need quoting.
    const EVERYTHING: &str = r##"
entity = "odd: \"entity\" #1"
version = "2.0.0-rc.1+build.5"

[[field]]
name = "- id"
type = "int64"
required = true
primary_key = true

[[field]]
name = "key\\two"
type = "string"
required = true
primary_key = true
phi = "identifier"
pattern = "phone_us"

[[field]]
name = "ratio"
type = "float32"

[[field]]
name = "score"
type = "float64"

[[field]]
name = "amount"
type = "decimal(10,3)"

[[field]]
name = "flag"
type = "boolean"

[[field]]
name = "born"
type = "date"
phi = "quasi_identifier"

[[field]]
name = "seen_at"
type = "timestamp"

[[field]]
name = "blob"
type = "binary"

[[field]]
name = "lab"
type = "string"
code_system = "loinc"
pattern = "zip"

[[field]]
name = "note_at"
type = "string"
phi = "sensitive"
pattern = "hl7_datetime"

[[field]]
name = "on"
type = "string"
pattern = "date"

[[field]]
name = "hl7_on"
type = "string"
pattern = "hl7_date"

[[rule]]
name = "ratio: a share"
severity = "warning"
range = { column = "ratio", min = 0, max = 1 }

[[rule]]
name = "score below"
severity = "error"
range = { column = "score", max = -1.5 }

[[rule]]
name = "amount range"
severity = "error"
range = { column = "amount", min = "-12.345", max = 99999 }

[[rule]]
name = "seen"
severity = "error"
range = { column = "seen_at", min = 1970-01-01T01:00:00.25+01:00, max = 2100-01-01T00:00:00Z }

[[rule]]
name = "born by"
severity = "warning"
range = { column = "born", max = 2100-12-31 }

[[rule]]
name = "#keys"
severity = "warning"
allowed = { column = "key\\two", values = ["a\nb", "#x", "- y", "c: d", "\"q\"", "yes", "", "\u00e9\u2028"] }

[[rule]]
name = "born when"
severity = "error"
required_if = { column = "born", when = "key\\two", equals = "line\nbreak" }

[[rule]]
name = "ratio first"
severity = "warning"
order = { before = "ratio", after = "score" }

[[rule]]
name = "multi\nline \"rule\""
severity = "error"
not_null = "blob"
"##;

    #[test]
    fn every_kind_of_field_and_rule_exports_exactly() {
        let contract = Contract::from_toml(EVERYTHING, "everything.toml").expect("valid");
        let yaml = to_odcs_yaml(&contract);
        for field in &contract.fields {
            let mut name = String::new();
            yaml::quote(&mut name, &field.name);
            assert!(yaml.contains(&format!("  - name: {name}\n")), "{name}");
        }
        for rule in &contract.rules {
            let mut name = String::new();
            yaml::quote(&mut name, &rule.name);
            assert_eq!(
                yaml.matches(&format!("- name: {name}\n")).count(),
                1,
                "{name}"
            );
        }
        check(
            &contract,
            expect![[r##"
            apiVersion: "v3.1.0"
            kind: "DataContract"
            id: "caresync:odd: \"entity\" #1"
            name: "odd: \"entity\" #1"
            version: "2.0.0-rc.1+build.5"
            status: "active"
            schema:
              - name: "odd: \"entity\" #1"
                physicalType: "table"
                logicalType: "object"
                properties:
                  - name: "- id"
                    logicalType: "integer"
                    logicalTypeOptions:
                      format: "i64"
                    physicalType: "int64"
                    required: true
                    primaryKey: true
                    primaryKeyPosition: 1
                  - name: "key\\two"
                    logicalType: "string"
                    logicalTypeOptions:
                      pattern: "^([2-9][0-9]{2}[2-9][0-9]{6}|[2-9][0-9]{2}-[2-9][0-9]{2}-[0-9]{4}|\\([2-9][0-9]{2}\\) [2-9][0-9]{2}-[0-9]{4})$"
                    physicalType: "string"
                    required: true
                    primaryKey: true
                    primaryKeyPosition: 2
                    classification: "restricted"
                    customProperties:
                      - property: "caresyncPhi"
                        value: "identifier"
                      - property: "caresyncPattern"
                        value: "phone_us"
                    quality:
                      - name: "#keys"
                        description: "key\\two is one of the valid values"
                        type: "library"
                        metric: "invalidValues"
                        arguments:
                          validValues:
                            - "a\nb"
                            - "#x"
                            - "- y"
                            - "c: d"
                            - "\"q\""
                            - "yes"
                            - ""
                            - "é\u2028"
                        mustBe: 0
                        unit: "rows"
                        dimension: "conformity"
                        severity: "warning"
                  - name: "ratio"
                    logicalType: "number"
                    logicalTypeOptions:
                      format: "f32"
                    physicalType: "float32"
                    required: false
                    quality:
                      - name: "ratio: a share"
                        description: "ratio is between 0.0 and 1.0, inclusive"
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          range:
                            column: "ratio"
                            min: 0.0
                            max: 1.0
                        dimension: "conformity"
                        severity: "warning"
                  - name: "score"
                    logicalType: "number"
                    logicalTypeOptions:
                      format: "f64"
                    physicalType: "float64"
                    required: false
                    quality:
                      - name: "score below"
                        description: "score is at most -1.5"
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          range:
                            column: "score"
                            max: -1.5
                        dimension: "conformity"
                        severity: "error"
                  - name: "amount"
                    logicalType: "number"
                    physicalType: "decimal(10,3)"
                    required: false
                    quality:
                      - name: "amount range"
                        description: "amount is between -12.345 and 99999.000, inclusive"
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          range:
                            column: "amount"
                            min: "-12.345"
                            max: "99999.000"
                        dimension: "conformity"
                        severity: "error"
                  - name: "flag"
                    logicalType: "boolean"
                    physicalType: "boolean"
                    required: false
                  - name: "born"
                    logicalType: "date"
                    physicalType: "date"
                    required: false
                    classification: "confidential"
                    customProperties:
                      - property: "caresyncPhi"
                        value: "quasi_identifier"
                    quality:
                      - name: "born by"
                        description: "born is at most 2100-12-31"
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          range:
                            column: "born"
                            max: "2100-12-31"
                        dimension: "conformity"
                        severity: "warning"
                  - name: "seen_at"
                    logicalType: "timestamp"
                    logicalTypeOptions:
                      timezone: true
                      defaultTimezone: "Etc/UTC"
                    physicalType: "timestamp"
                    required: false
                    quality:
                      - name: "seen"
                        description: "seen_at is between 1970-01-01T00:00:00.25Z and 2100-01-01T00:00:00Z, inclusive"
                        type: "custom"
                        engine: "caresync"
                        implementation:
                          range:
                            column: "seen_at"
                            min: "1970-01-01T00:00:00.25Z"
                            max: "2100-01-01T00:00:00Z"
                        dimension: "conformity"
                        severity: "error"
                  - name: "blob"
                    logicalType: "string"
                    logicalTypeOptions:
                      format: "binary"
                    physicalType: "binary"
                    required: false
                    quality:
                      - name: "multi\nline \"rule\""
                        description: "blob has a value"
                        type: "library"
                        metric: "nullValues"
                        mustBe: 0
                        unit: "rows"
                        dimension: "completeness"
                        severity: "error"
                  - name: "lab"
                    logicalType: "string"
                    logicalTypeOptions:
                      pattern: "^(?=[0-9]{1,7}-[0-9]$)[0-9]{5}(-[0-9]{4})?$"
                    physicalType: "string"
                    required: false
                    customProperties:
                      - property: "caresyncCodeSystem"
                        value: "loinc"
                      - property: "caresyncPattern"
                        value: "zip"
                  - name: "note_at"
                    logicalType: "string"
                    logicalTypeOptions:
                      pattern: "^[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])(([01][0-9]|2[0-3])[0-5][0-9]([0-5][0-9](\\.[0-9]{1,4})?)?)?([+-](0[0-9]|1[0-4])[0-5][0-9])?$"
                    physicalType: "string"
                    required: false
                    classification: "restricted"
                    customProperties:
                      - property: "caresyncPhi"
                        value: "sensitive"
                      - property: "caresyncPattern"
                        value: "hl7_datetime"
                  - name: "on"
                    logicalType: "string"
                    logicalTypeOptions:
                      pattern: "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
                    physicalType: "string"
                    required: false
                    customProperties:
                      - property: "caresyncPattern"
                        value: "date"
                  - name: "hl7_on"
                    logicalType: "string"
                    logicalTypeOptions:
                      pattern: "^[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$"
                    physicalType: "string"
                    required: false
                    customProperties:
                      - property: "caresyncPattern"
                        value: "hl7_date"
                quality:
                  - name: "born when"
                    description: "born has a value when key\\two is \"line\\nbreak\""
                    type: "custom"
                    engine: "caresync"
                    implementation:
                      required_if:
                        column: "born"
                        when: "key\\two"
                        equals: "line\nbreak"
                    dimension: "completeness"
                    severity: "error"
                  - name: "ratio first"
                    description: "ratio is not after score when both have values"
                    type: "custom"
                    engine: "caresync"
                    implementation:
                      order:
                        before: "ratio"
                        after: "score"
                    dimension: "consistency"
                    severity: "warning"
        "##]],
        );
    }

    #[test]
    fn bounds_read_as_toml_writes_them() {
        assert_eq!(decimal_text(1_250, 2), "12.50");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(-12_345, 3), "-12.345");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(
            decimal_text(i128::MIN, 38),
            "-1.70141183460469231731687303715884105728"
        );
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(-1.5), "-1.5");
        assert_eq!(float_text(1e21), "1000000000000000000000.0");
        assert_eq!(float_text(f64::NEG_INFINITY), "-.inf");
        assert_eq!(date_text(-25_567), "1900-01-01");
        assert_eq!(timestamp_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp_text(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(timestamp_text(1_500_000_000), "1970-01-01T00:00:01.5Z");
        // Nothing a caller can build panics.
        for nanos in [i128::MIN, i128::MAX] {
            assert!(timestamp_text(nanos).ends_with('Z'));
        }
    }
}
