//! Masking by a `caresync-policy` policy file: a table's `[table.mask]`
//! names the policy, the purpose of use it is served for, and optionally a
//! role; its plan becomes the table's [`BatchPolicy`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use caresync_core::calendar::civil_from_days;
use caresync_policy::{AuditRecord, Keyring, Method, Plan, Request, audit};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::policy::{BatchPolicy, PolicyError};

/// A table's masking, as configured.
///
/// ```toml
/// [table.mask]
/// policy = "policies/serving.toml"  # relative to the configuration file
/// purpose = "HOPERAT"                # an HL7 v3 PurposeOfUse the policy serves
/// role = "analyst"                   # optional
/// entity = "encounter"               # the policy's table; default: the table's name
/// principal = "ops-replica"          # for the audit records; default: caresync-forward-sync
/// audit = "audit/policy"             # a Delta table of audit records (path or URL)
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MaskConfig {
    /// The policy file.
    pub policy: PathBuf,
    /// The purpose of use the table is served for.
    pub purpose: String,
    /// The role, if the policy distinguishes roles.
    #[serde(default)]
    pub role: Option<String>,
    /// The table in the policy (by default, the served table's name).
    #[serde(default)]
    pub entity: Option<String>,
    /// Who the audit records name.
    #[serde(default)]
    pub principal: Option<String>,
    /// The Delta table (a path, relative to the configuration file, or a
    /// URL) each sync appends the audit records of its masked batches to.
    #[serde(default)]
    pub audit: Option<String>,
}

/// A policy file's plan for one served table.
pub(crate) struct PolicyMask {
    policy: caresync_policy::Policy,
    /// A fingerprint of the policy's text, its table and its keys: a rule
    /// edited without a new version, or a rotated key, still changes it.
    fingerprint: String,
    entity: String,
    principal: String,
    purpose: String,
    role: Option<String>,
    keys: Keyring,
    plan: Mutex<Option<Plan>>,
    /// Where audit records go, and those not yet written.
    audit: Option<String>,
    records: Mutex<Vec<AuditRecord>>,
}

impl PolicyMask {
    /// Reads the policy (a relative path is taken from `base`) and its keys,
    /// and checks the table's key columns (`key`, when configured) stay
    /// keys: kept or hashed, never nulled, generalised or tokenised.
    pub(crate) fn load(
        config: &MaskConfig,
        table: &str,
        key: &[String],
        base: &Path,
    ) -> Result<Self, String> {
        let path = base.join(&config.policy);
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("table {table}: cannot read policy {name}: {e}"))?;
        let policy = caresync_policy::Policy::from_toml(&text, &name)
            .map_err(|e| format!("table {table}: {e}"))?;
        // A relative key file sits beside its policy.
        let keys = Keyring::from_sources_in(&policy, path.parent().unwrap_or(Path::new("")))
            .map_err(|e| format!("table {table}: {e}"))?;
        let entity = config.entity.clone().unwrap_or_else(|| table.to_owned());
        if let Some(spec) = policy.table(&entity) {
            for column in key {
                let method = spec.decide(column, &config.purpose, config.role.as_deref());
                if !matches!(method, Method::Keep | Method::Hash { .. }) {
                    return Err(format!(
                        "table {table}: key column {column} would be served as {method}; a key must be kept or hashed"
                    ));
                }
            }
        }
        let mut digest = Sha256::new();
        digest.update(text.as_bytes());
        digest.update(entity.as_bytes());
        for name in policy.keys.keys() {
            if let Some(k) = keys.get(name) {
                digest.update(k.mac(&[b"caresync:key-id"]));
            }
        }
        let fingerprint: String = digest.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(PolicyMask {
            policy,
            fingerprint,
            entity,
            principal: config
                .principal
                .clone()
                .unwrap_or_else(|| "caresync-forward-sync".to_owned()),
            purpose: config.purpose.clone(),
            role: config.role.clone(),
            keys,
            plan: Mutex::new(None),
            audit: config.audit.as_ref().map(|a| {
                if a.contains("://") {
                    a.clone()
                } else {
                    base.join(a).display().to_string()
                }
            }),
            records: Mutex::new(Vec::new()),
        })
    }

    /// A request made now: its time stamps the audit records and is the
    /// date ages are counted to.
    fn request(&self) -> Result<Request, PolicyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_micros()).ok())
            .ok_or_else(|| PolicyError("the system clock is before 1970".to_owned()))?;
        let request = Request::new(&self.principal, &self.purpose, now);
        Ok(match &self.role {
            Some(role) => request.with_role(role),
            None => request,
        })
    }

    fn plan_for(&self, schema: &SchemaRef) -> Result<Plan, PolicyError> {
        let plan = self
            .policy
            .plan(&self.entity, schema, &self.request()?, &self.keys)
            .map_err(|e| PolicyError(e.to_string()))?;
        if plan.withholds_rows() {
            return Err(PolicyError(format!(
                "policy {} withholds rows of {} (consent or a row filter) for purpose {}; \
                 forward sync serves every row of its source, so serve a table whose \
                 rows are already filtered",
                self.policy.name, self.entity, self.purpose
            )));
        }
        Ok(plan)
    }
}

