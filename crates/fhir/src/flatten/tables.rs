//! The column list of each table and how a parsed resource fills it.
//!
//! Each table's `*_spec` and `fill` list the same columns in the same order;
//! the unit test at the bottom flattens a resource into every table, which
//! would panic on a mismatch.

use super::columns::{Cell, ColumnSpec, ComponentCell, Kind};
use super::json::{self, Base, CodeableConcept, Coding, Period, Reference, Str, s};
use crate::time::{parse_date, parse_date_time};

/// A value that parsed as JSON but is not a valid FHIR primitive.
#[derive(Debug)]
pub(crate) struct BadValue {
    pub(crate) path: &'static str,
    pub(crate) expected: &'static str,
}

/// The staged cells of one row.
#[derive(Debug)]
pub(crate) struct Row<'r> {
    pub(crate) cells: Vec<Cell<'r>>,
}

fn first<T>(v: &Option<Vec<T>>) -> Option<&T> {
    v.as_ref().and_then(|v| v.first())
}

fn first_coding<'r, 'a>(cc: Option<&'r CodeableConcept<'a>>) -> Option<&'r Coding<'a>> {
    cc.and_then(|c| c.coding.first())
}

/// The id in a literal reference, or `None` when there is none.
///
/// `Type/id`, `http://base/Type/id` and `.../Type/id/_history/v` give `id`;
/// `urn:uuid:x` and `urn:oid:x` give `x`; conditional references
/// (`Type?search`), contained references (`#x`) and anything else give `None`.
pub(crate) fn reference_id(r: &str) -> Option<&str> {
    if let Some(rest) = r
        .strip_prefix("urn:uuid:")
        .or_else(|| r.strip_prefix("urn:oid:"))
    {
        return (!rest.is_empty()).then_some(rest);
    }
    if r.contains('?') || r.starts_with('#') {
        return None;
    }
    let r = r.find("/_history/").map_or(r, |i| &r[..i]);
    let (head, id) = r.rsplit_once('/')?;
    let ty = head.rsplit('/').next()?;
    let is_type = ty.bytes().next().is_some_and(|c| c.is_ascii_uppercase())
        && ty.bytes().all(|c| c.is_ascii_alphanumeric());
    (is_type && !id.is_empty()).then_some(id)
}

impl<'r> Row<'r> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Row {
            cells: Vec::with_capacity(n),
        }
    }

    pub(crate) fn str(&mut self, v: Option<&'r str>) {
        self.cells.push(v.map_or(Cell::Null, Cell::Str));
    }

    fn s(&mut self, v: &'r Option<Str<'_>>) {
        self.str(s(v));
    }

    fn bool(&mut self, v: Option<bool>) {
        self.cells.push(v.map_or(Cell::Null, Cell::Bool));
    }

    fn f64(&mut self, v: Option<f64>) {
        self.cells.push(v.map_or(Cell::Null, Cell::F64));
    }

    fn i64(&mut self, v: Option<i64>) {
        self.cells.push(v.map_or(Cell::Null, Cell::I64));
    }

    fn ts(&mut self, v: Option<&'r str>, path: &'static str) -> Result<(), BadValue> {
        let cell = match v {
            None => Cell::Null,
            Some(v) => Cell::Ts(parse_date_time(v).ok_or(BadValue {
                path,
                expected: "a FHIR dateTime or instant",
            })?),
        };
        self.cells.push(cell);
        Ok(())
    }

    /// The first of several optional dateTime sources that is present.
    fn ts_any(&mut self, choices: &[(Option<&'r str>, &'static str)]) -> Result<(), BadValue> {
        match choices.iter().find(|(v, _)| v.is_some()) {
            Some(&(v, path)) => self.ts(v, path),
            None => self.ts(None, ""),
        }
    }

    fn date(&mut self, v: Option<&'r str>, path: &'static str) -> Result<(), BadValue> {
        let cell = match v {
            None => Cell::Null,
            Some(v) => Cell::Date(parse_date(v).ok_or(BadValue {
                path,
                expected: "a FHIR date",
            })?),
        };
        self.cells.push(cell);
        Ok(())
    }

    /// `code`, `system`, `display` of the first coding, then `text`.
    fn cc(&mut self, v: Option<&'r CodeableConcept<'_>>) {
        let c = first_coding(v);
        self.str(c.and_then(|c| s(&c.code)));
        self.str(c.and_then(|c| s(&c.system)));
        self.str(c.and_then(|c| s(&c.display)));
        self.str(v.and_then(|v| s(&v.text)));
    }

    /// The code of the first coding.
    fn cc_code(&mut self, v: Option<&'r CodeableConcept<'_>>) {
        self.str(first_coding(v).and_then(|c| s(&c.code)));
    }

    fn reference(&mut self, v: Option<&'r Reference<'_>>) {
        self.str(v.and_then(|r| s(&r.reference)).and_then(reference_id));
    }

    fn period(
        &mut self,
        v: Option<&'r Period<'_>>,
        start: &'static str,
        end: &'static str,
    ) -> Result<(), BadValue> {
        self.ts(v.and_then(|p| s(&p.start)), start)?;
        self.ts(v.and_then(|p| s(&p.end)), end)
    }
}

