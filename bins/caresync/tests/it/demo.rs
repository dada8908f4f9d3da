//! `caresync demo` as a user runs it: a feed streamed into a lake, served
//! into a private PostgreSQL, updated there and captured back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The demo must end well within this, debug build included.
const LIMIT: Duration = Duration::from_secs(240);

/// Runs `caresync demo` with `args`, killing it at [`LIMIT`]; returns
/// whether it succeeded, its stdout and its stderr.
fn demo(args: &[&str]) -> (bool, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_caresync"))
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run caresync demo");
    let pid = child.id();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let late = matches!(
            finished.recv_timeout(LIMIT),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if late {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        late
    });
    let out = child.wait_with_output().expect("wait for caresync demo");
    let _ = done.send(());
    let late = watchdog.join().expect("the watchdog thread");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !late,
        "the demo ran longer than {LIMIT:?}:\n{stdout}\n{stderr}"
    );
    (out.status.success(), stdout, stderr)
}

/// The number after `label` on the report line that starts with it.
fn number_after(report: &str, label: &str) -> Option<u64> {
    report
        .lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
}

fn is_delta_table(path: &Path) -> bool {
    path.join("_delta_log").is_dir()
}

#[test]
fn demo_runs_every_job_and_reports_what_it_did() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    // What an earlier demo left behind is cleared.
    std::fs::create_dir(&dir).expect("the demo folder");
    std::fs::write(dir.join(".caresync-demo"), "earlier run").expect("a marker");
    std::fs::write(dir.join("stale.txt"), "from an earlier run").expect("a stale file");
    let dir_arg = dir.to_str().expect("a UTF-8 path");

    let (ok, out, err) = demo(&["--dir", dir_arg]);
    assert!(ok, "the demo failed:\n{out}\n{err}");
    assert!(
        !dir.join("stale.txt").exists(),
        "the earlier run was not cleared"
    );

    for table in ["patient", "encounter", "observation", "claim"] {
        let rows = number_after(&out, &format!("{table} "))
            .unwrap_or_else(|| panic!("no silver line for {table}:\n{out}"));
        assert!(rows > 0, "silver {table} is empty:\n{out}");
    }
    // Bad frames: not HL7 (parse), a type the mapping does not take, no
    // message time (merge); a cut-short X12 file (parse).
    let dead = number_after(&out, "dead letters (").expect("a dead-letter total");
    assert!(dead >= 6, "{out}");
    for (class, code) in [
        ("parse", "HL7-0001"),
        ("mapping", "FHIR-0200"),
        ("merge", "STREAM-0004"),
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{class} ")))
            .unwrap_or_else(|| panic!("no dead-letter line for {class}:\n{out}"));
        assert!(line.contains(code), "{line}");
    }
    assert!(out.contains("X12-"), "the cut-short X12 file: {out}");
    assert!(out.contains(", 2 rejected (AR), 0 errors"), "{out}");
    let duplicates = out
        .lines()
        .find(|l| l.contains("merges:"))
        .expect("a merge line");
    assert!(!duplicates.contains(" 0 duplicates"), "{duplicates}");
    assert!(!duplicates.contains(" 0 late"), "{duplicates}");

    // Served, then updated by changes only; the update captured back.
    assert!(out.contains("public.patient @ Delta"), "{out}");
    assert!(out.contains("full copy (first sync)"), "{out}");
    assert!(out.contains("changes only"), "{out}");
    assert!(
        number_after(&out, "served   public.encounter").is_some_and(|n| n > 0),
        "{out}"
    );
    assert!(out.contains("15 update_postimage"), "{out}");
    assert!(out.contains("arrival -> silver commit"), "{out}");
    assert!(out.contains("psql -h "), "{out}");

    let lake = dir.join("lake");
    for table in [
        "bronze",
        "dead_letter",
        "silver/patient",
        "silver/encounter",
        "history/public.ward_assignment",
    ] {
        assert!(
            is_delta_table(&lake.join(table)),
            "no Delta table at {table}"
        );
    }
    assert!(dir.join("landing/.done").is_dir());

    // The report and the log carry counts and codes, never a patient value
    // (those of the FHIR patients sent, for one).
    let patients =
        std::fs::read_to_string(dir.join("landing/.done/bulk_Patient.ndjson")).expect("the file");
    let mut values = Vec::new();
    for line in patients.lines() {
        let p: serde_json::Value = serde_json::from_str(line).expect("an NDJSON line");
        values.extend(p["name"][0]["family"].as_str().map(str::to_owned));
        for id in p["identifier"].as_array().into_iter().flatten() {
            values.extend(id["value"].as_str().map(str::to_owned));
        }
    }
    values.retain(|v| v.len() >= 5);
    assert!(values.len() > 100, "{}", values.len());
    for value in &values {
        assert!(
            !out.contains(value.as_str()),
            "a patient value in the report"
        );
        assert!(!err.contains(value.as_str()), "a patient value in the log");
    }
}

#[test]
fn demo_refuses_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("keep.txt"), "not the demo's").expect("a file");
    let (ok, out, _) = demo(&["--dir", tmp.path().to_str().expect("a UTF-8 path")]);
    assert!(!ok, "{out}");
    assert!(out.contains("was not made by `caresync demo`"), "{out}");
    assert!(
        tmp.path().join("keep.txt").is_file(),
        "the folder was touched"
    );
}
