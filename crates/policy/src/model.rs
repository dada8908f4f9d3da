//! The policy model and its TOML form.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// The HL7 v3 `PurposeOfUse` codes a policy may name (the ones in use for
/// treatment, payment, operations, research, public health, marketing,
/// legal and the patient's own requests).
pub const PURPOSES_OF_USE: &[&str] = &[
    "TREAT",
    "ETREAT",
    "BTG",
    "CAREMGT",
    "CLINTRCH",
    "POPHLTH",
    "HPAYMT",
    "CLMATTCH",
    "COVAUTH",
    "COVERAGE",
    "ELIGDTRM",
    "ELIGVER",
    "ENROLLM",
    "REMITADV",
    "HOPERAT",
    "HQUALIMP",
    "HSYSADMIN",
    "HACCRED",
    "HCOMPL",
    "HRESCH",
    "PUBHLTH",
    "HMARKT",
    "HDIRECT",
    "HLEGAL",
    "PATRQT",
    "FAMRQT",
    "PWATRNY",
    "SUPNWK",
    "TRAIN",
    "HTEST",
    "SYSDEV",
    "DECEASED",
    "DONAT",
    "FRAUD",
    "GOV",
];

/// One version of a policy: per table and column, by purpose of use and
/// role, how values are masked, and which rows are withheld.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// The purposes of use it serves; a request for another is refused.
    pub purposes: Vec<String>,
    /// The roles it knows (`policy check` checks each with each purpose).
    pub roles: Vec<String>,
    /// Where each named key comes from; never the key itself.
    pub keys: BTreeMap<String, KeySource>,
    /// The tables it covers; a table not listed is refused.
    pub tables: Vec<TablePolicy>,
}

/// Where a key's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// An environment variable holding the key.
    Env(String),
    /// A file holding the key (one trailing newline is not part of it).
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// What a policy says about one table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TablePolicy {
    /// The table (the contract's entity).
    pub name: String,
    /// The method of columns no rule matches: `keep`, `null` (the default:
    /// fail closed) or `redact`.
    pub default: Method,
    /// The masking rules; the first that matches a column, purpose and role
    /// decides.
    pub rules: Vec<Rule>,
    /// Where each row's consent is held, if the table carries consent.
    pub consent: Option<Consent>,
    /// Rows withheld by predicate.
    pub filters: Vec<RowFilter>,
}

/// One masking rule.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// The columns it covers.
    pub columns: Vec<String>,
    /// The purposes it applies to (`None`: every purpose).
    pub purposes: Option<Vec<String>>,
    /// The roles it applies to (`None`: every role, and requests without one).
    pub roles: Option<Vec<String>>,
    /// The method.
    pub method: Method,
    /// The line of the policy file it was read from.
    pub line: usize,
}

impl Rule {
    /// Whether the rule covers `column` for `purpose` and `role`.
    pub fn matches(&self, column: &str, purpose: &str, role: Option<&str>) -> bool {
        self.columns.iter().any(|c| c == column)
            && scope_matches(&self.purposes, &self.roles, purpose, role)
    }
}

fn scope_matches(
    purposes: &Option<Vec<String>>,
    roles: &Option<Vec<String>>,
    purpose: &str,
    role: Option<&str>,
) -> bool {
    let purpose_ok = purposes
        .as_ref()
        .is_none_or(|ps| ps.iter().any(|p| p == purpose));
    let role_ok = match (roles, role) {
        (None, _) => true,
        (Some(rs), Some(role)) => rs.iter().any(|r| r == role),
        (Some(_), None) => false,
    };
    purpose_ok && role_ok
}