/// Builds a column list.
struct Spec {
    resource: &'static str,
    cols: Vec<ColumnSpec>,
}

impl Spec {
    fn new(resource: &'static str) -> Self {
        let mut spec = Spec {
            resource,
            cols: Vec::with_capacity(48),
        };
        spec.col("id", Kind::Utf8, "id");
        spec.col("meta_version_id", Kind::Utf8, "meta.versionId");
        spec.col("meta_last_updated", Kind::Ts, "meta.lastUpdated");
        spec.col(
            "identifiers",
            Kind::Idents,
            "identifier.select(system, value)",
        );
        spec
    }

    fn col(&mut self, name: &str, kind: Kind, source: &str) {
        self.cols.push(ColumnSpec {
            name: name.to_owned(),
            kind,
            source: format!("{}.{source}", self.resource),
        });
    }

    /// Four columns for a CodeableConcept at `source` (a single element path).
    fn cc(&mut self, prefix: &str, source: &str) {
        let code = if prefix == "code" {
            "code".to_owned()
        } else {
            format!("{prefix}_code")
        };
        self.col(&code, Kind::Utf8, &format!("{source}.coding.first().code"));
        self.col(
            &format!("{prefix}_system"),
            Kind::Utf8,
            &format!("{source}.coding.first().system"),
        );
        self.col(
            &format!("{prefix}_display"),
            Kind::Utf8,
            &format!("{source}.coding.first().display"),
        );
        self.col(
            &format!("{prefix}_text"),
            Kind::Utf8,
            &format!("{source}.text"),
        );
    }

    fn reference(&mut self, name: &str, source: &str) {
        self.col(name, Kind::Utf8, &format!("{source}.reference (id part)"));
    }

    fn finish(mut self) -> Vec<ColumnSpec> {
        self.cols.push(ColumnSpec {
            name: super::RESOURCE_JSON_COLUMN.to_owned(),
            kind: Kind::Utf8,
            source: "(the whole resource, as received)".to_owned(),
        });
        self.cols
    }
}

/// A resource model that fills its table's row.
pub(crate) trait Fill<'a>: json::HasBase<'a> {
    /// Stages the table-specific cells (after the shared ones).
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue>;
}

/// Stages the shared leading cells.
pub(crate) fn fill_base<'r>(b: &Base<'r, '_>, row: &mut Row<'r>) -> Result<(), BadValue> {
    row.s(b.id);
    let meta = b.meta.as_ref();
    row.str(meta.and_then(|m| s(&m.version_id)));
    row.ts(meta.and_then(|m| s(&m.last_updated)), "$.meta.lastUpdated")?;
    row.cells.push(match b.identifier {
        None => Cell::Null,
        Some(ids) => Cell::Idents(ids.iter().map(|i| (s(&i.system), s(&i.value))).collect()),
    });
    Ok(())
}

