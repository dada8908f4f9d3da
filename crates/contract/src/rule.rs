//! Quality rules: named checks across a contract's fields, each with a
//! severity, and their TOML form (`[[rule]]` tables).

use std::fmt;

use caresync_core::ErrorCode;
use caresync_core::calendar::days_from_civil;
use serde::Deserialize;
use toml::Spanned;

use crate::model::{Field, FieldType};
use crate::pattern::iso_date;
use crate::validate::{MISSING_CONDITIONAL, NOT_ALLOWED, NULL_BY_RULE, OUT_OF_ORDER, OUT_OF_RANGE};

/// How much a broken rule weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Reported, and the row is kept.
    Warning,
    /// The row is refused (it goes to the dead-letter table).
    Error,
}

impl Severity {
    /// The name contracts use: `warning`, `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named quality rule of a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// Its name, unique within the contract; violations carry it.
    pub name: String,
    /// Whether breaking it refuses the row.
    pub severity: Severity,
    /// What it checks.
    pub check: Check,
}

/// What a rule checks. Every kind lets nulls pass except `NotNull` and
/// `RequiredIf`, whose point is nulls.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// `not_null = "col"`: the column has a value.
    NotNull {
        /// The column.
        column: String,
    },
    /// `range = { column, min, max }`: the value lies within the bounds,
    /// both inclusive, either optional. NaN lies within no range.
    Range {
        /// The column (integer, float, decimal, date or timestamp).
        column: String,
        /// The least value allowed.
        min: Option<Bound>,
        /// The greatest value allowed.
        max: Option<Bound>,
    },
    /// `allowed = { column, values }`: the value is one of `values`
    /// (exact, case-sensitive).
    Allowed {
        /// The column (string).
        column: String,
        /// The values allowed.
        values: Vec<String>,
    },
    /// `order = { before, after }`: when both have values, `before <= after`.
    Order {
        /// The column that comes first.
        before: String,
        /// The column that comes second; violations are reported on it.
        after: String,
    },
    /// `required_if = { column, when, equals }`: the column has a value
    /// whenever the string column `when` holds `equals`.
    RequiredIf {
        /// The column that must have a value.
        column: String,
        /// The string column the condition reads.
        when: String,
        /// The value of `when` that makes `column` required.
        equals: String,
    },
}

impl Check {
    /// The code of a violation of this check.
    pub fn code(&self) -> ErrorCode {
        match self {
            Check::NotNull { .. } => NULL_BY_RULE,
            Check::Range { .. } => OUT_OF_RANGE,
            Check::Allowed { .. } => NOT_ALLOWED,
            Check::Order { .. } => OUT_OF_ORDER,
            Check::RequiredIf { .. } => MISSING_CONDITIONAL,
        }
    }

    /// The column a violation is reported on.
    pub fn column(&self) -> &str {
        match self {
            Check::NotNull { column }
            | Check::Range { column, .. }
            | Check::Allowed { column, .. }
            | Check::RequiredIf { column, .. } => column,
            Check::Order { after, .. } => after,
        }
    }

    /// Every column the check reads, the reported one first.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Check::Order { before, after } => vec![after, before],
            Check::RequiredIf { column, when, .. } => vec![column, when],
            other => vec![other.column()],
        }
    }
}

/// A bound of a range rule, in its column's type.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Bound {
    /// For `int32` and `int64` columns.
    Int(i64),
    /// For `float32` and `float64` columns; never NaN.
    Float(f64),
    /// For `decimal(p,s)` columns: the unscaled value at the field's scale
    /// (`12.5` at scale 2 is `1250`).
    Decimal(i128),
    /// For `date` columns: days since 1970-01-01.
    Date(i32),
    /// For `timestamp` columns: nanoseconds since 1970-01-01T00:00:00Z.
    Timestamp(i128),
}

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(std::cmp::Ordering::Equal)
    }
}

/// Bounds are never NaN, so equality is an equivalence.
impl Eq for Bound {}

