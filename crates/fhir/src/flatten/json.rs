//! Borrowed serde models of the parts of each resource that are flattened.
//!
//! Strings borrow from the input line unless they contain escapes; every
//! element that is not listed is skipped by serde without being allocated.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// `Option<Str>` as `Option<&str>`.
pub(crate) fn s<'b>(v: &'b Option<Str<'_>>) -> Option<&'b str> {
    v.as_ref().map(|s| &*s.0)
}

/// FHIR `Coding`.
#[derive(Debug, Deserialize)]
pub(crate) struct Coding<'a> {
    #[serde(borrow)]
    pub(crate) system: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) code: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) display: Option<Str<'a>>,
}

/// FHIR `CodeableConcept`.
#[derive(Debug, Deserialize)]
pub(crate) struct CodeableConcept<'a> {
    #[serde(borrow, default)]
    pub(crate) coding: Vec<Coding<'a>>,
    #[serde(borrow)]
    pub(crate) text: Option<Str<'a>>,
}

/// FHIR `Reference` (only the literal reference is read).
#[derive(Debug, Deserialize)]
pub(crate) struct Reference<'a> {
    #[serde(borrow)]
    pub(crate) reference: Option<Str<'a>>,
}

/// FHIR `Identifier`.
#[derive(Debug, Deserialize)]
pub(crate) struct Identifier<'a> {
    #[serde(borrow, rename = "type")]
    pub(crate) kind: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) system: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) value: Option<Str<'a>>,
}

/// FHIR `Meta`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Meta<'a> {
    #[serde(borrow)]
    pub(crate) version_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) last_updated: Option<Str<'a>>,
}

/// FHIR `Period`.
#[derive(Debug, Deserialize)]
pub(crate) struct Period<'a> {
    #[serde(borrow)]
    pub(crate) start: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) end: Option<Str<'a>>,
}

/// FHIR `Quantity` (decimal read as `f64`).
#[derive(Debug, Deserialize)]
pub(crate) struct Quantity<'a> {
    pub(crate) value: Option<f64>,
    #[serde(borrow)]
    pub(crate) unit: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) system: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) code: Option<Str<'a>>,
}

/// FHIR `Money` (decimal read as `f64`).
#[derive(Debug, Deserialize)]
pub(crate) struct Money<'a> {
    pub(crate) value: Option<f64>,
    #[serde(borrow)]
    pub(crate) currency: Option<Str<'a>>,
}

/// `HumanName` (first name only is flattened).
#[derive(Debug, Deserialize)]
pub(crate) struct HumanName<'a> {
    #[serde(borrow)]
    pub(crate) family: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(crate) given: Vec<Str<'a>>,
}

/// `Address` (first address only is flattened).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address<'a> {
    #[serde(borrow)]
    pub(crate) city: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) state: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) postal_code: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) country: Option<Str<'a>>,
}

/// The elements every flattened resource shares.
pub(crate) struct Base<'r, 'a> {
    pub(crate) resource_type: &'r Option<Str<'a>>,
    pub(crate) id: &'r Option<Str<'a>>,
    pub(crate) meta: &'r Option<Meta<'a>>,
    pub(crate) identifier: &'r Option<Vec<Identifier<'a>>>,
}

/// A resource model with the shared elements.
pub(crate) trait HasBase<'a> {
    /// The shared elements.
    fn base(&self) -> Base<'_, 'a>;
}