pub(crate) fn patient_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Patient");
    t.col(
        "mrn",
        Kind::Utf8,
        "identifier.where(type.coding.code = 'MR').first().value",
    );
    t.col("active", Kind::Bool, "active");
    t.col("gender", Kind::Utf8, "gender");
    t.col("birth_date", Kind::Date, "birthDate");
    t.col("deceased_boolean", Kind::Bool, "deceasedBoolean");
    t.col("deceased_date_time", Kind::Ts, "deceasedDateTime");
    t.col("name_family", Kind::Utf8, "name.first().family");
    t.col("name_given", Kind::StrList, "name.first().given");
    t.col("address_city", Kind::Utf8, "address.first().city");
    t.col("address_state", Kind::Utf8, "address.first().state");
    t.col(
        "address_postal_code",
        Kind::Utf8,
        "address.first().postalCode",
    );
    t.col("address_country", Kind::Utf8, "address.first().country");
    t.col(
        "marital_status_code",
        Kind::Utf8,
        "maritalStatus.coding.first().code",
    );
    t.reference("managing_organization_id", "managingOrganization");
    t.finish()
}

impl<'a> Fill<'a> for json::Patient<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        let mrn = self.identifier.iter().flatten().find(|i| {
            i.kind
                .as_ref()
                .is_some_and(|k| k.coding.iter().any(|c| s(&c.code) == Some("MR")))
        });
        row.str(mrn.and_then(|i| s(&i.value)));
        row.bool(self.active);
        row.s(&self.gender);
        row.date(s(&self.birth_date), "$.birthDate")?;
        row.bool(self.deceased_boolean);
        row.ts(s(&self.deceased_date_time), "$.deceasedDateTime")?;
        let name = first(&self.name);
        row.str(name.and_then(|n| s(&n.family)));
        row.cells.push(match name {
            Some(n) if !n.given.is_empty() => {
                Cell::StrList(n.given.iter().map(|g| &*g.0).collect())
            }
            _ => Cell::Null,
        });
        let addr = first(&self.address);
        row.str(addr.and_then(|a| s(&a.city)));
        row.str(addr.and_then(|a| s(&a.state)));
        row.str(addr.and_then(|a| s(&a.postal_code)));
        row.str(addr.and_then(|a| s(&a.country)));
        row.cc_code(self.marital_status.as_ref());
        row.reference(self.managing_organization.as_ref());
        Ok(())
    }
}

pub(crate) fn encounter_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Encounter");
    t.col("status", Kind::Utf8, "status");
    t.col("class_code", Kind::Utf8, "class.code");
    t.col("class_system", Kind::Utf8, "class.system");
    t.cc("type", "type.first()");
    t.reference("subject_id", "subject");
    t.col("period_start", Kind::Ts, "period.start");
    t.col("period_end", Kind::Ts, "period.end");
    t.cc("reason", "reasonCode.first()");
    t.col(
        "discharge_disposition_code",
        Kind::Utf8,
        "hospitalization.dischargeDisposition.coding.first().code",
    );
    t.reference("service_provider_id", "serviceProvider");
    t.finish()
}

impl<'a> Fill<'a> for json::Encounter<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.str(self.class.as_ref().and_then(|c| s(&c.code)));
        row.str(self.class.as_ref().and_then(|c| s(&c.system)));
        row.cc(first(&self.r#type));
        row.reference(self.subject.as_ref());
        row.period(self.period.as_ref(), "$.period.start", "$.period.end")?;
        row.cc(first(&self.reason_code));
        row.cc_code(
            self.hospitalization
                .as_ref()
                .and_then(|h| h.discharge_disposition.as_ref()),
        );
        row.reference(self.service_provider.as_ref());
        Ok(())
    }
}

