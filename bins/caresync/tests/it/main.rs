//! The `caresync` binary as a user runs it.

use std::process::Command;

mod contract;
mod demo;
mod inspect;
mod odcs;
mod policy;

fn caresync(args: &[&str]) -> (bool, String) {
    let (ok, out, _) = caresync_with_stderr(args);
    (ok, out)
}

fn caresync_with_stderr(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caresync"))
        .args(args)
        .output()
        .expect("run caresync");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn doctor_passes_on_a_machine_with_postgresql() {
    let lake = tempfile::tempdir().expect("temp dir");
    let lake_url = lake.path().display().to_string();
    let (ok, out) = caresync(&["doctor", "--rows", "200", "--lake", &lake_url]);
    assert!(ok, "{out}");
    for line in [
        "ok    lake: idempotent append",
        "200 rows in version 1; retry skipped",
        "ok    lake: delete and change feed",
        "1 delete row, 199 rows remain",
        "ok    lake: time travel",
        "ok    postgres: wal_level=logical",
        "ok    postgres: logical replication slot",
        "ok    lake -> postgres: copy keys",
        "200 keys",
        "checks passed, 0 failed",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(lake.path().join("caresync_doctor/_delta_log").is_dir());

    // A second run on the same lake appends a new transaction, not a duplicate.
    let (ok, out) = caresync(&["doctor", "--rows", "200", "--lake", &lake_url]);
    assert!(ok, "{out}");
    assert!(out.contains("399 rows"), "{out}");
}

#[test]
fn doctor_reports_a_lake_it_cannot_open() {
    let (ok, out) = caresync(&[
        "doctor",
        "--rows",
        "5",
        "--lake",
        "ftp://example.invalid/lake",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL  lake: open or create table"), "{out}");
    assert!(out.contains("ftp"), "the error names the scheme:\n{out}");
}