/// Declares a resource model with the shared elements plus `$field`s.
macro_rules! resource {
    ($name:ident<$lt:lifetime> { $($(#[$m:meta])* $field:ident : $ty:ty,)* }) => {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name<$lt> {
            #[serde(borrow)]
            pub(crate) resource_type: Option<Str<$lt>>,
            #[serde(borrow)]
            pub(crate) id: Option<Str<$lt>>,
            #[serde(borrow)]
            pub(crate) meta: Option<Meta<$lt>>,
            #[serde(borrow)]
            pub(crate) identifier: Option<Vec<Identifier<$lt>>>,
            $($(#[$m])* pub(crate) $field: $ty,)*
        }

        impl<$lt> HasBase<$lt> for $name<$lt> {
            fn base(&self) -> Base<'_, $lt> {
                Base {
                    resource_type: &self.resource_type,
                    id: &self.id,
                    meta: &self.meta,
                    identifier: &self.identifier,
                }
            }
        }
    };
}

resource!(Patient<'a> {
    active: Option<bool>,
    #[serde(borrow)] gender: Option<Str<'a>>,
    #[serde(borrow)] birth_date: Option<Str<'a>>,
    deceased_boolean: Option<bool>,
    #[serde(borrow)] deceased_date_time: Option<Str<'a>>,
    #[serde(borrow)] name: Option<Vec<HumanName<'a>>>,
    #[serde(borrow)] address: Option<Vec<Address<'a>>>,
    #[serde(borrow)] marital_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)] managing_organization: Option<Reference<'a>>,
});

/// `Encounter.hospitalization` (discharge disposition only).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Hospitalization<'a> {
    #[serde(borrow)]
    pub(crate) discharge_disposition: Option<CodeableConcept<'a>>,
}

resource!(Encounter<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] class: Option<Coding<'a>>,
    #[serde(borrow)] r#type: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] subject: Option<Reference<'a>>,
    #[serde(borrow)] period: Option<Period<'a>>,
    #[serde(borrow)] reason_code: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] hospitalization: Option<Hospitalization<'a>>,
    #[serde(borrow)] service_provider: Option<Reference<'a>>,
});

/// `Observation.component`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Component<'a> {
    #[serde(borrow)]
    pub(crate) code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) value_quantity: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub(crate) value_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) value_string: Option<Str<'a>>,
}

resource!(Observation<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] category: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] code: Option<CodeableConcept<'a>>,
    #[serde(borrow)] subject: Option<Reference<'a>>,
    #[serde(borrow)] encounter: Option<Reference<'a>>,
    #[serde(borrow)] effective_date_time: Option<Str<'a>>,
    #[serde(borrow)] effective_instant: Option<Str<'a>>,
    #[serde(borrow)] effective_period: Option<Period<'a>>,
    #[serde(borrow)] issued: Option<Str<'a>>,
    #[serde(borrow)] value_quantity: Option<Quantity<'a>>,
    #[serde(borrow)] value_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)] value_string: Option<Str<'a>>,
    value_boolean: Option<bool>,
    value_integer: Option<i64>,
    #[serde(borrow)] value_date_time: Option<Str<'a>>,
    #[serde(borrow)] interpretation: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] component: Option<Vec<Component<'a>>>,
});

resource!(Condition<'a> {
    #[serde(borrow)] clinical_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)] verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)] category: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] code: Option<CodeableConcept<'a>>,
    #[serde(borrow)] subject: Option<Reference<'a>>,
    #[serde(borrow)] encounter: Option<Reference<'a>>,
    #[serde(borrow)] onset_date_time: Option<Str<'a>>,
    #[serde(borrow)] onset_period: Option<Period<'a>>,
    #[serde(borrow)] abatement_date_time: Option<Str<'a>>,
    #[serde(borrow)] abatement_period: Option<Period<'a>>,
    #[serde(borrow)] recorded_date: Option<Str<'a>>,
});

resource!(Procedure<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] code: Option<CodeableConcept<'a>>,
    #[serde(borrow)] subject: Option<Reference<'a>>,
    #[serde(borrow)] encounter: Option<Reference<'a>>,
    #[serde(borrow)] performed_date_time: Option<Str<'a>>,
    #[serde(borrow)] performed_period: Option<Period<'a>>,
    #[serde(borrow)] reason_code: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] reason_reference: Option<Vec<Reference<'a>>>,
    #[serde(borrow)] location: Option<Reference<'a>>,
});

/// `MedicationRequest.dosageInstruction` (text only).
#[derive(Debug, Deserialize)]
pub(crate) struct Dosage<'a> {
    #[serde(borrow)]
    pub(crate) text: Option<Str<'a>>,
}