pub(crate) fn observation_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Observation");
    t.col("status", Kind::Utf8, "status");
    t.col(
        "category_code",
        Kind::Utf8,
        "category.first().coding.first().code",
    );
    t.cc("code", "code");
    t.reference("subject_id", "subject");
    t.reference("encounter_id", "encounter");
    t.col(
        "effective_start",
        Kind::Ts,
        "effectiveDateTime | effectiveInstant | effectivePeriod.start",
    );
    t.col("effective_end", Kind::Ts, "effectivePeriod.end");
    t.col("issued", Kind::Ts, "issued");
    t.col("value_quantity_value", Kind::F64, "valueQuantity.value");
    t.col("value_quantity_unit", Kind::Utf8, "valueQuantity.unit");
    t.col("value_quantity_system", Kind::Utf8, "valueQuantity.system");
    t.col("value_quantity_code", Kind::Utf8, "valueQuantity.code");
    t.cc("value", "valueCodeableConcept");
    t.col("value_string", Kind::Utf8, "valueString");
    t.col("value_boolean", Kind::Bool, "valueBoolean");
    t.col("value_integer", Kind::I64, "valueInteger");
    t.col("value_date_time", Kind::Ts, "valueDateTime");
    t.col(
        "interpretation_code",
        Kind::Utf8,
        "interpretation.first().coding.first().code",
    );
    t.col("components", Kind::Components, "component (code: code.coding.first(); value: valueQuantity | valueCodeableConcept.coding.first() | valueString)");
    t.finish()
}

impl<'a> Fill<'a> for json::Observation<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.cc_code(first(&self.category));
        row.cc(self.code.as_ref());
        row.reference(self.subject.as_ref());
        row.reference(self.encounter.as_ref());
        let period = self.effective_period.as_ref();
        row.ts_any(&[
            (s(&self.effective_date_time), "$.effectiveDateTime"),
            (s(&self.effective_instant), "$.effectiveInstant"),
            (period.and_then(|p| s(&p.start)), "$.effectivePeriod.start"),
        ])?;
        row.ts(period.and_then(|p| s(&p.end)), "$.effectivePeriod.end")?;
        row.ts(s(&self.issued), "$.issued")?;
        let q = self.value_quantity.as_ref();
        row.f64(q.and_then(|q| q.value));
        row.str(q.and_then(|q| s(&q.unit)));
        row.str(q.and_then(|q| s(&q.system)));
        row.str(q.and_then(|q| s(&q.code)));
        row.cc(self.value_codeable_concept.as_ref());
        row.s(&self.value_string);
        row.bool(self.value_boolean);
        row.i64(self.value_integer);
        row.ts(s(&self.value_date_time), "$.valueDateTime")?;
        row.cc_code(first(&self.interpretation));
        row.cells.push(match &self.component {
            None => Cell::Null,
            Some(cs) => Cell::Components(
                cs.iter()
                    .map(|c| {
                        let code = first_coding(c.code.as_ref());
                        let value = first_coding(c.value_codeable_concept.as_ref());
                        let q = c.value_quantity.as_ref();
                        ComponentCell {
                            code: code.and_then(|c| s(&c.code)),
                            code_system: code.and_then(|c| s(&c.system)),
                            code_display: code.and_then(|c| s(&c.display)),
                            value_quantity_value: q.and_then(|q| q.value),
                            value_quantity_unit: q.and_then(|q| s(&q.unit)),
                            value_code: value.and_then(|c| s(&c.code)),
                            value_code_system: value.and_then(|c| s(&c.system)),
                            value_string: s(&c.value_string),
                        }
                    })
                    .collect(),
            ),
        });
        Ok(())
    }
}