/// How a column's values are masked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Served as stored.
    Keep,
    /// Every value becomes null.
    Null,
    /// Every value becomes the same text.
    Redact {
        /// The text.
        with: String,
    },
    /// HMAC-SHA256 of the value's bytes (UTF-8 text; integers as decimal
    /// text) under a key, as 64 lower-case hex digits: the same value gives
    /// the same pseudonym, so masked tables still join.
    Hash {
        /// The key's name.
        key: String,
    },
    /// A keyed pseudonym of the same shape: each ASCII digit becomes a
    /// digit, each ASCII letter a letter of the same case, other ASCII
    /// characters stay, and any other character becomes a lower-case ASCII
    /// letter. Equal values get equal tokens, but tokens are not unique
    /// (a six-digit id has a million tokens): never a key.
    Tokenize {
        /// The key's name.
        key: String,
    },
    /// A coarser value.
    Generalize(Generalization),
    /// Dates moved by a whole number of days, the same for every row of one
    /// patient (keyed on the `by` column's value, as text), never by zero.
    /// The same for a patient across tables only under the same key and
    /// `max_days`. In text, a date may be followed by a time of day only
    /// (`T10:00`, ` 10:00:00Z`, HL7 `1000+0100`); anything else is withheld.
    DateShift {
        /// The key's name.
        key: String,
        /// The column naming the patient.
        by: String,
        /// The largest shift, in days.
        max_days: u32,
    },
    /// A value from a list: the only one, or one picked by a keyed hash of
    /// the original, so equal values get equal substitutes.
    Substitute {
        /// The substitutes.
        values: Vec<String>,
        /// The key picking among several.
        key: Option<String>,
    },
}

impl Method {
    /// The method's name as written in policy files.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Keep => "keep",
            Method::Null => "null",
            Method::Redact { .. } => "redact",
            Method::Hash { .. } => "hash",
            Method::Tokenize { .. } => "tokenize",
            Method::Generalize(_) => "generalize",
            Method::DateShift { .. } => "date_shift",
            Method::Substitute { .. } => "substitute",
        }
    }

    /// The key the method needs, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Method::Hash { key } | Method::Tokenize { key } | Method::DateShift { key, .. } => {
                Some(key)
            }
            Method::Substitute { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Generalize(g) => write!(f, "generalize to {}", g.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// A coarser form of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Generalization {
    /// A date or time becomes 1 January of its year (text becomes `YYYY`).
    Year,
    /// A birth date becomes its year, and every birth date of a person 90
    /// or older (on the request's date) the one year `as_of − 90`: HIPAA
    /// Safe Harbor's single category "90 or older".
    BirthYear,
    /// A ZIP code becomes its first three digits, or `000` where the
    /// three-digit area holds 20,000 people or fewer (Safe Harbor's list).
    Zip3,
    /// An age over 89 becomes 90 (`90+` in text).
    Age,
}

impl Generalization {
    /// The name as written in policy files.
    pub fn name(self) -> &'static str {
        match self {
            Generalization::Year => "year",
            Generalization::BirthYear => "birth_year",
            Generalization::Zip3 => "zip3",
            Generalization::Age => "age",
        }
    }
}

/// Where a table holds each row's consent to purposes of use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Consent {
    /// The column: text listing purpose codes (separated by commas, spaces,
    /// semicolons or `|`) or a list of texts.
    pub column: String,
    /// What the column lists.
    pub holds: ConsentHolds,
}

/// What a consent column lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsentHolds {
    /// The purposes the patient refused: a row listing the request's
    /// purpose is withheld; a row without a value is served.
    Excluded,
    /// The purposes the patient allowed: only rows listing the request's
    /// purpose are served; a row without a value is withheld.
    Permitted,
}

/// Rows withheld when a condition holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowFilter {
    /// The purposes it applies to (`None`: every purpose).
    pub purposes: Option<Vec<String>>,
    /// The roles it applies to (`None`: every role).
    pub roles: Option<Vec<String>>,
    /// The column tested.
    pub column: String,
    /// The condition that withholds a row.
    pub condition: Condition,
}

impl RowFilter {
    /// Whether the filter applies to `purpose` and `role`.
    pub fn applies(&self, purpose: &str, role: Option<&str>) -> bool {
        scope_matches(&self.purposes, &self.roles, purpose, role)
    }
}

/// A test of one column's value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// The value equals the literal.
    Equals(Literal),
    /// The value is one of the literals.
    In(Vec<Literal>),
    /// The value is null.
    IsNull,
}

/// A literal in a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Literal {
    /// Text.
    String(String),
    /// True or false.
    Bool(bool),
    /// An integer.
    Int(i64),
}

