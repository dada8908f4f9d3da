use caresync_testkit::generate::{Generator, encounters_batch, patients_batch};
use expect_test::expect;

/// The generator's output is part of its contract: tests elsewhere pin values
/// derived from seeds. A change here must be deliberate.
#[test]
fn seed_fixes_the_output() {
    let mut g = Generator::new(2026);
    let p = g.patient();
    let e = g.encounter(&p);
    expect![[r#"
        (
            Patient {
                id: "pat-f4364e107ba9",
                mrn: "MRN96296791",
                family: "Johnson",
                given: "Casey",
                middle: None,
                sex: Other,
                birth_date: 1967-05-31,
                ssn: "081-47-2226",
                phone: "(615) 555-0100",
                address: Address {
                    line: "9460 Oak Blvd",
                    city: "Nashville",
                    state: "TN",
                    zip: "37263",
                },
                updated_at: 2025-08-28T03:19:03.900551Z,
            },
            Encounter {
                id: "enc-247957110a05",
                patient_id: "pat-f4364e107ba9",
                mrn: "MRN96296791",
                class: Outpatient,
                admit_at: 2025-07-15T19:24:41.753608Z,
                discharge_at: Some(
                    2025-07-15T19:50:41.753608Z,
                ),
                payer_class: "self-pay",
                facility: "Northside Urgent Care",
                attending_npi: "2036225102",
                diagnosis_code: "N39.0",
                updated_at: 2025-07-15T20:44:00.753608Z,
            },
        )
    "#]]
    .assert_debug_eq(&(&p, &e));
}

#[test]
fn batches_round_trip_the_records() {
    let mut g = Generator::new(9);
    let (patients, encounters) = g.patients_with_encounters(25, 2);
    let pb = patients_batch(&patients);
    let eb = encounters_batch(&encounters);
    assert_eq!(pb.num_rows(), 25);
    assert_eq!(eb.num_rows(), 50);
    let ids = pb
        .column_by_name("id")
        .expect("id column")
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("utf8");
    assert_eq!(ids.value(7), patients[7].id);
}