pub(crate) fn condition_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Condition");
    t.col(
        "clinical_status",
        Kind::Utf8,
        "clinicalStatus.coding.first().code",
    );
    t.col(
        "verification_status",
        Kind::Utf8,
        "verificationStatus.coding.first().code",
    );
    t.col(
        "category_code",
        Kind::Utf8,
        "category.first().coding.first().code",
    );
    t.cc("code", "code");
    t.reference("subject_id", "subject");
    t.reference("encounter_id", "encounter");
    t.col("onset", Kind::Ts, "onsetDateTime | onsetPeriod.start");
    t.col(
        "abatement",
        Kind::Ts,
        "abatementDateTime | abatementPeriod.start",
    );
    t.col("recorded_date", Kind::Ts, "recordedDate");
    t.finish()
}

impl<'a> Fill<'a> for json::Condition<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.cc_code(self.clinical_status.as_ref());
        row.cc_code(self.verification_status.as_ref());
        row.cc_code(first(&self.category));
        row.cc(self.code.as_ref());
        row.reference(self.subject.as_ref());
        row.reference(self.encounter.as_ref());
        row.ts_any(&[
            (s(&self.onset_date_time), "$.onsetDateTime"),
            (
                self.onset_period.as_ref().and_then(|p| s(&p.start)),
                "$.onsetPeriod.start",
            ),
        ])?;
        row.ts_any(&[
            (s(&self.abatement_date_time), "$.abatementDateTime"),
            (
                self.abatement_period.as_ref().and_then(|p| s(&p.start)),
                "$.abatementPeriod.start",
            ),
        ])?;
        row.ts(s(&self.recorded_date), "$.recordedDate")
    }
}

pub(crate) fn procedure_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Procedure");
    t.col("status", Kind::Utf8, "status");
    t.cc("code", "code");
    t.reference("subject_id", "subject");
    t.reference("encounter_id", "encounter");
    t.col(
        "performed_start",
        Kind::Ts,
        "performedDateTime | performedPeriod.start",
    );
    t.col("performed_end", Kind::Ts, "performedPeriod.end");
    t.col(
        "reason_code",
        Kind::Utf8,
        "reasonCode.first().coding.first().code",
    );
    t.reference("reason_reference_id", "reasonReference.first()");
    t.reference("location_id", "location");
    t.finish()
}

impl<'a> Fill<'a> for json::Procedure<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.cc(self.code.as_ref());
        row.reference(self.subject.as_ref());
        row.reference(self.encounter.as_ref());
        let period = self.performed_period.as_ref();
        row.ts_any(&[
            (s(&self.performed_date_time), "$.performedDateTime"),
            (period.and_then(|p| s(&p.start)), "$.performedPeriod.start"),
        ])?;
        row.ts(period.and_then(|p| s(&p.end)), "$.performedPeriod.end")?;
        row.cc_code(first(&self.reason_code));
        row.reference(first(&self.reason_reference));
        row.reference(self.location.as_ref());
        Ok(())
    }
}

pub(crate) fn medication_request_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("MedicationRequest");
    t.col("status", Kind::Utf8, "status");
    t.col("intent", Kind::Utf8, "intent");
    t.col(
        "category_code",
        Kind::Utf8,
        "category.first().coding.first().code",
    );
    t.cc("medication", "medicationCodeableConcept");
    t.reference("medication_id", "medicationReference");
    t.reference("subject_id", "subject");
    t.reference("encounter_id", "encounter");
    t.col("authored_on", Kind::Ts, "authoredOn");
    t.reference("requester_id", "requester");
    t.reference("reason_reference_id", "reasonReference.first()");
    t.col("dosage_text", Kind::Utf8, "dosageInstruction.first().text");
    t.finish()
}

impl<'a> Fill<'a> for json::MedicationRequest<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.s(&self.intent);
        row.cc_code(first(&self.category));
        row.cc(self.medication_codeable_concept.as_ref());
        row.reference(self.medication_reference.as_ref());
        row.reference(self.subject.as_ref());
        row.reference(self.encounter.as_ref());
        row.ts(s(&self.authored_on), "$.authoredOn")?;
        row.reference(self.requester.as_ref());
        row.reference(first(&self.reason_reference));
        row.str(first(&self.dosage_instruction).and_then(|d| s(&d.text)));
        Ok(())
    }
}

