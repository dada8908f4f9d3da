//! `check`: a policy against the contracts of the tables it covers.

use caresync_contract::Contract;
use caresync_policy::{Policy, check};

fn contract() -> Contract {
    Contract::from_toml(
        r#"
        entity = "patient"
        version = "1.2.0"
        [[field]]
        name = "id"
        type = "string"
        required = true
        primary_key = true
        [[field]]
        name = "mrn"
        type = "string"
        phi = "identifier"
        [[field]]
        name = "birth_date"
        type = "date"
        phi = "quasi_identifier"
        [[field]]
        name = "sex"
        type = "string"
        "#,
        "patient.toml",
    )
    .expect("a contract")
}

fn policy(roles: &str, rules: &str) -> Policy {
    let text = format!(
        "policy = \"p\"\nversion = \"1.0.0\"\npurposes = [\"TREAT\", \"HRESCH\"]\n{roles}\n\
         [keys.k]\nenv = \"K\"\n[[table]]\nname = \"patient\"\n{rules}"
    );
    Policy::from_toml(&text, "p.toml").expect("a policy")
}

fn found(policy: &Policy) -> Vec<String> {
    check(policy, &[contract()])
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_phi_field_needs_a_rule_for_every_purpose_and_role() {
    let covered = policy(
        "",
        "[[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"hash\"\nkey = \"k\"\n\
         [[table.rule]]\ncolumns = [\"birth_date\"]\npurposes = [\"TREAT\"]\nmethod = \"keep\"\n\
         [[table.rule]]\ncolumns = [\"birth_date\"]\npurposes = [\"HRESCH\"]\nmethod = \"generalize\"\nto = \"birth_year\"\n",
    );
    assert_eq!(found(&covered), Vec::<String>::new());

    // The table default does not count: a gate wants an explicit decision.
    let gaps = policy(
        "",
        "default = \"keep\"\n[[table.rule]]\ncolumns = [\"birth_date\"]\npurposes = [\"TREAT\"]\nmethod = \"keep\"\n",
    );
    assert_eq!(
        found(&gaps),
        [
            "[POLICY-0100] table patient: column mrn: an identifier field has no rule for purpose TREAT",
            "[POLICY-0100] table patient: column mrn: an identifier field has no rule for purpose HRESCH",
            "[POLICY-0100] table patient: column birth_date: a quasi-identifier field has no rule for purpose HRESCH",
        ]
    );

    // With roles, each role is checked: a clinician-only rule leaves billing uncovered.
    let roles = policy(
        "roles = [\"clinician\", \"billing\"]",
        "[[table.rule]]\ncolumns = [\"mrn\", \"birth_date\"]\nroles = [\"clinician\"]\nmethod = \"keep\"\n\
         [[table.rule]]\ncolumns = [\"mrn\", \"birth_date\"]\npurposes = [\"HRESCH\"]\nmethod = \"null\"\n",
    );
    assert_eq!(
        found(&roles),
        [
            "[POLICY-0100] table patient: column mrn: an identifier field has no rule for purpose TREAT, role billing",
            "[POLICY-0100] table patient: column birth_date: a quasi-identifier field has no rule for purpose TREAT, role billing",
        ]
    );
}

#[test]
fn unknown_columns_unsuitable_methods_and_tables_without_contracts_are_found() {
    let mut p = policy(
        "",
        "consent = { column = \"consent\", holds = \"excluded\" }\n\
         [[table.rule]]\ncolumns = [\"birth_date\"]\nmethod = \"date_shift\"\nkey = \"k\"\nby = \"patient_id\"\n\
         [[table.rule]]\ncolumns = [\"mrn\", \"birth_date\"]\nmethod = \"generalize\"\nto = \"zip3\"\n\
         [[table.filter]]\ndrop_when = { column = \"vip\", equals = true }\n",
    );
    assert_eq!(
        found(&p),
        [
            "[POLICY-0101] table patient: column patient_id: date_shift at line 10 (by) names a column contract patient 1.2.0 does not have",
            "[POLICY-0102] table patient: column birth_date: the rule at line 15: generalize to zip3 on a date field: zip3 takes text columns",
            "[POLICY-0101] table patient: column consent: consent names a column contract patient 1.2.0 does not have",
            "[POLICY-0101] table patient: column vip: a row filter names a column contract patient 1.2.0 does not have",
        ]
    );
    // A default that cannot mask a field some request leaves to it.
    let redacting = policy(
        "",
        "default = \"redact\"\n[[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"null\"\n\
         [[table.rule]]\ncolumns = [\"birth_date\"]\npurposes = [\"TREAT\"]\nmethod = \"keep\"\n",
    );
    assert_eq!(
        found(&redacting),
        [
            "[POLICY-0102] table patient: column birth_date: the table's default, redact, on a date field: the method masks text columns only",
            "[POLICY-0100] table patient: column birth_date: a quasi-identifier field has no rule for purpose HRESCH",
        ]
    );
    p.tables[0].name = "observation".to_owned();
    assert_eq!(
        found(&p),
        ["[POLICY-0103] table observation: no contract describes this table"]
    );
}