/// A policy file that cannot be used. Messages name the file, the line and
/// the field, never a value of the data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not valid TOML, or not a policy's shape.
    #[error("[POLICY-0001] {file}:{line}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The policy parses but says something impossible.
    #[error("[POLICY-0002] {file}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// The field (`version`, `table encounter`, `rule for mrn`...).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl PolicyError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Parse { .. } => "POLICY-0001",
            PolicyError::Invalid { .. } => "POLICY-0002",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    policy: String,
    version: Spanned<String>,
    #[serde(default)]
    purposes: Vec<Spanned<String>>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<RawKey>>,
    #[serde(rename = "table", default)]
    tables: Vec<Spanned<RawTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    env: Option<String>,
    file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: String,
    default: Option<Spanned<String>>,
    #[serde(rename = "rule", default)]
    rules: Vec<Spanned<RawRule>>,
    consent: Option<Spanned<RawConsent>>,
    #[serde(rename = "filter", default)]
    filters: Vec<Spanned<RawFilter>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    columns: Vec<String>,
    purposes: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    method: String,
    key: Option<String>,
    with: Option<String>,
    values: Option<Vec<String>>,
    to: Option<String>,
    by: Option<String>,
    max_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsent {
    column: String,
    holds: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    purposes: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    drop_when: RawCondition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    column: String,
    equals: Option<toml::Value>,
    #[serde(rename = "in")]
    one_of: Option<Vec<toml::Value>>,
    is_null: Option<bool>,
}

/// Reads one policy file, keeping the file name for its errors.
struct Reader<'a> {
    text: &'a str,
    file: &'a str,
}