impl PartialOrd for Bound {
    /// Bounds of the same kind compare; of different kinds, not at all.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Bound::Int(a), Bound::Int(b)) => a.partial_cmp(b),
            (Bound::Float(a), Bound::Float(b)) => a.partial_cmp(b),
            (Bound::Decimal(a), Bound::Decimal(b)) => a.partial_cmp(b),
            (Bound::Date(a), Bound::Date(b)) => a.partial_cmp(b),
            (Bound::Timestamp(a), Bound::Timestamp(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

/// Whether every row that passes `strict` passes `loose` too (used by the
/// compatibility check; checks of different kinds never imply each other,
/// except that a column's `not_null` implies every `required_if` on it).
pub(crate) fn implies(strict: &Check, loose: &Check) -> bool {
    match (strict, loose) {
        (a, b) if a == b => true,
        (
            Check::Range {
                column: c1,
                min: min1,
                max: max1,
            },
            Check::Range {
                column: c2,
                min: min2,
                max: max2,
            },
        ) => {
            // `strict`'s interval lies inside `loose`'s.
            let min_ok = match (min1, min2) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a >= b,
            };
            let max_ok = match (max1, max2) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a <= b,
            };
            c1 == c2 && min_ok && max_ok
        }
        (
            Check::Allowed {
                column: c1,
                values: v1,
            },
            Check::Allowed {
                column: c2,
                values: v2,
            },
        ) => c1 == c2 && v1.iter().all(|v| v2.contains(v)),
        (Check::NotNull { column: c1 }, Check::RequiredIf { column: c2, .. }) => c1 == c2,
        _ => false,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    name: Spanned<String>,
    severity: Spanned<String>,
    #[serde(default)]
    not_null: Option<Spanned<String>>,
    #[serde(default)]
    range: Option<RawRange>,
    #[serde(default)]
    allowed: Option<RawAllowed>,
    #[serde(default)]
    order: Option<RawOrder>,
    #[serde(default)]
    required_if: Option<RawRequiredIf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    column: Spanned<String>,
    #[serde(default)]
    min: Option<Spanned<toml::Value>>,
    #[serde(default)]
    max: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowed {
    column: Spanned<String>,
    values: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrder {
    before: Spanned<String>,
    after: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequiredIf {
    column: Spanned<String>,
    when: Spanned<String>,
    equals: Spanned<String>,
}

/// A rule that cannot be used: where (a byte span of the text), which
/// rule, and what is wrong.
pub(crate) struct RuleError {
    pub(crate) span: std::ops::Range<usize>,
    pub(crate) rule: String,
    pub(crate) message: String,
}

/// The rules of a contract whose fields are `fields`, checked: unique
/// names, a known severity, exactly one check, columns that exist and
/// suit the check.
pub(crate) fn rules(raw: Vec<RawRule>, fields: &[Field]) -> Result<Vec<Rule>, RuleError> {
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.len());
    for r in raw {
        let name = r.name.get_ref().clone();
        let fail = |span: std::ops::Range<usize>, message: &str| RuleError {
            span,
            rule: if name.is_empty() {
                "(unnamed)".to_owned()
            } else {
                name.clone()
            },
            message: message.to_owned(),
        };
        if name.is_empty() {
            return Err(fail(r.name.span(), "an empty name"));
        }
        if rules.iter().any(|q| q.name == name) {
            return Err(fail(r.name.span(), "listed twice"));
        }
        let severity = match r.severity.get_ref().as_str() {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => {
                return Err(fail(r.severity.span(), "unknown severity (error, warning)"));
            }
        };
        // The type of a column the rule names, or an error at its span.
        let column = |c: &Spanned<String>| -> Result<(String, FieldType), RuleError> {
            match fields.iter().find(|f| f.name == *c.get_ref()) {
                Some(f) => Ok((f.name.clone(), f.field_type)),
                None => Err(fail(
                    c.span(),
                    &format!("no field {} in this contract", c.get_ref()),
                )),
            }
        };
        let kinds = usize::from(r.not_null.is_some())
            + usize::from(r.range.is_some())
            + usize::from(r.allowed.is_some())
            + usize::from(r.order.is_some())
            + usize::from(r.required_if.is_some());
        if kinds != 1 {
            return Err(fail(r.name.span(), EXACTLY_ONE));
        }
        let check = if let Some(c) = &r.not_null {
            Check::NotNull {
                column: column(c)?.0,
            }
        } else if let Some(range) = &r.range {
            let (col, ty) = column(&range.column)?;
            if !ranged(ty) {
                return Err(fail(
                    range.column.span(),
                    &format!(
                        "a range needs an integer, float, decimal, date or timestamp column, and {col} is {ty}"
                    ),
                ));
            }
            let read = |v: &Option<Spanned<toml::Value>>| match v {
                None => Ok(None),
                Some(v) => bound(v.get_ref(), ty)
                    .map(Some)
                    .map_err(|why| fail(v.span(), why)),
            };
            let (min, max) = (read(&range.min)?, read(&range.max)?);
            match (min, max) {
                (None, None) => return Err(fail(range.column.span(), "a range needs min or max")),
                (Some(lo), Some(hi)) if lo > hi => {
                    return Err(fail(range.column.span(), "min is greater than max"));
                }
                _ => {}
            }
            Check::Range {
                column: col,
                min,
                max,
            }
        } else if let Some(allowed) = &r.allowed {
            let (col, ty) = column(&allowed.column)?;
            if ty != FieldType::String {
                return Err(fail(
                    allowed.column.span(),
                    &format!("allowed values need a string column, and {col} is {ty}"),
                ));
            }
            if allowed.values.get_ref().is_empty() {
                return Err(fail(allowed.values.span(), "no values allowed"));
            }
            Check::Allowed {
                column: col,
                values: allowed.values.get_ref().clone(),
            }
        } else if let Some(order) = &r.order {
            let (before, t1) = column(&order.before)?;
            let (after, t2) = column(&order.after)?;
            if before == after {
                return Err(fail(order.after.span(), "a column ordered against itself"));
            }
            let integer = |t| matches!(t, FieldType::Int32 | FieldType::Int64);
            let float = |t| matches!(t, FieldType::Float32 | FieldType::Float64);
            let comparable = ranged(t1)
                && (t1 == t2 || (integer(t1) && integer(t2)) || (float(t1) && float(t2)));
            if !comparable {
                return Err(fail(
                    order.after.span(),
                    &format!(
                        "order needs two integer, float, decimal, date or timestamp columns of one type, and {before} is {t1}, {after} is {t2}"
                    ),
                ));
            }
            Check::Order { before, after }
        } else if let Some(cond) = &r.required_if {
            let (col, _) = column(&cond.column)?;
            let (when, ty) = column(&cond.when)?;
            if ty != FieldType::String {
                return Err(fail(
                    cond.when.span(),
                    &format!("the condition needs a string column, and {when} is {ty}"),
                ));
            }
            if col == when {
                return Err(fail(cond.when.span(), "a column conditioned on itself"));
            }
            Check::RequiredIf {
                column: col,
                when,
                equals: cond.equals.get_ref().clone(),
            }
        } else {
            return Err(fail(r.name.span(), EXACTLY_ONE));
        };
        rules.push(Rule {
            name,
            severity,
            check,
        });
    }
    Ok(rules)
}

/// Whether values of `ty` have an order a range or an order rule can use.
fn ranged(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Int32
            | FieldType::Int64
            | FieldType::Float32
            | FieldType::Float64
            | FieldType::Decimal { .. }
            | FieldType::Date
            | FieldType::Timestamp
    )
}

/// A range bound for a column of `ty`, from its TOML value.
fn bound(value: &toml::Value, ty: FieldType) -> Result<Bound, &'static str> {
    use toml::Value;
    match (ty, value) {
        (FieldType::Int32 | FieldType::Int64, Value::Integer(i)) => Ok(Bound::Int(*i)),
        (FieldType::Int32 | FieldType::Int64, _) => Err("an integer column's bound is an integer"),
        // Integers up to 2^53 are exact as floats, and bounds are smaller.
        (FieldType::Float32 | FieldType::Float64, Value::Integer(i)) => Ok(Bound::Float(*i as f64)),
        (FieldType::Float32 | FieldType::Float64, Value::Float(f)) if !f.is_nan() => {
            Ok(Bound::Float(*f))
        }
        (FieldType::Float32 | FieldType::Float64, _) => {
            Err("a float column's bound is a number (not NaN)")
        }
        (FieldType::Decimal { scale, .. }, v) => {
            let text = match v {
                Value::Integer(i) => i.to_string(),
                // Display gives the shortest text that reads back as the
                // same float, never an exponent: `0.1`, not `0.1000000001`.
                Value::Float(f) => f.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            decimal(&text, scale).map(Bound::Decimal).ok_or(
                "a decimal column's bound is a number or a decimal string with at most the field's scale of digits after the point",
            )
        }
        (FieldType::Date, v) => {
            let date = match v {
                Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => d
                    .date
                    .map(|d| (i64::from(d.year), i64::from(d.month), i64::from(d.day))),
                Value::String(s) => iso_date(s.as_bytes())
                    .map(|(y, m, d)| (i64::from(y), i64::from(m), i64::from(d))),
                _ => None,
            };
            date.and_then(|(y, m, d)| i32::try_from(days_from_civil(y, m, d)).ok())
                .map(Bound::Date)
                .ok_or("a date column's bound is a date (1900-01-01)")
        }
        (FieldType::Timestamp, Value::Datetime(t)) => match (t.date, t.time, t.offset) {
            (Some(d), Some(time), Some(offset)) => {
                let days = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day));
                let offset_minutes = match offset {
                    toml::value::Offset::Z => 0,
                    toml::value::Offset::Custom { minutes } => i64::from(minutes),
                };
                let seconds = days * 86_400
                    + i64::from(time.hour) * 3_600
                    + i64::from(time.minute) * 60
                    + i64::from(time.second)
                    - offset_minutes * 60;
                Ok(Bound::Timestamp(
                    i128::from(seconds) * 1_000_000_000 + i128::from(time.nanosecond),
                ))
            }
            _ => Err(TIMESTAMP_BOUND),
        },
        (FieldType::Timestamp, _) => Err(TIMESTAMP_BOUND),
        _ => Err("this column's type takes no range"),
    }
}

const EXACTLY_ONE: &str =
    "a rule takes exactly one check (not_null, range, allowed, order, required_if)";

const TIMESTAMP_BOUND: &str =
    "a timestamp column's bound is a date-time with an offset (2000-01-01T00:00:00Z)";

/// `-12.5` at `scale` 2 is `-1250`: an optional sign, digits, and at most
/// `scale` digits after an optional point.
fn decimal(text: &str, scale: u8) -> Option<i128> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    let (whole, fraction): (&[u8], &[u8]) = match digits.iter().position(|&c| c == b'.') {
        Some(at) => (&digits[..at], &digits[at + 1..]),
        None => (digits, &[]),
    };
    if whole.is_empty() || fraction.len() > usize::from(scale) {
        return None;
    }
    let padding = usize::from(scale) - fraction.len();
    let unscaled = whole
        .iter()
        .chain(fraction)
        .chain(std::iter::repeat_n(&b'0', padding))
        .try_fold(0i128, |n, &c| {
            c.is_ascii_digit()
                .then_some(())
                .and_then(|()| n.checked_mul(10)?.checked_add(i128::from(c - b'0')))
        })?;
    Some(if negative { -unscaled } else { unscaled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_bounds_are_read_at_the_fields_scale() {
        assert_eq!(decimal("12.5", 2), Some(1250));
        assert_eq!(decimal("-0.01", 2), Some(-1));
        assert_eq!(decimal("7", 0), Some(7));
        assert_eq!(decimal("0.001", 2), None);
        assert_eq!(decimal(".5", 2), None);
        assert_eq!(decimal("1e3", 2), None);
        assert_eq!(decimal("", 2), None);
        assert_eq!(decimal("1.", 2), Some(100));
    }

    #[test]
    fn a_stricter_check_implies_a_looser_one() {
        let range = |min: Option<i64>, max: Option<i64>| Check::Range {
            column: "n".to_owned(),
            min: min.map(Bound::Int),
            max: max.map(Bound::Int),
        };
        assert!(implies(&range(Some(0), Some(10)), &range(Some(0), None)));
        assert!(implies(&range(Some(1), Some(9)), &range(Some(0), Some(10))));
        assert!(!implies(&range(None, Some(9)), &range(Some(0), Some(10))));
        assert!(!implies(
            &range(Some(0), Some(11)),
            &range(Some(0), Some(10))
        ));
        let allowed = |values: &[&str]| Check::Allowed {
            column: "s".to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        assert!(implies(&allowed(&["a"]), &allowed(&["a", "b"])));
        assert!(!implies(&allowed(&["a", "c"]), &allowed(&["a", "b"])));
        let not_null = Check::NotNull {
            column: "s".to_owned(),
        };
        let required_if = Check::RequiredIf {
            column: "s".to_owned(),
            when: "t".to_owned(),
            equals: "x".to_owned(),
        };
        assert!(implies(&not_null, &required_if));
        assert!(!implies(&required_if, &not_null));
    }
}
