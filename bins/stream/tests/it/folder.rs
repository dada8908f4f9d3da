//! Landing folders: files dropped in a real temporary folder, stored by a
//! real pipeline on a temporary lake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use caresync_stream::bronze::sha256_hex;
use caresync_stream::folder::{self, FolderOptions, LandingFolder};
use caresync_stream::{LakeLayout, Pipeline};
use caresync_testkit::fhir::{FhirGenerator, FhirOptions, FhirType};
use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Options};
use caresync_testkit::x12::{X12Generator, X12Kind, X12Options};
use deltalake::arrow::array::{AsArray as _, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::{count, layout, rows, settings, texts};

/// A real file from a bulk export (Synthea, 10 patients).
const CORPUS_PATIENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpora/fhir/bulk-10-patients/Patient.000.ndjson"
);

/// A lake and a landing folder in one temporary folder.
struct Setup {
    _tmp: tempfile::TempDir,
    layout: LakeLayout,
    landing: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().expect("temp dir");
        let landing = tmp.path().join("landing");
        std::fs::create_dir(&landing).expect("landing folder");
        Setup {
            layout: layout(&tmp),
            landing,
            _tmp: tmp,
        }
    }

    fn drop_file(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.landing.join(name), bytes).expect("write a landing file");
    }

    fn done(&self) -> PathBuf {
        self.landing.join(".done")
    }

    fn rejected(&self) -> PathBuf {
        self.landing.join(".rejected")
    }
}

fn options() -> FolderOptions {
    FolderOptions {
        poll: Duration::from_millis(20),
        ..FolderOptions::default()
    }
}

