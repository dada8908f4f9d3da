//! `caresync contract export --odcs`: contracts as Open Data Contract
//! Standard YAML.

use std::path::Path;
use std::process::Command;

use caresync_contract::{Contract, to_odcs_yaml};

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts");

/// `caresync contract export ARGS`: exit code, standard output and error.
fn export(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caresync"))
        .args(["contract", "export"])
        .args(args)
        .output()
        .expect("run caresync");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn contract(path: &Path) -> Contract {
    let text = std::fs::read_to_string(path).expect("a contract file");
    Contract::from_toml(&text, &path.display().to_string()).expect("a valid contract")
}

fn shipped(entity: &str) -> String {
    format!("{SHIPPED}/{entity}/1.0.0.toml")
}

/// Asserts that `yaml` names every field of `contract` as a property.
fn names_every_field(yaml: &str, contract: &Contract) {
    for field in &contract.fields {
        let property = format!("  - name: \"{}\"\n", field.name);
        assert!(yaml.contains(&property), "no {property:?} in:\n{yaml}");
    }
}

/// A registry with the shipped claim line and encounter 1.0.0, and an
/// encounter 1.1.0 with one more (optional) field.
fn registry() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entity in ["claim_line", "encounter"] {
        std::fs::create_dir(dir.path().join(entity)).expect("folder");
        std::fs::copy(
            shipped(entity),
            dir.path().join(format!("{entity}/1.0.0.toml")),
        )
        .expect("copy");
    }
    let text = std::fs::read_to_string(shipped("encounter")).expect("the shipped contract");
    let edited = text.replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        + "\n[[field]]\nname = \"bed\"\ntype = \"string\"\n";
    std::fs::write(dir.path().join("encounter/1.1.0.toml"), edited).expect("write");
    dir
}

#[test]
fn the_shipped_registry_exports_every_entity() {
    let (code, out, err) = export(&["--odcs", "--registry", SHIPPED]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("apiVersion: "), "{out}");
    for entity in ["claim_line", "encounter"] {
        assert!(
            out.contains(&format!("\nid: \"caresync:{entity}\"\n")),
            "{out}"
        );
        names_every_field(&out, &contract(Path::new(&shipped(entity))));
    }
}

#[test]
fn a_registry_exports_the_newest_version_of_each_entity_in_entity_order() {
    let dir = registry();
    let root = dir.path();
    let claim_line = contract(&root.join("claim_line/1.0.0.toml"));
    let encounter = contract(&root.join("encounter/1.0.0.toml"));
    let newer = contract(&root.join("encounter/1.1.0.toml"));
    let registry = root.display().to_string();

    let (code, out, err) = export(&["--odcs", "--registry", &registry]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!("{}---\n{}", to_odcs_yaml(&claim_line), to_odcs_yaml(&newer))
    );
    names_every_field(&out, &claim_line);
    names_every_field(&out, &newer);
    assert!(out.contains("\nversion: \"1.1.0\"\n"), "{out}");

    let (code, out, err) = export(&["--odcs", "--registry", &registry, "--entity", "encounter"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, to_odcs_yaml(&newer));

    let (code, out, err) = export(&[
        "--odcs",
        "--registry",
        &registry,
        "--entity",
        "encounter",
        "--version",
        "1.0.0",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, to_odcs_yaml(&encounter));
}

#[test]
fn an_entity_or_version_the_registry_lacks_exits_2() {
    let dir = registry();
    let registry = dir.path().display().to_string();
    for (args, needle) in [
        (
            vec!["--entity", "patient"],
            "no contract of this entity in the registry",
        ),
        (
            vec!["--entity", "encounter", "--version", "9.9.9"],
            "no such version of this entity in the registry",
        ),
    ] {
        let mut all = vec!["--odcs", "--registry", &registry];
        all.extend(args);
        let (code, out, err) = export(&all);
        assert_eq!(code, Some(2), "{all:?}: {out}");
        assert_eq!(out, "");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn files_export_in_the_order_given() {
    let (encounter, claim_line) = (shipped("encounter"), shipped("claim_line"));
    let (code, out, err) = export(&["--odcs", &encounter, &claim_line]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("apiVersion: \"v3.1.0\"\n"), "{out}");
    let (encounter, claim_line) = (
        contract(Path::new(&encounter)),
        contract(Path::new(&claim_line)),
    );
    assert_eq!(
        out,
        format!(
            "{}---\n{}",
            to_odcs_yaml(&encounter),
            to_odcs_yaml(&claim_line)
        )
    );
    names_every_field(&out, &encounter);
    names_every_field(&out, &claim_line);
}

#[test]
fn a_bad_file_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "entity = \"encounter\"\nversion = \"1.1\"\n").expect("write");
    let bad = bad.display().to_string();
    let (code, out, err) = export(&["--odcs", &shipped("encounter"), &bad]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(out, "", "nothing is written when a file is bad");
    assert!(err.contains("bad.toml:2: field version"), "{err}");

    let missing = dir.path().join("missing.toml").display().to_string();
    let (code, _, err) = export(&["--odcs", &missing]);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing.toml"), "{err}");

    // A bad file in a registry too.
    let (code, _, err) = export(&["--odcs", "--registry", &dir.path().display().to_string()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.toml:2: field version"), "{err}");
}

#[test]
fn the_format_and_one_source_are_required() {
    for args in [
        vec!["--registry", SHIPPED],
        vec!["--odcs"],
        vec!["--odcs", "--registry", SHIPPED, "x.toml"],
        vec!["--odcs", "--registry", SHIPPED, "--version", "1.0.0"],
        vec!["--odcs", "--entity", "encounter", "x.toml"],
    ] {
        let (code, out, _) = export(&args);
        assert_eq!(code, Some(2), "{args:?}");
        assert_eq!(out, "", "{args:?}");
    }
}
