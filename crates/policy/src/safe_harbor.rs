//! The built-in HIPAA Safe Harbor profile (45 CFR 164.514(b)(2)): a policy
//! that de-identifies caresync's tables for any purpose of use.
//!
//! ```
//! use caresync_policy::{Generalization, Method, safe_harbor};
//!
//! let profile = safe_harbor::profile()?;
//! let patient = profile.table("patient").expect("the profile covers patient");
//! let research = |column: &str| patient.decide(column, "HRESCH", None);
//! assert_eq!(research("name_family"), &Method::Null);
//! assert_eq!(research("birth_date"), &Method::Generalize(Generalization::BirthYear));
//! assert_eq!(research("address_postal_code"), &Method::Generalize(Generalization::Zip3));
//! assert_eq!(research("id").name(), "hash");
//! assert_eq!(research("gender"), &Method::Keep);
//! // A column nobody has reviewed yet is served as nulls.
//! assert_eq!(research("nickname"), &Method::Null);
//! // Served for every purpose: de-identified data is not PHI.
//! assert_eq!(profile.purposes.len(), caresync_policy::PURPOSES_OF_USE.len());
//! # Ok::<(), caresync_policy::PolicyError>(())
//! ```
//!
//! Serving it needs the re-identification key, read from
//! [`KEY_ENV`] by [`Keyring::from_sources`](crate::Keyring::from_sources)
//! (or put in a [`Keyring`](crate::Keyring) under [`KEY_NAME`]):
//! `profile.plan(table, &schema, &request, &keys)?.apply(&batch)?`.
//!
//! # An allow-list
//!
//! Every table's default is `null`. Each column of today's schemas is named
//! by exactly one rule, and only columns shown not to identify anyone are
//! served: clinical, financial, code and status values are kept, dates are
//! coarsened, ids are hashed. A column added to a schema later, or one this
//! profile does not know, is served as nulls until someone reviews it: the
//! profile fails closed. A rule naming a column the batch lacks is an error
//! ([`Policy::plan`]), so a renamed column is noticed rather than leaked.
//!
//! Nested columns (FHIR `identifiers`, `name_given`, Observation
//! `components`) can only be kept or nulled; those that may hold an
//! identifier or free text are nulled. `resource_json`, every `*_text`,
//! `*_display` and free-text value is nulled: senders put names in them.
//!
//! # The 18 identifiers
//!
//! 164.514(b)(2)(i) lists eighteen kinds of identifier of the individual,
//! or of relatives, employers or household members, that must be removed.
//! The profile's file (`safe_harbor.toml`, [`TOML`]) says above each table
//! which of its columns fall under which kind; in short:
//!
//! - (A) names, (D) telephone, (E) fax, (F) email, (G) SSNs, (H) medical
//!   record numbers, (I) health plan beneficiary numbers, (K) licences,
//!   (L) vehicles, (M) devices, (N) URLs, (O) IP addresses, (P) biometrics,
//!   (Q) photographs: nulled, with the free text and raw JSON that may
//!   carry them.
//! - (B) geographic subdivisions smaller than a state: street and city
//!   nulled; ZIP codes generalised to their first three digits, and to
//!   `000` for the three-digit areas of 20,000 people or fewer
//!   ([`RESTRICTED_ZIP3`](crate::RESTRICTED_ZIP3), the 2000 Census list HHS
//!   publishes). States and countries are kept.
//! - (C) dates: every date and timestamp in every table becomes 1 January
//!   of its year. Birth dates become their year too, except that everyone
//!   90 or older on the request's date gets the one year `request year − 90`
//!   ([`Generalization::BirthYear`](crate::Generalization::BirthYear)):
//!   Safe Harbor's single "90 or older" category, so no birth year tells
//!   an age over 89. (No table has an age column; one would take
//!   [`Generalization::Age`](crate::Generalization::Age), over 89 becoming
//!   90.)
//! - (J) account numbers and (R) any other unique number or code: nulled,
//!   except record ids, references and keys, which are hashed (below).
//!
//! Provider NPIs, provider and payer names and payer ids are kept: Safe
//! Harbor is about the individual and their household, not the people
//! treating them, and NPIs are public. Provider tax ids are nulled (a sole
//! practitioner's may be an SSN).
//!
//! # Hashed ids and the secret key
//!
//! Resource ids, references (`subject_id`, `patient_id`, `encounter_id`...)
//! and X12 keys are HMAC-SHA256 under the key `safe_harbor`, 64 hex digits,
//! so the de-identified tables still join with each other, and the same
//! patient id gives the same pseudonym in every table. 164.514(c) permits
//! such a re-identification code only while it cannot be translated back
//! by anyone else: the covered entity must keep the key secret, never
//! disclose it (with the data or otherwise) nor use it for anything else,
//! and make it at least [`MIN_KEY_BYTES`](crate::MIN_KEY_BYTES) random
//! bytes. Whoever holds the key can hash candidate ids and re-identify.
//!
//! Removing the eighteen is half of Safe Harbor; the other half
//! (164.514(b)(2)(ii)) is that the covered entity has no actual knowledge
//! that what remains could identify someone, which no policy file decides.

use crate::model::{Policy, PolicyError};

/// The environment variable the profile reads its key from.
pub const KEY_ENV: &str = "CARESYNC_SAFE_HARBOR_KEY";

/// The key's name in the profile (for [`Keyring::insert`](crate::Keyring::insert)).
pub const KEY_NAME: &str = "safe_harbor";

/// The profile's policy file, as built in: a starting point for a
/// site's own profile.
pub const TOML: &str = include_str!("safe_harbor.toml");

/// The file name errors name.
const FILE: &str = "safe_harbor.toml";

/// The built-in Safe Harbor profile, `hipaa_safe_harbor`, parsed.
///
/// Its tables: the FHIR silver tables by snake-case resource type
/// (`patient`, `encounter`, `observation`, `condition`, `procedure`,
/// `medication_request`, `allergy_intolerance`, `immunization`,
/// `coverage`, `fhir_claim`, `explanation_of_benefit`), the X12 tables
/// (`claim`, `claim_line`, `claim_diagnosis`, `remittance`,
/// `remittance_line`, `adjustment`) and the testkit's `generated_patient`
/// and `generated_encounter`.
///
/// The text is built in and tested, so this fails only if the policy
/// model changes under it.
pub fn profile() -> Result<Policy, PolicyError> {
    Policy::from_toml(TOML, FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeySource;

    #[test]
    fn the_profile_parses_and_reads_its_key_from_the_environment() {
        let p = profile().expect("the built-in profile parses");
        assert_eq!(p.name, "hipaa_safe_harbor");
        assert_eq!(p.version.to_string(), "1.0.0");
        assert_eq!(
            p.keys.get(KEY_NAME),
            Some(&KeySource::Env(KEY_ENV.to_owned()))
        );
        assert_eq!(p.keys.len(), 1);
    }
}