pub(crate) fn allergy_intolerance_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("AllergyIntolerance");
    t.col(
        "clinical_status",
        Kind::Utf8,
        "clinicalStatus.coding.first().code",
    );
    t.col(
        "verification_status",
        Kind::Utf8,
        "verificationStatus.coding.first().code",
    );
    t.col("type", Kind::Utf8, "type");
    t.col("category", Kind::StrList, "category");
    t.col("criticality", Kind::Utf8, "criticality");
    t.cc("code", "code");
    t.reference("patient_id", "patient");
    t.reference("encounter_id", "encounter");
    t.col("onset", Kind::Ts, "onsetDateTime");
    t.col("recorded_date", Kind::Ts, "recordedDate");
    t.finish()
}

impl<'a> Fill<'a> for json::AllergyIntolerance<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.cc_code(self.clinical_status.as_ref());
        row.cc_code(self.verification_status.as_ref());
        row.s(&self.r#type);
        row.cells.push(match &self.category {
            None => Cell::Null,
            Some(c) => Cell::StrList(c.iter().map(|c| &*c.0).collect()),
        });
        row.s(&self.criticality);
        row.cc(self.code.as_ref());
        row.reference(self.patient.as_ref());
        row.reference(self.encounter.as_ref());
        row.ts(s(&self.onset_date_time), "$.onsetDateTime")?;
        row.ts(s(&self.recorded_date), "$.recordedDate")
    }
}

pub(crate) fn immunization_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Immunization");
    t.col("status", Kind::Utf8, "status");
    t.cc("vaccine", "vaccineCode");
    t.reference("patient_id", "patient");
    t.reference("encounter_id", "encounter");
    t.col("occurrence", Kind::Ts, "occurrenceDateTime");
    t.col("primary_source", Kind::Bool, "primarySource");
    t.col("lot_number", Kind::Utf8, "lotNumber");
    t.reference("location_id", "location");
    t.finish()
}

impl<'a> Fill<'a> for json::Immunization<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.cc(self.vaccine_code.as_ref());
        row.reference(self.patient.as_ref());
        row.reference(self.encounter.as_ref());
        row.ts(s(&self.occurrence_date_time), "$.occurrenceDateTime")?;
        row.bool(self.primary_source);
        row.s(&self.lot_number);
        row.reference(self.location.as_ref());
        Ok(())
    }
}

pub(crate) fn coverage_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Coverage");
    t.col("status", Kind::Utf8, "status");
    t.cc("type", "type");
    t.reference("subscriber_ref_id", "subscriber");
    t.col("subscriber_id", Kind::Utf8, "subscriberId");
    t.reference("beneficiary_id", "beneficiary");
    t.col(
        "relationship_code",
        Kind::Utf8,
        "relationship.coding.first().code",
    );
    t.col("period_start", Kind::Ts, "period.start");
    t.col("period_end", Kind::Ts, "period.end");
    t.reference("payor_id", "payor.first()");
    t.finish()
}

impl<'a> Fill<'a> for json::Coverage<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.cc(self.r#type.as_ref());
        row.reference(self.subscriber.as_ref());
        row.s(&self.subscriber_id);
        row.reference(self.beneficiary.as_ref());
        row.cc_code(self.relationship.as_ref());
        row.period(self.period.as_ref(), "$.period.start", "$.period.end")?;
        row.reference(first(&self.payor));
        Ok(())
    }
}

pub(crate) fn claim_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("Claim");
    t.col("status", Kind::Utf8, "status");
    t.cc("type", "type");
    t.col("use", Kind::Utf8, "use");
    t.reference("patient_id", "patient");
    t.col("billable_start", Kind::Ts, "billablePeriod.start");
    t.col("billable_end", Kind::Ts, "billablePeriod.end");
    t.col("created", Kind::Ts, "created");
    t.reference("provider_id", "provider");
    t.reference("insurer_id", "insurer");
    t.col("priority_code", Kind::Utf8, "priority.coding.first().code");
    t.col("total_value", Kind::F64, "total.value");
    t.col("total_currency", Kind::Utf8, "total.currency");
    t.finish()
}