impl Reader<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn invalid(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line: self.line_of(span.start),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn purposes(
        &self,
        span: Range<usize>,
        field: &str,
        purposes: Option<Vec<String>>,
    ) -> Result<Option<Vec<String>>, PolicyError> {
        if let Some(ps) = &purposes {
            if ps.is_empty() {
                return Err(self.invalid(span, field, "an empty purposes list matches nothing"));
            }
            if let Some(p) = ps.iter().find(|p| !PURPOSES_OF_USE.contains(&p.as_str())) {
                return Err(self.invalid(span, field, unknown_purpose(p)));
            }
        }
        Ok(purposes)
    }

    fn roles(
        &self,
        span: Range<usize>,
        field: &str,
        roles: Option<Vec<String>>,
        declared: &[String],
    ) -> Result<Option<Vec<String>>, PolicyError> {
        if let Some(rs) = &roles {
            if rs.is_empty() {
                return Err(self.invalid(span, field, "an empty roles list matches nothing"));
            }
            if let Some(r) = rs.iter().find(|r| !declared.contains(r)) {
                let r: String = r.chars().take(40).collect();
                return Err(self.invalid(
                    span,
                    field,
                    format!("role {r:?} is not declared in the policy's roles"),
                ));
            }
        }
        Ok(roles)
    }

    fn method(&self, span: Range<usize>, field: &str, raw: RawRule) -> Result<Method, PolicyError> {
        let bad = |message: String| self.invalid(span.clone(), field, message);
        let unused = |name: &str, given: bool| -> Result<(), PolicyError> {
            if given {
                Err(bad(format!(
                    "{name} does not apply to method {}",
                    raw.method
                )))
            } else {
                Ok(())
            }
        };
        let need_key = |key: &Option<String>| {
            key.clone()
                .ok_or_else(|| bad(format!("method {} needs a key", raw.method)))
        };
        let method = match raw.method.as_str() {
            "keep" => Method::Keep,
            "null" => Method::Null,
            "redact" => Method::Redact {
                with: raw.with.clone().unwrap_or_else(|| "REDACTED".to_owned()),
            },
            "hash" => Method::Hash {
                key: need_key(&raw.key)?,
            },
            "tokenize" => Method::Tokenize {
                key: need_key(&raw.key)?,
            },
            "generalize" => {
                let to = raw.to.as_deref().unwrap_or_default();
                Method::Generalize(match to {
                    "year" => Generalization::Year,
                    "birth_year" => Generalization::BirthYear,
                    "zip3" => Generalization::Zip3,
                    "age" => Generalization::Age,
                    _ => {
                        return Err(bad(
                            "generalize needs `to`: year, birth_year, zip3 or age".to_owned()
                        ));
                    }
                })
            }
            "date_shift" => {
                let max_days = raw.max_days.unwrap_or(365);
                if max_days == 0 || max_days > 3_650 {
                    return Err(bad("max_days must be between 1 and 3650".to_owned()));
                }
                Method::DateShift {
                    key: need_key(&raw.key)?,
                    by: raw.by.clone().ok_or_else(|| {
                        bad("date_shift needs `by`, the patient's column".to_owned())
                    })?,
                    max_days,
                }
            }
            "substitute" => {
                let values = raw.values.clone().unwrap_or_default();
                if values.is_empty() {
                    return Err(bad("substitute needs a non-empty `values` list".to_owned()));
                }
                if values.len() > 1 && raw.key.is_none() {
                    return Err(bad(
                        "substitute among several values needs a key to pick one".to_owned(),
                    ));
                }
                Method::Substitute {
                    values,
                    key: raw.key.clone(),
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown method {other} (keep, null, redact, hash, tokenize, generalize, date_shift, substitute)"
                )));
            }
        };
        let name = method.name();
        unused("key", raw.key.is_some() && method.key().is_none())?;
        unused("with", raw.with.is_some() && name != "redact")?;
        unused("values", raw.values.is_some() && name != "substitute")?;
        unused("to", raw.to.is_some() && name != "generalize")?;
        unused("by", raw.by.is_some() && name != "date_shift")?;
        unused("max_days", raw.max_days.is_some() && name != "date_shift")?;
        Ok(method)
    }

    fn condition(&self, span: Range<usize>, raw: RawCondition) -> Result<RowFilter, PolicyError> {
        let field = format!("filter on {}", raw.column);
        let literal = |v: toml::Value| match v {
            toml::Value::String(s) => Ok(Literal::String(s)),
            toml::Value::Boolean(b) => Ok(Literal::Bool(b)),
            toml::Value::Integer(i) => Ok(Literal::Int(i)),
            _ => Err(self.invalid(
                span.clone(),
                &field,
                "a literal must be a string, a boolean or an integer",
            )),
        };
        let condition = match (raw.equals, raw.one_of, raw.is_null) {
            (Some(v), None, None) => Condition::Equals(literal(v)?),
            (None, Some(vs), None) if !vs.is_empty() => {
                Condition::In(vs.into_iter().map(literal).collect::<Result<_, _>>()?)
            }
            (None, None, Some(true)) => Condition::IsNull,
            _ => {
                return Err(self.invalid(
                    span,
                    &field,
                    "drop_when needs exactly one of equals, in (non-empty) or is_null = true",
                ));
            }
        };
        Ok(RowFilter {
            purposes: None,
            roles: None,
            column: raw.column,
            condition,
        })
    }
}

fn unknown_purpose(p: &str) -> String {
    let p: String = p.chars().take(40).collect();
    format!(
        "unknown purpose of use {p:?} (HL7 v3 PurposeOfUse codes such as TREAT, HPAYMT, HOPERAT, HRESCH)"
    )
}