impl BatchPolicy for PolicyMask {
    /// The policy, version, purpose, role, fingerprint and year: a new year
    /// copies the table again, so birth years of people who turned 90 are
    /// not left as they were served.
    fn id(&self) -> String {
        let year = self
            .request()
            .map(|r| utc_year(r.at_micros))
            .unwrap_or_default();
        format!(
            "{}/{}/{}/{}/{}/{year}",
            self.policy.name,
            self.policy.version,
            self.purpose,
            self.role.as_deref().unwrap_or("-"),
            self.fingerprint
        )
    }

    fn schema(&self, served: &SchemaRef) -> Result<SchemaRef, PolicyError> {
        let plan = self.plan_for(served)?;
        let output = plan.output_schema().clone();
        *self
            .plan
            .lock()
            .map_err(|_| PolicyError("plan lock".to_owned()))? = Some(plan);
        Ok(output)
    }

    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, PolicyError> {
        let planned = self
            .plan
            .lock()
            .map_err(|_| PolicyError("plan lock".to_owned()))?
            .clone();
        // Copies over several connections mask at once: each works on its
        // own clone of the plan. Readers may hand batches of other Arrow
        // types than the served schema's (text as views): those are
        // planned again, with the same decisions.
        let batch_schema = batch.schema();
        let plan = match planned {
            Some(plan) if plan.check_schema(&batch_schema).is_ok() => plan,
            _ => {
                let plan = self.plan_for(&batch_schema)?;
                *self
                    .plan
                    .lock()
                    .map_err(|_| PolicyError("plan lock".to_owned()))? = Some(plan.clone());
                plan
            }
        };
        let masked = plan.apply(&batch).map_err(|e| PolicyError(e.to_string()))?;
        let audit = &masked.audit;
        tracing::debug!(
            target: "caresync::audit",
            principal = %audit.principal,
            role = audit.role.as_deref().unwrap_or("-"),
            purpose = %audit.purpose,
            table = %audit.table,
            policy = %audit.policy,
            policy_version = %audit.policy_version,
            masked = audit.masked_columns.len(),
            rows = audit.rows_out,
            "policy applied"
        );
        if self.audit.is_some() {
            self.records
                .lock()
                .map_err(|_| PolicyError("audit lock".to_owned()))?
                .push(masked.audit);
        }
        Ok(masked.batch)
    }

    fn audit_table(&self) -> Option<&str> {
        self.audit.as_deref()
    }

    fn take_audit(&self) -> Result<Option<RecordBatch>, PolicyError> {
        let records = std::mem::take(
            &mut *self
                .records
                .lock()
                .map_err(|_| PolicyError("audit lock".to_owned()))?,
        );
        if records.is_empty() {
            return Ok(None);
        }
        audit::to_batch(&records)
            .map(Some)
            .map_err(|e| PolicyError(format!("audit records: {e}")))
    }
}

/// The UTC year of an instant (microseconds since 1970).
fn utc_year(micros: i64) -> i64 {
    civil_from_days(micros.div_euclid(86_400_000_000)).0
}