resource!(MedicationRequest<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] intent: Option<Str<'a>>,
    #[serde(borrow)] category: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)] medication_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)] medication_reference: Option<Reference<'a>>,
    #[serde(borrow)] subject: Option<Reference<'a>>,
    #[serde(borrow)] encounter: Option<Reference<'a>>,
    #[serde(borrow)] authored_on: Option<Str<'a>>,
    #[serde(borrow)] requester: Option<Reference<'a>>,
    #[serde(borrow)] reason_reference: Option<Vec<Reference<'a>>>,
    #[serde(borrow)] dosage_instruction: Option<Vec<Dosage<'a>>>,
});

resource!(AllergyIntolerance<'a> {
    #[serde(borrow)] clinical_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)] verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)] r#type: Option<Str<'a>>,
    #[serde(borrow)] category: Option<Vec<Str<'a>>>,
    #[serde(borrow)] criticality: Option<Str<'a>>,
    #[serde(borrow)] code: Option<CodeableConcept<'a>>,
    #[serde(borrow)] patient: Option<Reference<'a>>,
    #[serde(borrow)] encounter: Option<Reference<'a>>,
    #[serde(borrow)] onset_date_time: Option<Str<'a>>,
    #[serde(borrow)] recorded_date: Option<Str<'a>>,
});

resource!(Immunization<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] vaccine_code: Option<CodeableConcept<'a>>,
    #[serde(borrow)] patient: Option<Reference<'a>>,
    #[serde(borrow)] encounter: Option<Reference<'a>>,
    #[serde(borrow)] occurrence_date_time: Option<Str<'a>>,
    primary_source: Option<bool>,
    #[serde(borrow)] lot_number: Option<Str<'a>>,
    #[serde(borrow)] location: Option<Reference<'a>>,
});

resource!(Coverage<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] r#type: Option<CodeableConcept<'a>>,
    #[serde(borrow)] subscriber: Option<Reference<'a>>,
    #[serde(borrow)] subscriber_id: Option<Str<'a>>,
    #[serde(borrow)] beneficiary: Option<Reference<'a>>,
    #[serde(borrow)] relationship: Option<CodeableConcept<'a>>,
    #[serde(borrow)] period: Option<Period<'a>>,
    #[serde(borrow)] payor: Option<Vec<Reference<'a>>>,
});

resource!(Claim<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] r#type: Option<CodeableConcept<'a>>,
    #[serde(borrow)] r#use: Option<Str<'a>>,
    #[serde(borrow)] patient: Option<Reference<'a>>,
    #[serde(borrow)] billable_period: Option<Period<'a>>,
    #[serde(borrow)] created: Option<Str<'a>>,
    #[serde(borrow)] provider: Option<Reference<'a>>,
    #[serde(borrow)] insurer: Option<Reference<'a>>,
    #[serde(borrow)] priority: Option<CodeableConcept<'a>>,
    #[serde(borrow)] total: Option<Money<'a>>,
});

/// `ExplanationOfBenefit.total`.
#[derive(Debug, Deserialize)]
pub(crate) struct EobTotal<'a> {
    #[serde(borrow)]
    pub(crate) category: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) amount: Option<Money<'a>>,
}

/// `ExplanationOfBenefit.payment` (amount only).
#[derive(Debug, Deserialize)]
pub(crate) struct EobPayment<'a> {
    #[serde(borrow)]
    pub(crate) amount: Option<Money<'a>>,
}

resource!(ExplanationOfBenefit<'a> {
    #[serde(borrow)] status: Option<Str<'a>>,
    #[serde(borrow)] r#type: Option<CodeableConcept<'a>>,
    #[serde(borrow)] r#use: Option<Str<'a>>,
    #[serde(borrow)] patient: Option<Reference<'a>>,
    #[serde(borrow)] billable_period: Option<Period<'a>>,
    #[serde(borrow)] created: Option<Str<'a>>,
    #[serde(borrow)] insurer: Option<Reference<'a>>,
    #[serde(borrow)] provider: Option<Reference<'a>>,
    #[serde(borrow)] claim: Option<Reference<'a>>,
    #[serde(borrow)] outcome: Option<Str<'a>>,
    #[serde(borrow)] total: Option<Vec<EobTotal<'a>>>,
    #[serde(borrow)] payment: Option<EobPayment<'a>>,
});
