//! Masking by a `caresync-policy` policy file: a table's `[table.mask]`
//! names the policy, the purpose of use it is served for, and optionally a
//! role; its plan becomes the table's [`BatchPolicy`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use caresync_policy::{Keyring, Plan, Request};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use serde::Deserialize;

use crate::policy::{BatchPolicy, PolicyError};

/// A table's masking, as configured.
///
/// ```toml
/// [table.mask]
/// policy = "policies/serving.toml"  # relative to the configuration file
/// purpose = "HOPERAT"                # an HL7 v3 PurposeOfUse the policy serves
/// role = "analyst"                   # optional
/// entity = "encounter"               # the policy's table; default: the table's name
/// principal = "ops-replica"          # for the audit log; default: caresync-forward-sync
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
}

/// A policy file's plan for one served table.
pub(crate) struct PolicyMask {
    policy: caresync_policy::Policy,
    entity: String,
    request: Request,
    keys: Keyring,
    plan: Mutex<Option<Plan>>,
}

impl PolicyMask {
    /// Reads the policy (a relative path is taken from `base`) and its keys.
    pub(crate) fn load(config: &MaskConfig, table: &str, base: &Path) -> Result<Self, String> {
        let path = base.join(&config.policy);
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("table {table}: cannot read policy {name}: {e}"))?;
        let policy = caresync_policy::Policy::from_toml(&text, &name)
            .map_err(|e| format!("table {table}: {e}"))?;
        let keys = Keyring::from_sources(&policy).map_err(|e| format!("table {table}: {e}"))?;
        let principal = config
            .principal
            .clone()
            .unwrap_or_else(|| "caresync-forward-sync".to_owned());
        // The request's time stamps audit records and dates ages; a sync
        // plans once per schema, so "now" is taken when the mask is loaded.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let mut request = Request::new(&principal, &config.purpose, now);
        if let Some(role) = &config.role {
            request = request.with_role(role);
        }
        Ok(PolicyMask {
            policy,
            entity: config.entity.clone().unwrap_or_else(|| table.to_owned()),
            request,
            keys,
            plan: Mutex::new(None),
        })
    }

    fn plan_for(&self, schema: &SchemaRef) -> Result<Plan, PolicyError> {
        let plan = self
            .policy
            .plan(&self.entity, schema, &self.request, &self.keys)
            .map_err(|e| PolicyError(e.to_string()))?;
        if plan.withholds_rows() {
            return Err(PolicyError(format!(
                "policy {} withholds rows of {} (consent or a row filter) for purpose {}; \
                 forward sync serves every row of its source, so serve a table whose \
                 rows are already filtered",
                self.policy.name, self.entity, self.request.purpose
            )));
        }
        Ok(plan)
    }
}

impl BatchPolicy for PolicyMask {
    fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.policy.name,
            self.policy.version,
            self.request.purpose,
            self.request.role.as_deref().unwrap_or("-")
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
            Some(plan) if same_types(plan.input_schema(), &batch_schema) => plan,
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
            purpose = %audit.purpose,
            table = %audit.table,
            policy = %audit.policy,
            policy_version = %audit.policy_version,
            masked = audit.masked_columns.len(),
            rows = audit.rows_out,
            "policy applied"
        );
        Ok(masked.batch)
    }
}

fn same_types(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}