impl<'a> Fill<'a> for json::Claim<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.cc(self.r#type.as_ref());
        row.s(&self.r#use);
        row.reference(self.patient.as_ref());
        let bp = self.billable_period.as_ref();
        row.period(bp, "$.billablePeriod.start", "$.billablePeriod.end")?;
        row.ts(s(&self.created), "$.created")?;
        row.reference(self.provider.as_ref());
        row.reference(self.insurer.as_ref());
        row.cc_code(self.priority.as_ref());
        row.f64(self.total.as_ref().and_then(|m| m.value));
        row.str(self.total.as_ref().and_then(|m| s(&m.currency)));
        Ok(())
    }
}

pub(crate) fn explanation_of_benefit_spec() -> Vec<ColumnSpec> {
    let mut t = Spec::new("ExplanationOfBenefit");
    t.col("status", Kind::Utf8, "status");
    t.cc("type", "type");
    t.col("use", Kind::Utf8, "use");
    t.reference("patient_id", "patient");
    t.col("billable_start", Kind::Ts, "billablePeriod.start");
    t.col("billable_end", Kind::Ts, "billablePeriod.end");
    t.col("created", Kind::Ts, "created");
    t.reference("insurer_id", "insurer");
    t.reference("provider_id", "provider");
    t.reference("claim_id", "claim");
    t.col("outcome", Kind::Utf8, "outcome");
    t.col(
        "total_category",
        Kind::Utf8,
        "total.first().category.coding.first().code",
    );
    t.col("total_value", Kind::F64, "total.first().amount.value");
    t.col(
        "total_currency",
        Kind::Utf8,
        "total.first().amount.currency",
    );
    t.col("payment_value", Kind::F64, "payment.amount.value");
    t.col("payment_currency", Kind::Utf8, "payment.amount.currency");
    t.finish()
}

impl<'a> Fill<'a> for json::ExplanationOfBenefit<'a> {
    fn fill<'r>(&'r self, row: &mut Row<'r>) -> Result<(), BadValue> {
        row.s(&self.status);
        row.cc(self.r#type.as_ref());
        row.s(&self.r#use);
        row.reference(self.patient.as_ref());
        let bp = self.billable_period.as_ref();
        row.period(bp, "$.billablePeriod.start", "$.billablePeriod.end")?;
        row.ts(s(&self.created), "$.created")?;
        row.reference(self.insurer.as_ref());
        row.reference(self.provider.as_ref());
        row.reference(self.claim.as_ref());
        row.s(&self.outcome);
        let total = first(&self.total);
        row.cc_code(total.and_then(|t| t.category.as_ref()));
        let amount = total.and_then(|t| t.amount.as_ref());
        row.f64(amount.and_then(|m| m.value));
        row.str(amount.and_then(|m| s(&m.currency)));
        let pay = self.payment.as_ref().and_then(|p| p.amount.as_ref());
        row.f64(pay.and_then(|m| m.value));
        row.str(pay.and_then(|m| s(&m.currency)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::reference_id;

    #[test]
    fn reference_ids() {
        assert_eq!(reference_id("Patient/123"), Some("123"));
        assert_eq!(
            reference_id("http://x.org/fhir/Patient/123/_history/2"),
            Some("123")
        );
        assert_eq!(reference_id("urn:uuid:ab-cd"), Some("ab-cd"));
        assert_eq!(reference_id("urn:oid:1.2.3"), Some("1.2.3"));
        assert_eq!(reference_id("Location?identifier=a|b"), None);
        assert_eq!(reference_id("#contained"), None);
        assert_eq!(reference_id("123"), None);
        assert_eq!(reference_id("Patient/"), None);
    }
}
