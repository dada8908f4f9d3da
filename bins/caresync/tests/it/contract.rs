//! `caresync contract check`, the compatibility gate.

use crate::caresync_with_stderr;

fn registry_with(extra: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/encounter/1.0.0.toml"
    );
    std::fs::create_dir(dir.path().join("encounter")).expect("folder");
    std::fs::copy(shipped, dir.path().join("encounter/1.0.0.toml")).expect("copy");
    if let Some(text) = extra {
        std::fs::write(dir.path().join("encounter/1.1.0.toml"), text).expect("write");
    }
    dir
}

/// The shipped encounter contract as 1.1.0 with the payer class optional.
fn payer_optional() -> String {
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/encounter/1.0.0.toml"
    );
    let text = std::fs::read_to_string(shipped).expect("the shipped contract");
    let edited = text
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace(
            "name = \"payer_class\"\ntype = \"string\"\nrequired = true\n",
            "name = \"payer_class\"\ntype = \"string\"\n",
        );
    assert_ne!(edited, text, "the edit applies");
    edited
}

#[test]
fn the_gate_passes_compatible_versions_and_fails_breaking_ones() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts");
    let (ok, out, err) = caresync_with_stderr(&["contract", "check", "--registry", shipped]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("compatible"), "{out}");

    // payer_class made optional: fine backward, breaking forward.
    let dir = registry_with(Some(&payer_optional()));
    let registry = dir.path().display().to_string();
    let (ok, out, _) = caresync_with_stderr(&["contract", "check", "--registry", &registry]);
    assert!(ok, "{out}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_caresync"))
        .args([
            "contract",
            "check",
            "--registry",
            &registry,
            "--mode",
            "FULL",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "encounter 1.1.0: field payer_class became optional (against 1.0.0)\n"
    );

    // A bad file: exit 2, naming file and line.
    let bad = registry_with(Some("entity = \"encounter\"\nversion = \"1.1\"\n"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_caresync"))
        .args([
            "contract",
            "check",
            "--registry",
            &bad.path().display().to_string(),
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1.1.0.toml:2: field version"), "{err}");
}
