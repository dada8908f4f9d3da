//! Validation against fhir-sdk's R4B model (the `validate` feature), and the
//! list of R4B resource types (always).

#[cfg(feature = "validate")]
use serde::de::DeserializeOwned;

#[cfg(feature = "validate")]
use super::error::from_json;
#[cfg(feature = "validate")]
use super::identity::identify;
#[cfg(feature = "validate")]
use super::{ReadError, Source};

/// Validates one resource against the FHIR R4B model of fhir-sdk.
///
/// The resource is deserialized into its concrete R4B type (chosen by
/// `resourceType`) through `serde_path_to_error`, so a violation reports
/// the JSON path of the element at fault: `name` when `Patient.name` is an
/// object instead of an array, `.` with "missing field `status`" when a
/// required element is absent. Unknown elements are ignored (fhir-sdk does
/// not deny them), which is what lets R4 JSON validate as R4B where the two
/// agree. A `resourceType` that R4B does not define is
/// [`ReadError::UnknownResourceType`].
///
/// Validation builds the typed model and is far slower than reading; it is a
/// separate step for that reason. Paths inside a Bundle's own entries stop at
/// `entry[i].resource` when validating the Bundle as a whole (fhir-sdk
/// buffers polymorphic resources); validate entries one by one through
/// [`super::read_bundle`] and [`super::RawResource::validate`] to get full
/// paths such as `entry[3].resource.status`.
///
/// ```
/// use caresync_fhir::read::validate;
///
/// let err = validate(r#"{"resourceType":"Patient","name":{"family":"X"}}"#).expect_err("name is an array");
/// assert_eq!(err.path(), Some("name"));
/// assert!(validate(r#"{"resourceType":"Patient","name":[{"family":"X"}]}"#).is_ok());
/// ```
#[cfg(feature = "validate")]
pub fn validate(json: &str) -> Result<(), ReadError> {
    validate_at(json, Source::WHOLE)
}

#[cfg(feature = "validate")]
pub(crate) fn validate_at(json: &str, at: Source) -> Result<(), ReadError> {
    let identity = identify(json, false, at)?;
    dispatch(identity.resource_type(), json, at)
}

#[cfg(feature = "validate")]
fn check<T: DeserializeOwned>(json: &str, at: Source) -> Result<(), ReadError> {
    let mut de = serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => Ok(()),
        Err(err) => {
            let path = crate::json_path::safe_path(err.path(), "");
            Err(from_json(at, &path, &err.into_inner()))
        }
    }
}

macro_rules! resource_types {
    ($($name:ident,)*) => {
        /// True when `name` is a resource type that FHIR R4B defines.
        pub fn is_r4b_resource_type(name: &str) -> bool {
            matches!(name, $(stringify!($name))|*)
        }

        #[cfg(feature = "validate")]
        fn dispatch(resource_type: &str, json: &str, at: Source) -> Result<(), ReadError> {
            use fhir_sdk::r4b::resources as r;
            match resource_type {
                $(stringify!($name) => check::<r::$name>(json, at),)*
                other => Err(ReadError::UnknownResourceType {
                    at,
                    resource_type: other.into(),
                }),
            }
        }
    };
}

resource_types! {
        Account,
        ActivityDefinition,
        AdministrableProductDefinition,
        AdverseEvent,
        AllergyIntolerance,
        Appointment,
        AppointmentResponse,
        AuditEvent,
        Basic,
        Binary,
        BiologicallyDerivedProduct,
        BodyStructure,
        Bundle,
        CapabilityStatement,
        CarePlan,
        CareTeam,
        CatalogEntry,
        ChargeItem,
        ChargeItemDefinition,
        Citation,
        Claim,
        ClaimResponse,
        ClinicalImpression,
        ClinicalUseDefinition,
        CodeSystem,
        Communication,
        CommunicationRequest,
        CompartmentDefinition,
        Composition,
        ConceptMap,
        Condition,
        Consent,
        Contract,
        Coverage,
        CoverageEligibilityRequest,
        CoverageEligibilityResponse,
        DetectedIssue,
        Device,
        DeviceDefinition,
        DeviceMetric,
        DeviceRequest,
        DeviceUseStatement,
        DiagnosticReport,
        DocumentManifest,
        DocumentReference,
        Encounter,
        Endpoint,
        EnrollmentRequest,
        EnrollmentResponse,
        EpisodeOfCare,
        EventDefinition,
        Evidence,
        EvidenceReport,
        EvidenceVariable,
        ExampleScenario,
        ExplanationOfBenefit,
        FamilyMemberHistory,
        Flag,
        Goal,
        GraphDefinition,
        Group,
        GuidanceResponse,
        HealthcareService,
        ImagingStudy,
        Immunization,
        ImmunizationEvaluation,
        ImmunizationRecommendation,
        ImplementationGuide,
        Ingredient,
        InsurancePlan,
        Invoice,
        Library,
        Linkage,
        List,
        Location,
        ManufacturedItemDefinition,
        Measure,
        MeasureReport,
        Media,
        Medication,
        MedicationAdministration,
        MedicationDispense,
        MedicationKnowledge,
        MedicationRequest,
        MedicationStatement,
        MedicinalProductDefinition,
        MessageDefinition,
        MessageHeader,
        MolecularSequence,
        NamingSystem,
        NutritionOrder,
        NutritionProduct,
        Observation,
        ObservationDefinition,
        OperationDefinition,
        OperationOutcome,
        Organization,
        OrganizationAffiliation,
        PackagedProductDefinition,
        Parameters,
        Patient,
        PaymentNotice,
        PaymentReconciliation,
        Person,
        PlanDefinition,
        Practitioner,
        PractitionerRole,
        Procedure,
        Provenance,
        Questionnaire,
        QuestionnaireResponse,
        RegulatedAuthorization,
        RelatedPerson,
        RequestGroup,
        ResearchDefinition,
        ResearchElementDefinition,
        ResearchStudy,
        ResearchSubject,
        RiskAssessment,
        Schedule,
        SearchParameter,
        ServiceRequest,
        Slot,
        Specimen,
        SpecimenDefinition,
        StructureDefinition,
        StructureMap,
        Subscription,
        SubscriptionStatus,
        SubscriptionTopic,
        Substance,
        SubstanceDefinition,
        SupplyDelivery,
        SupplyRequest,
        Task,
        TerminologyCapabilities,
        TestReport,
        TestScript,
        ValueSet,
        VerificationResult,
        VisionPrescription,
}