/// The names of the regular files in `dir`.
fn files(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .map(|e| e.expect("a folder entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// One bronze row, without its payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BronzeFile {
    message_id: String,
    format: String,
    sha: String,
}

async fn bronze(layout: &LakeLayout) -> (Vec<BronzeFile>, i64) {
    let batches = rows(&layout.bronze()).await;
    let mut out: Vec<BronzeFile> = texts(&batches, "message_id")
        .into_iter()
        .zip(texts(&batches, "format"))
        .zip(texts(&batches, "content_sha256"))
        .map(|((message_id, format), sha)| BronzeFile {
            message_id,
            format,
            sha,
        })
        .collect();
    assert_eq!(
        out.len(),
        count(&batches),
        "every bronze row has a message_id"
    );
    out.sort();
    (out, last_batch(&batches))
}

fn last_batch(batches: &[RecordBatch]) -> i64 {
    batches
        .iter()
        .filter_map(|b| b.column_by_name("batch"))
        .flat_map(|c| c.as_primitive::<Int64Type>().values().to_vec())
        .max()
        .unwrap_or(0)
}

type Watcher = JoinHandle<Result<(), caresync_stream::StreamError>>;

/// Waits, batch by batch as silver applies them, until bronze holds
/// `files` rows and silver has applied all of them; fails if the watcher
/// ends first.
async fn settle(pipeline: &Pipeline, layout: &LakeLayout, files: usize, watcher: &mut Watcher) {
    let mut next = pipeline.silver_batch();
    loop {
        let (stored, last) = bronze(layout).await;
        let target = if stored.len() >= files {
            last
        } else {
            next + 1
        };
        tokio::select! {
            ended = &mut *watcher => panic!("the watcher ended early: {ended:?}"),
            waited = tokio::time::timeout(Duration::from_secs(60), pipeline.wait_silver(target)) => {
                assert!(waited.is_ok(), "only {} of {files} files in bronze after 60 s", stored.len());
            }
        }
        if stored.len() >= files {
            return;
        }
        next = target;
    }
}

fn spawn_watch(setup: &Setup, pipeline: &Pipeline, cancel: &CancellationToken) -> Watcher {
    tokio::spawn(folder::watch(
        setup.landing.clone(),
        setup.layout.clone(),
        pipeline.ingest(),
        Arc::from("landing"),
        options(),
        cancel.clone(),
    ))
}

/// Cancels the watcher and waits for it to finish what it has in flight.
async fn stop(cancel: &CancellationToken, watcher: Watcher) {
    cancel.cancel();
    watcher
        .await
        .expect("the watcher task")
        .expect("the watcher ends without error");
}

/// Silver rows of `table` per source file hash.
async fn silver_by_file(layout: &LakeLayout, table: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for sha in texts(&rows(&layout.silver(table)).await, "_content_sha256") {
        *out.entry(sha).or_default() += 1;
    }
    out
}

fn distinct_ids(ndjson: &[u8]) -> usize {
    ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("an NDJSON line");
            v["id"].as_str().expect("a resource id").to_owned()
        })
        .collect::<BTreeSet<_>>()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_files_land_in_bronze_and_silver_and_move_to_done() {
    let setup = Setup::new();
    let hl7 = Hl7Generator::new(5, Hl7Options::default()).batch_file(12);
    let ndjson = FhirGenerator::new(9, FhirOptions::default()).ndjson(FhirType::Patient, 7);
    let claims = X12Generator::new(3, X12Options::default())
        .claims_file(X12Kind::Professional, 4)
        .text;
    let corpus = std::fs::read(CORPUS_PATIENTS).expect("the corpus file");
    let late = Hl7Generator::new(6, Hl7Options::default()).message(Hl7Kind::AdtA01);
    setup.drop_file("admissions.hl7", &hl7);
    setup.drop_file("patients.ndjson", &ndjson);
    setup.drop_file("claims.837", &claims);
    // No extension: the content says FHIR.
    setup.drop_file("synthea-patients", &corpus);
    // Still being written.
    setup.drop_file("late.hl7.part", &late);

    let pipeline = Pipeline::start(settings(&setup.layout))
        .await
        .expect("pipeline starts");
    let cancel = CancellationToken::new();
    let mut watcher = spawn_watch(&setup, &pipeline, &cancel);
    settle(&pipeline, &setup.layout, 4, &mut watcher).await;
    stop(&cancel, watcher).await;

    let (stored, _) = bronze(&setup.layout).await;
    let expected = |name: &str, format: &str, bytes: &[u8]| BronzeFile {
        message_id: name.to_owned(),
        format: format.to_owned(),
        sha: sha256_hex(bytes),
    };
    let mut want = vec![
        expected("admissions.hl7", "hl7v2", &hl7),
        expected("claims.837", "x12", &claims),
        expected("patients.ndjson", "fhir", &ndjson),
        expected("synthea-patients", "fhir", &corpus),
    ];
    want.sort();
    assert_eq!(
        stored, want,
        "one bronze row per file, the whole file, named by it"
    );
    assert_eq!(
        files(&setup.done()),
        [
            "admissions.hl7",
            "claims.837",
            "patients.ndjson",
            "synthea-patients"
        ]
        .map(String::from)
        .into(),
    );
    assert_eq!(
        files(&setup.landing),
        ["late.hl7.part".to_owned()].into(),
        "a .part file waits"
    );
    assert!(files(&setup.rejected()).is_empty());

    let patients = silver_by_file(&setup.layout, "patient").await;
    assert_eq!(
        patients.get(&sha256_hex(&ndjson)),
        Some(&distinct_ids(&ndjson)),
        "{patients:?}"
    );
    assert_eq!(
        patients.get(&sha256_hex(&corpus)),
        Some(&distinct_ids(&corpus)),
        "{patients:?}"
    );
    assert!(
        patients.get(&sha256_hex(&hl7)).is_some_and(|n| *n > 0),
        "{patients:?}"
    );
    let encounters = silver_by_file(&setup.layout, "encounter").await;
    assert!(
        encounters.get(&sha256_hex(&hl7)).is_some_and(|n| *n > 0),
        "{encounters:?}"
    );
    let dead = rows(&setup.layout.dead_letter()).await;
    let dead_ids: BTreeSet<String> = texts(&dead, "message_id").into_iter().collect();
    for name in ["patients.ndjson", "synthea-patients"] {
        assert!(
            !dead_ids.contains(name),
            "{name} was dead-lettered: {dead_ids:?}"
        );
    }

    // Renamed into place: taken by the next watcher.
    std::fs::rename(
        setup.landing.join("late.hl7.part"),
        setup.landing.join("late.hl7"),
    )
    .expect("rename into place");
    let cancel = CancellationToken::new();
    let mut watcher = spawn_watch(&setup, &pipeline, &cancel);
    settle(&pipeline, &setup.layout, 5, &mut watcher).await;
    stop(&cancel, watcher).await;
    let (stored, _) = bronze(&setup.layout).await;
    assert_eq!(stored.len(), 5);
    assert!(
        stored.contains(&expected("late.hl7", "hl7v2", &late)),
        "{stored:?}"
    );
    assert!(files(&setup.landing).is_empty());
    assert!(files(&setup.done()).contains("late.hl7"));
    let patients = silver_by_file(&setup.layout, "patient").await;
    assert_eq!(patients.get(&sha256_hex(&late)), Some(&1), "{patients:?}");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_already_in_bronze_is_not_submitted_again_after_a_restart() {
    let setup = Setup::new();
    let mut g = Hl7Generator::new(8, Hl7Options::default());
    let admit = g.message(Hl7Kind::AdtA01);
    let transfer = g.message(Hl7Kind::AdtA02);
    setup.drop_file("admit.hl7", &admit);

    let pipeline = Pipeline::start(settings(&setup.layout))
        .await
        .expect("pipeline starts");
    let cancel = CancellationToken::new();
    let mut watcher = spawn_watch(&setup, &pipeline, &cancel);
    settle(&pipeline, &setup.layout, 1, &mut watcher).await;
    stop(&cancel, watcher).await;
    pipeline.shutdown().await;
    assert_eq!(files(&setup.done()), ["admit.hl7".to_owned()].into());

    // A crash after the bronze commit, before the move: the file is back.
    std::fs::rename(
        setup.done().join("admit.hl7"),
        setup.landing.join("admit.hl7"),
    )
    .expect("move the file back");
    setup.drop_file("transfer.hl7", &transfer);
    let pipeline = Pipeline::start(settings(&setup.layout))
        .await
        .expect("pipeline restarts");
    let cancel = CancellationToken::new();
    let mut watcher = spawn_watch(&setup, &pipeline, &cancel);
    settle(&pipeline, &setup.layout, 2, &mut watcher).await;
    stop(&cancel, watcher).await;
    pipeline.shutdown().await;

    let (stored, _) = bronze(&setup.layout).await;
    let names: Vec<&str> = stored.iter().map(|f| f.message_id.as_str()).collect();
    assert_eq!(
        names,
        ["admit.hl7", "transfer.hl7"],
        "admit.hl7 is stored once"
    );
    assert_eq!(
        files(&setup.done()),
        ["admit.hl7", "transfer.hl7"].map(String::from).into()
    );
    assert!(files(&setup.landing).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_name_with_new_content_is_stored_and_kept_beside_the_first() {
    let setup = Setup::new();
    let mut g = Hl7Generator::new(12, Hl7Options::default());
    let first = g.message(Hl7Kind::AdtA01);
    let second = g.message(Hl7Kind::AdtA08);
    let pipeline = Pipeline::start(settings(&setup.layout))
        .await
        .expect("pipeline starts");
    let mut landing = LandingFolder::open(
        setup.landing.clone(),
        &setup.layout,
        pipeline.ingest(),
        Arc::from("landing"),
        &options(),
    )
    .await
    .expect("the landing folder opens");
    let cancel = CancellationToken::new();

    setup.drop_file("daily.hl7", &first);
    let sweep = landing.sweep(&cancel).await.expect("a sweep");
    assert_eq!((sweep.submitted, sweep.deferred), (1, 0), "{sweep:?}");
    setup.drop_file("daily.hl7", &second);
    let sweep = landing.sweep(&cancel).await.expect("a sweep");
    assert_eq!(
        (sweep.submitted, sweep.already_in_bronze),
        (1, 0),
        "{sweep:?}"
    );
    let nothing = landing.sweep(&cancel).await.expect("a sweep");
    assert_eq!(
        nothing.submitted + nothing.already_in_bronze + nothing.deferred,
        0
    );
    pipeline
        .wait_silver(sweep.last_batch.expect("a bronze batch"))
        .await;
    // A source holds an ingest handle: the pipeline drains once it is gone.
    drop(landing);
    pipeline.shutdown().await;

    let (stored, _) = bronze(&setup.layout).await;
    let shas: BTreeSet<&str> = stored.iter().map(|f| f.sha.as_str()).collect();
    assert_eq!(
        shas,
        [sha256_hex(&first), sha256_hex(&second)]
            .iter()
            .map(String::as_str)
            .collect()
    );
    assert!(stored.iter().all(|f| f.message_id == "daily.hl7"));
    assert_eq!(
        files(&setup.done()),
        ["daily.1.hl7", "daily.hl7"].map(String::from).into()
    );
    assert_eq!(
        std::fs::read(setup.done().join("daily.hl7")).expect("first"),
        first
    );
    assert_eq!(
        std::fs::read(setup.done().join("daily.1.hl7")).expect("second"),
        second
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_oversized_files_are_rejected_and_broken_ones_dead_lettered() {
    let setup = Setup::new();
    let mut g = Hl7Generator::new(4, Hl7Options::default());
    let big: Vec<u8> = (0..3).flat_map(|_| g.adt_a01_2kb()).collect();
    setup.drop_file("notes.bin", b"call Jane Roe back about 123-45-6789");
    setup.drop_file("broken.hl7", b"this is not a message");
    setup.drop_file("big.hl7", &big);
    let claims = X12Generator::new(2, X12Options::default())
        .claims_file(X12Kind::Institutional, 2)
        .text;
    setup.drop_file("claims.edi", &claims);

    let pipeline = Pipeline::start(settings(&setup.layout))
        .await
        .expect("pipeline starts");
    let mut landing = LandingFolder::open(
        setup.landing.clone(),
        &setup.layout,
        pipeline.ingest(),
        Arc::from("landing"),
        &FolderOptions {
            max_bytes: 4096,
            ..options()
        },
    )
    .await
    .expect("the landing folder opens");
    let sweep = landing
        .sweep(&CancellationToken::new())
        .await
        .expect("a sweep");
    assert_eq!(
        (sweep.submitted, sweep.rejected, sweep.deferred),
        (2, 2, 0),
        "{sweep:?}"
    );
    pipeline
        .wait_silver(sweep.last_batch.expect("a bronze batch"))
        .await;
    // A source holds an ingest handle: the pipeline drains once it is gone.
    drop(landing);
    pipeline.shutdown().await;

    assert_eq!(
        files(&setup.rejected()),
        ["big.hl7", "notes.bin"].map(String::from).into()
    );
    assert_eq!(
        files(&setup.done()),
        ["broken.hl7", "claims.edi"].map(String::from).into()
    );
    assert!(files(&setup.landing).is_empty());
    let (stored, _) = bronze(&setup.layout).await;
    let kept: Vec<(&str, &str)> = stored
        .iter()
        .map(|f| (f.message_id.as_str(), f.format.as_str()))
        .collect();
    assert_eq!(kept, [("broken.hl7", "hl7v2"), ("claims.edi", "x12")]);
    let dead = rows(&setup.layout.dead_letter()).await;
    assert!(
        texts(&dead, "message_id").contains(&"broken.hl7".to_owned()),
        "a file submitted by its extension ends in the dead-letter table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_watcher_takes_no_new_file() {
    let setup = Setup::new();
    setup.drop_file(
        "admit.hl7",
        &Hl7Generator::new(1, Hl7Options::default()).message(Hl7Kind::AdtA01),
    );
    let pipeline = Pipeline::start(settings(&setup.layout))
        .await
        .expect("pipeline starts");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let watcher = spawn_watch(&setup, &pipeline, &cancel);
    stop(&cancel, watcher).await;
    pipeline.shutdown().await;
    assert_eq!(files(&setup.landing), ["admit.hl7".to_owned()].into());
    assert!(bronze(&setup.layout).await.0.is_empty());
    // The folders exist from the start, for operators to look at.
    assert!(setup.done().is_dir() && setup.rejected().is_dir());
}