impl Policy {
    /// Parses a policy from TOML; `file` names it in errors.
    ///
    /// ```toml
    /// policy = "serving"
    /// version = "1.0.0"
    /// purposes = ["TREAT", "HPAYMT", "HRESCH"]   # HL7 v3 PurposeOfUse codes
    /// roles = ["clinician", "analyst"]            # optional
    ///
    /// [keys.pseudonym]                            # names a key, never holds it
    /// env = "CARESYNC_PSEUDONYM_KEY"              # or: file = "/run/secrets/k"
    ///
    /// [[table]]
    /// name = "encounter"
    /// default = "null"        # unlisted columns: null (default), keep, redact
    /// consent = { column = "consent_excluded", holds = "excluded" }  # or "permitted"
    ///
    /// [[table.rule]]          # the first rule matching column, purpose, role wins
    /// columns = ["mrn"]
    /// purposes = ["TREAT"]    # optional: every purpose
    /// roles = ["clinician"]   # optional: every role
    /// method = "keep"
    ///
    /// [[table.rule]]
    /// columns = ["mrn"]
    /// method = "hash"         # keep, null, redact (with), hash (key),
    /// key = "pseudonym"       # tokenize (key), generalize (to = year,
    ///                         # birth_year, zip3, age), date_shift (key, by,
    ///                         # max_days), substitute (values, key)
    ///
    /// [[table.filter]]
    /// purposes = ["HRESCH"]
    /// drop_when = { column = "research_opt_out", equals = true }  # or in = [..], is_null = true
    /// ```
    pub fn from_toml(text: &str, file: &str) -> Result<Self, PolicyError> {
        let reader = Reader { text, file };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            file: file.to_owned(),
            line: e.span().map_or(1, |s| reader.line_of(s.start)),
            message: e.message().to_owned(),
        })?;
        let version = semver::Version::parse(raw.version.get_ref()).map_err(|_| {
            reader.invalid(
                raw.version.span(),
                "version",
                "not a semantic version (MAJOR.MINOR.PATCH)",
            )
        })?;
        let mut purposes = Vec::with_capacity(raw.purposes.len());
        for p in raw.purposes {
            if !PURPOSES_OF_USE.contains(&p.get_ref().as_str()) {
                return Err(reader.invalid(p.span(), "purposes", unknown_purpose(p.get_ref())));
            }
            purposes.push(p.into_inner());
        }
        let mut keys = BTreeMap::new();
        for (name, key) in raw.keys {
            let span = key.span();
            let source = match key.into_inner() {
                RawKey {
                    env: Some(var),
                    file: None,
                } if !var.is_empty() => KeySource::Env(var),
                RawKey {
                    env: None,
                    file: Some(path),
                } if !path.is_empty() => KeySource::File(PathBuf::from(path)),
                _ => {
                    return Err(reader.invalid(
                        span,
                        &format!("key {name}"),
                        "a key names exactly one of env or file (never the key itself)",
                    ));
                }
            };
            keys.insert(name, source);
        }
        // Per key, whether it serves `hash` (true) or the other keyed methods.
        let mut key_uses: BTreeMap<String, bool> = BTreeMap::new();
        let mut tables: Vec<TablePolicy> = Vec::with_capacity(raw.tables.len());
        for table in raw.tables {
            let table_span = table.span();
            let table = table.into_inner();
            let field = format!("table {}", table.name);
            if tables.iter().any(|t| t.name == table.name) {
                return Err(reader.invalid(table_span, &field, "listed twice"));
            }
            let default = match table.default {
                None => Method::Null,
                Some(d) => match d.get_ref().as_str() {
                    "null" => Method::Null,
                    "keep" => Method::Keep,
                    "redact" => Method::Redact {
                        with: "REDACTED".to_owned(),
                    },
                    _ => {
                        return Err(reader.invalid(
                            d.span(),
                            &field,
                            "default must be null, keep or redact",
                        ));
                    }
                },
            };
            let mut rules = Vec::with_capacity(table.rules.len());
            for rule in table.rules {
                let span = rule.span();
                let rule = rule.into_inner();
                let field = format!("table {} rule for {}", table.name, rule.columns.join(", "));
                if rule.columns.is_empty() {
                    return Err(reader.invalid(span, &field, "a rule names at least one column"));
                }
                let rule_purposes = reader.purposes(span.clone(), &field, rule.purposes.clone())?;
                let roles = reader.roles(span.clone(), &field, rule.roles.clone(), &raw.roles)?;
                let columns = rule.columns.clone();
                let method = reader.method(span.clone(), &field, rule)?;
                if let Some(key) = method.key() {
                    if !keys.contains_key(key) {
                        return Err(reader.invalid(
                            span,
                            &field,
                            format!("key {key} is not declared under [keys]"),
                        ));
                    }
                    // `hash` is the plain HMAC of the value, which other
                    // methods' domain-separated inputs must not meet.
                    let hashes = matches!(method, Method::Hash { .. });
                    match key_uses.get(key) {
                        Some(&other) if other != hashes => {
                            return Err(reader.invalid(
                                span,
                                &field,
                                format!(
                                    "key {key} serves hash and another keyed method: give hash a key of its own"
                                ),
                            ));
                        }
                        _ => {
                            key_uses.insert(key.to_owned(), hashes);
                        }
                    }
                }
                rules.push(Rule {
                    columns,
                    purposes: rule_purposes,
                    roles,
                    method,
                    line: reader.line_of(span.start),
                });
            }
            let consent = match table.consent {
                None => None,
                Some(c) => {
                    let span = c.span();
                    let c = c.into_inner();
                    let holds = match c.holds.as_str() {
                        "excluded" => ConsentHolds::Excluded,
                        "permitted" => ConsentHolds::Permitted,
                        _ => {
                            return Err(reader.invalid(
                                span,
                                &format!("table {} consent", table.name),
                                "holds must be excluded or permitted",
                            ));
                        }
                    };
                    Some(Consent {
                        column: c.column,
                        holds,
                    })
                }
            };
            let mut filters = Vec::with_capacity(table.filters.len());
            for filter in table.filters {
                let span = filter.span();
                let filter = filter.into_inner();
                let mut parsed = reader.condition(span.clone(), filter.drop_when)?;
                parsed.purposes = reader.purposes(span.clone(), "filter", filter.purposes)?;
                parsed.roles = reader.roles(span, "filter", filter.roles, &raw.roles)?;
                filters.push(parsed);
            }
            tables.push(TablePolicy {
                name: table.name,
                default,
                rules,
                consent,
                filters,
            });
        }
        Ok(Policy {
            name: raw.policy,
            version,
            purposes,
            roles: raw.roles,
            keys,
            tables,
        })
    }

    /// The policy of table `name`.
    pub fn table(&self, name: &str) -> Option<&TablePolicy> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl TablePolicy {
    /// The method of `column` for `purpose` and `role`: the first matching
    /// rule's, else the table's default.
    pub fn decide(&self, column: &str, purpose: &str, role: Option<&str>) -> &Method {
        self.rule_for(column, purpose, role)
            .map_or(&self.default, |r| &r.method)
    }

    /// The first rule matching `column`, `purpose` and `role`.
    pub fn rule_for(&self, column: &str, purpose: &str, role: Option<&str>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(column, purpose, role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "policy = \"p\"\nversion = \"1.0.0\"\npurposes = [\"TREAT\"]\nroles = [\"clinician\", \"billing\"]\n[keys.k]\nenv = \"K\"\n[[table]]\nname = \"t\"\n";

    #[test]
    fn bad_files_name_the_file_line_and_field() {
        let cases = [
            (
                "policy = \"p\"\nversion = \"1\"\n",
                "POLICY-0002",
                "f.toml:2: version",
            ),
            (
                "policy = \"p\"\nversion = \"1.0.0\"\npurposes = [\"TREAT\", \"LUNCH\"]\n",
                "POLICY-0002",
                "f.toml:3: purposes: unknown purpose",
            ),
            (
                "policy = \"p\"\nversion = \"1.0.0\"\ncolour = 1\n",
                "POLICY-0001",
                "f.toml:3",
            ),
            (
                "policy = \"p\"\nversion = \"1.0.0\"\n[keys.k]\nenv = \"K\"\nfile = \"/k\"\n",
                "POLICY-0002",
                "f.toml:3: key k",
            ),
            (
                "policy = \"p\"\nversion = \"1.0.0\"\n[keys.k]\nvalue = \"secret\"\n",
                "POLICY-0001",
                "f.toml:4",
            ),
        ];
        for (text, code, needle) in cases {
            let e = Policy::from_toml(text, "f.toml").expect_err(text);
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        }
        let rules = [
            (
                "columns = [\"a\"]\nroles = [\"nurse\"]\nmethod = \"keep\"\n",
                "f.toml:9: table t rule for a: role \"nurse\" is not declared",
            ),
            (
                "columns = [\"a\"]\nroles = []\nmethod = \"keep\"\n",
                "an empty roles list matches nothing",
            ),
            (
                "columns = [\"a\"]\nmethod = \"hash\"\nkey = \"k\"\n[[table.rule]]\ncolumns = [\"b\"]\nmethod = \"tokenize\"\nkey = \"k\"\n",
                "f.toml:13: table t rule for b: key k serves hash and another keyed method",
            ),
            (
                "columns = [\"a\"]\nmethod = \"shred\"\n",
                "f.toml:9: table t rule for a: unknown method shred",
            ),
            (
                "columns = [\"a\"]\nmethod = \"hash\"\n",
                "f.toml:9: table t rule for a: method hash needs a key",
            ),
            (
                "columns = [\"a\"]\nmethod = \"hash\"\nkey = \"other\"\n",
                "key other is not declared",
            ),
            (
                "columns = [\"a\"]\nmethod = \"keep\"\nkey = \"k\"\n",
                "key does not apply to method keep",
            ),
            (
                "columns = [\"a\"]\nmethod = \"generalize\"\nto = \"decade\"\n",
                "generalize needs `to`",
            ),
            (
                "columns = [\"a\"]\nmethod = \"date_shift\"\nkey = \"k\"\n",
                "date_shift needs `by`",
            ),
            (
                "columns = [\"a\"]\nmethod = \"date_shift\"\nkey = \"k\"\nby = \"p\"\nmax_days = 0\n",
                "max_days",
            ),
            (
                "columns = [\"a\"]\nmethod = \"substitute\"\nvalues = [\"x\", \"y\"]\n",
                "needs a key",
            ),
            ("columns = []\nmethod = \"keep\"\n", "at least one column"),
            (
                "columns = [\"a\"]\npurposes = [\"NAP\"]\nmethod = \"keep\"\n",
                "f.toml:9: table t rule for a: unknown purpose",
            ),
        ];
        for (rule, needle) in rules {
            let text = format!("{HEAD}[[table.rule]]\n{rule}");
            let e = Policy::from_toml(&text, "f.toml").expect_err(rule);
            assert_eq!(e.code(), "POLICY-0002", "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        }
        let filter =
            format!("{HEAD}[[table.filter]]\ndrop_when = {{ column = \"c\", equals = 1.5 }}\n");
        let e = Policy::from_toml(&filter, "f.toml").expect_err("a float literal");
        assert!(
            e.to_string().contains("f.toml:9: filter on c: a literal"),
            "{e}"
        );
        let twice = format!("{HEAD}[[table]]\nname = \"t\"\n");
        let e = Policy::from_toml(&twice, "f.toml").expect_err("a table twice");
        assert!(
            e.to_string().contains("f.toml:9: table t: listed twice"),
            "{e}"
        );
    }

    #[test]
    fn the_first_matching_rule_decides_and_the_default_fails_closed() {
        let text = format!(
            "{HEAD}[[table.rule]]\ncolumns = [\"mrn\"]\npurposes = [\"TREAT\"]\nroles = [\"clinician\"]\nmethod = \"keep\"\n\
             [[table.rule]]\ncolumns = [\"mrn\", \"ssn\"]\nmethod = \"hash\"\nkey = \"k\"\n\
             [[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"keep\"\n"
        );
        let policy = Policy::from_toml(&text, "f.toml").expect("valid");
        let t = policy.table("t").expect("table t");
        assert_eq!(t.decide("mrn", "TREAT", Some("clinician")), &Method::Keep);
        assert_eq!(t.decide("mrn", "TREAT", Some("billing")).name(), "hash");
        assert_eq!(t.decide("mrn", "TREAT", None).name(), "hash");
        assert_eq!(t.decide("mrn", "HPAYMT", Some("clinician")).name(), "hash");
        assert_eq!(t.decide("ssn", "TREAT", None).name(), "hash");
        assert_eq!(t.decide("ward", "TREAT", None), &Method::Null);
        assert_eq!(t.rule_for("ssn", "TREAT", None).map(|r| r.line), Some(14));
        assert_eq!(policy.keys["k"], KeySource::Env("K".to_owned()));
    }
}
