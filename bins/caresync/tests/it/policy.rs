//! `caresync policy check`, the PHI gate.

use std::process::Command;

const SHIPPED_POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/serving.toml");
const SHIPPED_CONTRACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts");

fn check(policy: &str) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caresync"))
        .args([
            "policy",
            "check",
            "--policy",
            policy,
            "--registry",
            SHIPPED_CONTRACTS,
        ])
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shipped policy with `edit` applied to its text, in a temp file.
fn edited(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(SHIPPED_POLICY).expect("the shipped policy");
    let path = dir.path().join("serving.toml");
    std::fs::write(&path, edit(text)).expect("write");
    let path = path.display().to_string();
    (dir, path)
}

#[test]
fn the_shipped_policy_covers_every_phi_field_of_the_shipped_contracts() {
    let (code, out, err) = check(SHIPPED_POLICY);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out,
        "policy serving 1.0.0: 2 tables, 4 purposes: every PHI field has a rule\n"
    );
}

#[test]
fn a_phi_field_without_a_rule_for_a_purpose_fails_the_gate() {
    // Research loses its pseudonym rule: the encounter id and the MRN have
    // no rule for HRESCH.
    let (_dir, path) = edited(|t| {
        t.replace(
            "columns = [\"encounter_id\", \"mrn\"]\npurposes = [\"HOPERAT\", \"HRESCH\"]",
            "columns = [\"encounter_id\", \"mrn\"]\npurposes = [\"HOPERAT\"]",
        )
    });
    let (code, out, _) = check(&path);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out,
        "policy serving 1.0.0: [POLICY-0100] table encounter: column encounter_id: an identifier field has no rule for purpose HRESCH\n\
         policy serving 1.0.0: [POLICY-0100] table encounter: column mrn: an identifier field has no rule for purpose HRESCH\n"
    );

    // A rule naming a column the contract lacks, and a method that cannot
    // mask its field's type.
    let (_dir, path) = edited(|t| {
        t.replace("\"status\", \"ward\"]", "\"status\", \"wrad\"]")
            .replace(
                "method = \"generalize\"\nto = \"year\"",
                "method = \"generalize\"\nto = \"zip3\"",
            )
    });
    let (code, out, _) = check(&path);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("[POLICY-0101] table encounter: column wrad: the rule at line 22 names a column contract encounter 1.0.0 does not have"),
        "{out}"
    );
    assert!(
        out.contains("[POLICY-0102] table claim_line: column service_date: the rule at line 83: generalize to zip3 on a date field: zip3 takes text columns"),
        "{out}"
    );
}

#[test]
fn a_bad_policy_file_exits_2_naming_file_and_line() {
    let (_dir, path) = edited(|t| {
        t.replace(
            "purposes = [\"TREAT\", \"HPAYMT\", \"HOPERAT\", \"HRESCH\"]",
            "purposes = [\"TREAT\", \"LUNCH\"]",
        )
    });
    let (code, out, err) = check(&path);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("[POLICY-0002]") && err.contains("serving.toml:8: purposes: unknown purpose"),
        "{err}"
    );
    let (code, _, err) = check("/nonexistent/policy.toml");
    assert_eq!(code, Some(2), "{err}");
}
