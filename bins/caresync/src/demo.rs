//! `caresync demo`: the three jobs end to end on invented data, on this
//! machine, in about a minute.
//!
//! 1. A lake folder under `--dir` (default `./caresync-demo`) and a private
//!    PostgreSQL cluster (`caresync-testkit`: `initdb` + `pg_ctl` from the
//!    binaries installed here, `wal_level=logical`, a Unix socket in a
//!    temporary folder), started while the feed streams.
//! 2. A feed from the testkit generators: HL7 v2 ADT and ORU messages over
//!    MLLP (about 5% of the frames sent again, some admissions held back
//!    and sent after newer messages about the same patient, and bad frames:
//!    not HL7, a type the mapping does not take, no message time), and FHIR
//!    NDJSON and X12 837/835 files in a landing folder (one cut short). The
//!    stream writes them to bronze, silver and the dead-letter table.
//! 3. Forward sync serves silver `patient` and `encounter` as PostgreSQL
//!    tables (a column allow-list keeps names, identifiers and the raw
//!    resources out): a first full copy after the main feed, then a
//!    triggered sync of the changes the late feed made.
//! 4. An operational table, `public.ward_assignment`, is filled from the
//!    served encounters; reverse sync captures it, the demo updates it as a
//!    ward clerk would, and the update lands in its Delta change history.
//! 5. A report: rows per silver table, dead letters by class and code,
//!    acknowledgement and end-to-end latencies, durations, and where to
//!    look (lake paths, the psql command).
//!
//! `--dir` must be missing, empty, or a folder an earlier demo made (it
//! holds the marker file `.caresync-demo`): such a folder is emptied and
//! used again. Any other folder is refused, so a typo never deletes data.
//!
//! The report carries counts, codes, latencies and paths, never a
//! generated value.

#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use caresync_forward_sync::{Action, Mode, SnapshotReason, SyncReport, TableConfig, sync_table};
use caresync_hl7v2::mllp::{MllpDecoder, Scan, encode_frame};
use caresync_lake::LakeTable;
use caresync_stream::bronze::{self, Batching};
use caresync_stream::folder::{FolderOptions, LandingFolder};
use caresync_stream::mllp::{self, MllpOptions};
use caresync_stream::{LakeLayout, Pipeline, Settings, SilverStats};
use caresync_testkit::fhir::{FhirGenerator, FhirOptions, FhirType};
use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Message, Hl7Options};
use caresync_testkit::pg::PgCluster;
use caresync_testkit::x12::{Mutation, X12Generator, X12Kind, X12Options, mutate};
use deltalake::arrow::array::RecordBatch;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

/// Options of `caresync demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the lake and the landing folder go. It must be missing, empty
    /// or left by an earlier demo (which is then emptied); any other folder
    /// is refused.
    #[arg(long, default_value = "caresync-demo")]
    dir: PathBuf,
    /// HL7 v2 messages sent over MLLP (re-sends, late and bad frames come
    /// on top).
    #[arg(long, default_value_t = 1_200)]
    messages: usize,
    /// Seed of the invented data: the same seed sends the same feed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep PostgreSQL running after the report, until Ctrl-C, to look at
    /// the served and operational tables with psql.
    #[arg(long)]
    keep_running: bool,
}

/// The file that marks a folder as made by `caresync demo`.
const MARKER: &str = ".caresync-demo";
/// The PostgreSQL database the demo serves into.
const DATABASE: &str = "caresync_demo";
/// The reverse-sync slot and publication.
const SLOT: &str = "caresync_demo";
/// The operational table captured by reverse sync.
const OPERATIONAL: &str = "public.ward_assignment";
/// MLLP connections the main feed is spread over.
const CONNECTIONS: usize = 4;
/// Frames one connection sends before it waits for an acknowledgement.
const WINDOW: usize = 32;
/// How long the demo waits for any one stage before it gives up.
const STAGE_TIMEOUT: Duration = Duration::from_secs(90);

/// HL7 v2 traffic as an interface engine sends it: results and updates
/// most often. The generator picks patients; this picks the kinds, in turn.
const TRAFFIC: [Hl7Kind; 40] = {
    use Hl7Kind::{AdtA01, AdtA02, AdtA03, AdtA04, AdtA08, AdtA13, AdtA28, AdtA31, OruR01};
    [
        AdtA01, OruR01, AdtA08, OruR01, AdtA04, OruR01, AdtA01, AdtA08, OruR01, AdtA03, //
        OruR01, AdtA01, AdtA08, OruR01, AdtA02, OruR01, AdtA08, AdtA01, OruR01, AdtA31, //
        OruR01, AdtA08, AdtA01, OruR01, AdtA03, OruR01, AdtA08, AdtA28, OruR01, AdtA01, //
        OruR01, AdtA08, AdtA02, OruR01, AdtA04, AdtA08, OruR01, AdtA01, AdtA13, OruR01,
    ]
};

/// Served columns: identifiers, names, addresses and the raw resources stay
/// in the lake.
const PATIENT_COLUMNS: &[&str] = &[
    "id",
    "active",
    "gender",
    "address_state",
    "managing_organization_id",
    "_version",
];
const ENCOUNTER_COLUMNS: &[&str] = &[
    "id",
    "status",
    "class_code",
    "type_code",
    "subject_id",
    "period_start",
    "period_end",
    "discharge_disposition_code",
    "service_provider_id",
    "_version",
];

pub(crate) fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("demo FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The lake and landing folders of one run.
struct Folders {
    root: PathBuf,
    landing: PathBuf,
    layout: LakeLayout,
    history: String,
}

/// Makes `dir` ready: created when missing, used as is when empty, emptied
/// when an earlier demo made it, refused otherwise.
fn prepare(dir: &Path) -> anyhow::Result<Folders> {
    if dir.exists() {
        ensure!(dir.is_dir(), "{} is not a folder", dir.display());
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .peekable();
        if entries.peek().is_some() {
            ensure!(
                dir.join(MARKER).is_file(),
                "{} is not empty and was not made by `caresync demo` (no {MARKER} in it); \
                 give another --dir or remove it",
                dir.display()
            );
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("removing the earlier demo in {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by `caresync demo`; the next demo run empties this folder\n",
    )
    .with_context(|| format!("writing {}", dir.join(MARKER).display()))?;
    let root = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let landing = root.join("landing");
    std::fs::create_dir_all(&landing).with_context(|| format!("creating {}", landing.display()))?;
    let lake = root.join("lake");
    let history = lake.join("history").display().to_string();
    Ok(Folders {
        layout: LakeLayout::new(lake.display().to_string(), HashMap::new()),
        landing,
        root,
        history,
    })
}

/// What the demo sends.
struct Feed {
    /// The main HL7 v2 feed: re-sent and bad frames mixed in.
    main: Vec<Vec<u8>>,
    /// Sent once the main feed is in silver: held-back admissions (late),
    /// newer messages, and re-sends of earlier frames.
    late: Vec<Vec<u8>>,
    /// Landing files: name and bytes.
    files: Vec<(String, Vec<u8>)>,
    counts: FeedCounts,
}

#[derive(Debug, Default)]
struct FeedCounts {
    hl7: usize,
    resent: usize,
    late: usize,
    newer: usize,
    bad_frames: usize,
    fhir_files: usize,
    fhir_resources: usize,
    x12_files: usize,
    claims: usize,
    remittances: usize,
    corrupted_files: usize,
}

impl Feed {
    fn generate(seed: u64, messages: usize) -> Feed {
        let mut counts = FeedCounts::default();
        let mut g = Hl7Generator::new(seed, Hl7Options::default());
        let all: Vec<Hl7Message> = (0..messages)
            .map(|i| g.generate(TRAFFIC[i % TRAFFIC.len()]))
            .collect();
        counts.hl7 = all.len();

        // Late: admissions of patients a later message mentions, held back
        // until that later message is in silver (about 1%).
        let wanted = (messages / 100).max(3);
        let mut held = vec![false; all.len()];
        let mut late = Vec::new();
        for (i, m) in all.iter().enumerate() {
            if late.len() >= wanted {
                break;
            }
            let Some(mrn) = m.patients.first().map(|p| &p.mrn) else {
                continue;
            };
            let newer = all[i + 1..]
                .iter()
                .any(|n| n.patients.first().is_some_and(|p| &p.mrn == mrn));
            if m.kind == Hl7Kind::AdtA01 && i % 3 == 0 && newer {
                held[i] = true;
                late.push(m.bytes.clone());
            }
        }
        counts.late = late.len();

        // Bad frames, at fixed places in the main feed.
        let mut bad = Hl7Generator::new(seed ^ 0xBAD, Hl7Options::default());
        let mut bad_frames: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        let at = |num: usize, den: usize| messages * num / den;
        for (place, frame) in [
            (at(1, 3), b"THIS IS NOT AN HL7 MESSAGE".to_vec()),
            (
                at(2, 3),
                b"\x00\x01 binary noise from a misrouted port".to_vec(),
            ),
            (at(1, 4), bad.message(Hl7Kind::SiuS12)),
            (at(1, 2), bad.message(Hl7Kind::SiuS12)),
            (at(3, 4), bad.message(Hl7Kind::SiuS12)),
            (at(3, 5), without_msh7(&bad.message(Hl7Kind::AdtA01))),
        ] {
            bad_frames.entry(place).or_default().push(frame);
            counts.bad_frames += 1;
        }

        // About 5% of the frames are sent again a few frames later, as a
        // sender does that missed an acknowledgement.
        let mut main = Vec::with_capacity(all.len() + all.len() / 15);
        let mut resend: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for (i, m) in all.iter().enumerate() {
            if let Some(frames) = bad_frames.remove(&i) {
                main.extend(frames);
            }
            if held[i] {
                continue;
            }
            main.push(m.bytes.clone());
            if i % 20 == 7 {
                resend.entry(i + 5).or_default().push(m.bytes.clone());
                counts.resent += 1;
            }
            if let Some(frames) = resend.remove(&i) {
                main.extend(frames);
            }
        }
        main.extend(resend.into_values().flatten());
        main.extend(bad_frames.into_values().flatten());

        // After the main feed: newer messages, the held-back admissions,
        // and re-sends of frames silver already holds.
        let newer = (messages / 40).max(5);
        let mut after: Vec<Vec<u8>> = (0..newer)
            .map(|i| g.message(TRAFFIC[(messages + i) % TRAFFIC.len()]))
            .collect();
        counts.newer = after.len();
        after.extend(late);
        for m in all.iter().filter(|m| m.kind == Hl7Kind::AdtA08).take(5) {
            after.push(m.bytes.clone());
            counts.resent += 1;
        }

        let mut files = Vec::new();
        let mut fhir = FhirGenerator::new(
            seed,
            FhirOptions {
                duplicate_rate: 0.05,
                stale_version_rate: 0.03,
                ..FhirOptions::default()
            },
        );
        for (kind, n) in [
            (FhirType::Patient, 150),
            (FhirType::Encounter, 150),
            (FhirType::Observation, 250),
            (FhirType::Condition, 60),
        ] {
            files.push((format!("bulk_{}.ndjson", kind.name()), fhir.ndjson(kind, n)));
            counts.fhir_files += 1;
            counts.fhir_resources += n;
        }

        let mut x12 = X12Generator::new(seed, X12Options::default());
        let professional = x12.claims_file(X12Kind::Professional, 30);
        let institutional = x12.claims_file(X12Kind::Institutional, 12);
        let remit = x12.remittance_file(2, 15);
        counts.claims = professional.claims.len() + institutional.claims.len();
        counts.remittances = remit.remittances.iter().map(|r| r.claims.len()).sum();
        let broken_source = X12Generator::new(seed ^ 0xBAD, X12Options::default())
            .claims_file(X12Kind::Professional, 5)
            .text;
        let broken = mutate(&broken_source, Mutation::Truncated, seed)
            .unwrap_or_else(|| broken_source[..broken_source.len() / 2].to_vec());
        files.push(("claims_837p.x12".to_owned(), professional.text));
        files.push(("claims_837i.x12".to_owned(), institutional.text));
        files.push(("remittance_835.x12".to_owned(), remit.text));
        files.push(("claims_837p_cut_short.x12".to_owned(), broken));
        counts.x12_files = 4;
        counts.corrupted_files = 1;

        Feed {
            main,
            late: after,
            files,
            counts,
        }
    }
}

/// The message with MSH-7 (the message time) emptied: it has no version to
/// be ordered by.
fn without_msh7(bytes: &[u8]) -> Vec<u8> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let (msh, rest) = bytes.split_at(end);
    let mut fields: Vec<&[u8]> = msh.split(|&b| b == b'|').collect();
    if let Some(time) = fields.get_mut(6) {
        *time = b"";
    }
    let mut out = fields.join(&b"|"[..]);
    out.extend_from_slice(rest);
    out
}

/// Acknowledgements received by the MLLP client.
#[derive(Debug, Default)]
struct Acks {
    round_trips: Vec<Duration>,
    accepted: usize,
    rejected: usize,
    errors: usize,
}

impl Acks {
    fn total(&self) -> usize {
        self.accepted + self.rejected + self.errors
    }

    fn add(&mut self, other: Acks) {
        self.round_trips.extend(other.round_trips);
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.errors += other.errors;
    }
}

/// Sends `frames` over `connections` MLLP connections (frame `i` on
/// connection `i % connections`), each pipelining up to [`WINDOW`] frames.
async fn send_frames(
    addr: std::net::SocketAddr,
    frames: Vec<Vec<u8>>,
    connections: usize,
) -> anyhow::Result<Acks> {
    let lanes_n = connections.max(1);
    let mut lanes: Vec<Vec<Vec<u8>>> = vec![Vec::new(); lanes_n];
    for (i, f) in frames.into_iter().enumerate() {
        lanes[i % lanes_n].push(f);
    }
    let mut sessions = tokio::task::JoinSet::new();
    for lane in lanes.into_iter().filter(|l| !l.is_empty()) {
        sessions.spawn(session(addr, lane));
    }
    let mut acks = Acks::default();
    while let Some(done) = sessions.join_next().await {
        acks.add(done.context("an MLLP client task")??);
    }
    Ok(acks)
}

/// One MLLP connection: a writer that keeps up to [`WINDOW`] frames
/// unacknowledged, and a reader that times each acknowledgement.
async fn session(addr: std::net::SocketAddr, frames: Vec<Vec<u8>>) -> anyhow::Result<Acks> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to MLLP at {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let total = frames.len();
    let (sent_tx, mut sent_rx) = mpsc::channel::<Instant>(WINDOW);
    let writer = async move {
        let mut out = Vec::new();
        for f in &frames {
            sent_tx
                .send(Instant::now())
                .await
                .map_err(|_| anyhow!("the acknowledgement reader stopped"))?;
            out.clear();
            encode_frame(f, &mut out);
            wr.write_all(&out).await.context("sending a frame")?;
        }
        // The write half stays open until every acknowledgement is read.
        anyhow::Ok(wr)
    };
    let reader = async move {
        let mut decoder = MllpDecoder::default();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut acks = Acks::default();
        while acks.total() < total {
            match decoder.scan(&buf) {
                Scan::Frame { payload, consumed } => {
                    let sent = sent_rx
                        .recv()
                        .await
                        .ok_or_else(|| anyhow!("an acknowledgement for a frame never sent"))?;
                    acks.round_trips.push(sent.elapsed());
                    match msa_code(&buf[payload]) {
                        b"AA" | b"CA" => acks.accepted += 1,
                        b"AR" | b"CR" => acks.rejected += 1,
                        _ => acks.errors += 1,
                    }
                    buf.drain(..consumed);
                }
                Scan::NeedMore => {
                    let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut chunk))
                        .await
                        .context("no acknowledgement within 30 s")?
                        .context("reading acknowledgements")?;
                    ensure!(
                        n > 0,
                        "the server closed the connection after {} of {total} acknowledgements",
                        acks.total()
                    );
                    buf.extend_from_slice(&chunk[..n]);
                }
                other => {
                    let n = other.consumed();
                    buf.drain(..n);
                }
            }
        }
        anyhow::Ok(acks)
    };
    let (_wr, acks) = tokio::try_join!(writer, reader)?;
    Ok(acks)
}

/// MSA-1 of an acknowledgement.
fn msa_code(ack: &[u8]) -> &[u8] {
    ack.split(|&b| b == b'\r' || b == b'\n')
        .find(|s| s.starts_with(b"MSA|"))
        .and_then(|s| s.split(|&b| b == b'|').nth(1))
        .unwrap_or(b"")
}

/// The newest bronze batch.
async fn bronze_batch(layout: &LakeLayout) -> anyhow::Result<i64> {
    let table = LakeTable::open(&layout.bronze()).await?;
    Ok(table.last_txn_version(bronze::APP_ID).await?.unwrap_or(0))
}

/// Waits until silver applied bronze batch `batch`.
async fn settle(pipeline: &Pipeline, batch: i64) -> anyhow::Result<()> {
    tokio::time::timeout(STAGE_TIMEOUT, pipeline.wait_silver(batch))
        .await
        .map_err(|_| {
            anyhow!(
                "silver did not apply bronze batch {batch} within {} s (it is at {})",
                STAGE_TIMEOUT.as_secs(),
                pipeline.silver_batch()
            )
        })?;
    ensure!(
        pipeline.silver_batch() >= batch,
        "the silver stage stopped at bronze batch {} of {batch}",
        pipeline.silver_batch()
    );
    Ok(())
}

/// The private PostgreSQL cluster with the demo's database.
struct Postgres {
    cluster: PgCluster,
    dsn: String,
    major: u32,
    took: Duration,
}

fn start_postgres() -> anyhow::Result<Postgres> {
    let started = Instant::now();
    let cluster = PgCluster::builder()
        .start()
        .context("starting a private PostgreSQL cluster (is PostgreSQL 15+ installed?)")?;
    let major = cluster.binaries().major_version()?;
    cluster.create_database(DATABASE)?;
    Ok(Postgres {
        dsn: cluster.connection_string(DATABASE),
        cluster,
        major,
        took: started.elapsed(),
    })
}

async fn connect(dsn: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls)
        .await
        .context("connecting to the demo's PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Everything the report prints.
struct Report {
    counts: FeedCounts,
    main_acks: Acks,
    late_acks: Acks,
    landing_submitted: usize,
    landing_rejected: usize,
    stats: SilverStats,
    bronze_rows: usize,
    silver: Vec<(String, usize)>,
    dead: BTreeMap<String, BTreeMap<String, usize>>,
    ack_server: Option<Histogram>,
    end_to_end: Option<Histogram>,
    first_sync: Vec<SyncReport>,
    second_sync: Vec<SyncReport>,
    served: Vec<(String, i64)>,
    operational_rows: u64,
    operational_changed: u64,
    captured: caresync_reverse_sync::RunReport,
    history: BTreeMap<String, usize>,
    durations: Vec<(&'static str, Duration)>,
}

async fn demo(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let folders = prepare(&args.dir)?;
    println!("caresync demo in {}", folders.root.display());
    let metrics = caresync_stream::metrics::recorder()?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let mut durations = Vec::new();

    // PostgreSQL starts while the feed streams.
    let postgres = tokio::task::spawn_blocking(start_postgres);

    let t = Instant::now();
    let feed = Feed::generate(args.seed, args.messages);
    for (name, bytes) in &feed.files {
        let path = folders.landing.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let c = &feed.counts;
    println!(
        "  feed       {} HL7 v2 messages (+{} re-sent, {} held back to arrive late, {} bad frames), \
         {} FHIR resources in {} NDJSON files, {} claims and {} remittances in {} X12 files ({} cut short)",
        c.hl7 + c.newer,
        c.resent,
        c.late,
        c.bad_frames,
        c.fhir_resources,
        c.fhir_files,
        c.claims,
        c.remittances,
        c.x12_files,
        c.corrupted_files
    );
    durations.push(("generate the feed", t.elapsed()));

    // Stream: MLLP and the landing folder into bronze, silver, dead letters.
    let t = Instant::now();
    let layout = folders.layout.clone();
    let pipeline = Pipeline::start(Settings {
        lake: layout.clone(),
        batching: Batching::default(),
        contracts: HashMap::new(),
    })
    .await
    .context("starting the stream pipeline")?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("listening for MLLP")?;
    let addr = listener.local_addr()?;
    let stop_sources = CancellationToken::new();
    let server = tokio::spawn(mllp::serve(
        listener,
        pipeline.ingest(),
        Arc::from("mllp"),
        MllpOptions::default(),
        stop_sources.clone(),
    ));
    let mut landing = LandingFolder::open(
        folders.landing.clone(),
        &layout,
        pipeline.ingest(),
        Arc::from("landing"),
        &FolderOptions::default(),
    )
    .await
    .context("opening the landing folder")?;
    let keep_sweeping = CancellationToken::new();
    let (main_acks, sweep) = tokio::join!(
        send_frames(addr, feed.main, CONNECTIONS),
        landing.sweep(&keep_sweeping)
    );
    let main_acks = main_acks?;
    let sweep = sweep.context("sweeping the landing folder")?;
    let last = bronze_batch(&layout)
        .await?
        .max(sweep.last_batch.unwrap_or(0));
    settle(&pipeline, last).await?;
    let main_stats = pipeline.stats();
    println!(
        "  stream     main feed in silver: {} bronze batches, {} records applied, {} dead letters ({:.1} s)",
        main_stats.batches,
        main_stats.applied,
        main_stats.dead_letters,
        t.elapsed().as_secs_f64()
    );
    durations.push(("stream the main feed", t.elapsed()));

    // Forward sync, first pass: a full copy of each table.
    let t = Instant::now();
    let pg = postgres.await.context("the PostgreSQL start task")??;
    durations.push(("start PostgreSQL (alongside)", pg.took));
    let mut client = connect(&pg.dsn).await?;
    let tables = served_tables(&layout);
    let first_sync = forward(&mut client, &tables).await?;
    println!(
        "  forward    {}",
        first_sync
            .iter()
            .map(describe_sync)
            .collect::<Vec<_>>()
            .join("; ")
    );
    durations.push(("forward sync (first)", t.elapsed()));

    // The late feed: newer messages, then the held-back older ones.
    let t = Instant::now();
    let late_acks = send_frames(addr, feed.late, 1).await?;
    let last = bronze_batch(&layout).await?;
    settle(&pipeline, last).await?;
    drop(landing);
    stop_sources.cancel();
    server.await.context("the MLLP server task")?;
    let stats = pipeline.shutdown().await;
    let metrics_text = metrics.render();
    let metrics_file = folders.root.join("stream-metrics.prom");
    std::fs::write(&metrics_file, &metrics_text)
        .with_context(|| format!("writing {}", metrics_file.display()))?;
    durations.push(("stream the late feed", t.elapsed()));

    // Forward sync, second pass: only what changed.
    let t = Instant::now();
    let second_sync = forward(&mut client, &tables).await?;
    println!(
        "  forward    {}",
        second_sync
            .iter()
            .map(describe_sync)
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut served = Vec::new();
    for table in &tables {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM public.{}", table.name), &[])
            .await?
            .get(0);
        served.push((format!("public.{}", table.name), n));
    }
    durations.push(("forward sync (triggered)", t.elapsed()));

    // The operational side: a table of ward assignments, updated while
    // reverse sync captures it.
    let t = Instant::now();
    let operational_rows = create_operational(&client).await?;
    let (operational_changed, captured) =
        capture_update(&mut client, &pg.dsn, &folders.history).await?;
    println!(
        "  reverse    {OPERATIONAL}: {} rows copied, {} changes captured",
        captured.snapshot_rows, captured.changes
    );
    durations.push(("reverse sync", t.elapsed()));

    let report = Report {
        counts: feed.counts,
        main_acks,
        late_acks,
        landing_submitted: sweep.submitted,
        landing_rejected: sweep.rejected,
        stats,
        bronze_rows: count_rows(&read(&layout.bronze()).await?),
        silver: silver_counts(&layout).await?,
        dead: dead_letters(&layout).await?,
        ack_server: Histogram::parse(&metrics_text, "caresync_stream_ack_seconds", Some("mllp")),
        end_to_end: Histogram::parse(&metrics_text, "caresync_stream_end_to_end_seconds", None),
        first_sync,
        second_sync,
        served,
        operational_rows,
        operational_changed,
        history: history_counts(&format!("{}/{OPERATIONAL}", folders.history)).await?,
        captured,
        durations,
    };
    print_report(&report, &folders, &pg, started.elapsed());

    drop(client);
    if args.keep_running {
        println!("PostgreSQL keeps running; press Ctrl-C to stop it and end the demo.");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    let cluster = pg.cluster;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .context("the PostgreSQL stop task")?
        .context("stopping PostgreSQL")?;
    Ok(())
}

/// Silver `patient` and `encounter`, served under their names with an
/// allow-list of columns.
fn served_tables(layout: &LakeLayout) -> Vec<TableConfig> {
    [
        ("patient", PATIENT_COLUMNS),
        ("encounter", ENCOUNTER_COLUMNS),
    ]
    .into_iter()
    .map(|(name, columns)| {
        let mut t = TableConfig::new(&layout.silver(name), name, &["id"]);
        t.mode = Mode::Triggered;
        t.columns = Some(columns.iter().map(|c| (*c).to_owned()).collect());
        t
    })
    .collect()
}

async fn forward(client: &mut Client, tables: &[TableConfig]) -> anyhow::Result<Vec<SyncReport>> {
    let mut out = Vec::new();
    for t in tables {
        let report = sync_table(client, t, Mode::Triggered)
            .await
            .with_context(|| format!("forward sync of {}", t.name))?;
        out.push(report);
    }
    Ok(out)
}

fn describe_sync(r: &SyncReport) -> String {
    let what = match r.action {
        Action::Snapshot { reason, rows } => {
            let why = match reason {
                SnapshotReason::FirstSync => "first sync",
                SnapshotReason::Requested => "requested",
                SnapshotReason::SourceChanged => "source changed",
                SnapshotReason::PolicyChanged => "policy changed",
                SnapshotReason::ChangeFeedOff => "no change feed",
                SnapshotReason::ChangeFeedUnavailable => "change feed unavailable",
                SnapshotReason::ChangeFeedTooLarge => "many changes",
            };
            format!("full copy ({why}), {rows} rows")
        }
        Action::Changes {
            upserted, deleted, ..
        } => format!("changes only, {upserted} upserted, {deleted} deleted"),
        Action::UpToDate => "up to date".to_owned(),
    };
    format!("{} @ Delta v{}: {what}", r.table, r.version)
}

/// Creates and fills `public.ward_assignment` from the served encounters;
/// returns its rows.
async fn create_operational(client: &Client) -> anyhow::Result<u64> {
    client
        .batch_execute(
            "CREATE TABLE public.ward_assignment (
                 encounter_id text PRIMARY KEY,
                 ward text NOT NULL,
                 bed text,
                 status text NOT NULL,
                 updated_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .context("creating the operational table")?;
    let rows = client
        .execute(
            "INSERT INTO public.ward_assignment (encounter_id, ward, bed, status)
             SELECT id,
                    'W' || (1 + abs(hashtext(id)) % 6),
                    lpad((1 + abs(hashtext(id || 'bed')) % 40)::text, 2, '0'),
                    'assigned'
               FROM public.encounter
              ORDER BY id
              LIMIT 100",
            &[],
        )
        .await
        .context("filling the operational table")?;
    ensure!(rows > 0, "no encounter was served to assign a ward to");
    Ok(rows)
}

/// Starts reverse sync of the operational table, updates the table once
/// capture runs, waits until the update is in the change history, stops.
/// Returns the rows the update changed and the run's report.
async fn capture_update(
    client: &mut Client,
    dsn: &str,
    history: &str,
) -> anyhow::Result<(u64, caresync_reverse_sync::RunReport)> {
    let mut config = caresync_reverse_sync::Config::new(dsn, history, &[OPERATIONAL]);
    config.slot = SLOT.to_owned();
    config.publication = SLOT.to_owned();
    config.flush_interval_ms = 100;
    let (stop, stopped) = oneshot::channel::<()>();
    let mut capture = tokio::spawn(async move {
        caresync_reverse_sync::run(&config, async {
            let _ = stopped.await;
        })
        .await
    });

    // The update must come after the slot exists to be streamed (what came
    // before is in the initial copy).
    let deadline = Instant::now() + STAGE_TIMEOUT;
    loop {
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
                &[&SLOT],
            )
            .await?
            .get(0);
        if exists {
            break;
        }
        if capture.is_finished() {
            let outcome = (&mut capture).await.context("the reverse sync task")?;
            bail!(
                "reverse sync ended before it created its slot: {}",
                outcome.map_or_else(|e| e.to_string(), |_| "no error".to_owned())
            );
        }
        ensure!(
            Instant::now() < deadline,
            "reverse sync created no slot within {} s",
            STAGE_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A ward clerk moves ten patients to the ICU and discharges five.
    let tx = client.transaction().await?;
    let moved = tx
        .execute(
            "UPDATE public.ward_assignment
                SET ward = 'ICU', bed = NULL, status = 'transferred', updated_at = now()
              WHERE encounter_id IN (SELECT encounter_id FROM public.ward_assignment
                                      ORDER BY encounter_id LIMIT 10)",
            &[],
        )
        .await?;
    tx.commit().await?;
    let tx = client.transaction().await?;
    let discharged = tx
        .execute(
            "UPDATE public.ward_assignment
                SET status = 'discharged', bed = NULL, updated_at = now()
              WHERE encounter_id IN (SELECT encounter_id FROM public.ward_assignment
                                      ORDER BY encounter_id DESC LIMIT 5)",
            &[],
        )
        .await?;
    tx.commit().await?;
    let target: String = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await?
        .get(0);

    loop {
        let confirmed = client
            .query_opt(
                "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots
                  WHERE slot_name = $1",
                &[&SLOT, &target],
            )
            .await?
            .and_then(|r| r.get::<_, Option<bool>>(0))
            .unwrap_or(false);
        if confirmed {
            break;
        }
        if capture.is_finished() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "reverse sync did not capture the update within {} s",
            STAGE_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let report = capture
        .await
        .context("the reverse sync task")?
        .map_err(|e| anyhow!("reverse sync [{}]: {e}", e.code()))?;
    Ok((moved + discharged, report))
}

/// Every row of the table at `url`.
async fn read(url: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let table = LakeTable::open(url)
        .await
        .with_context(|| format!("opening {url}"))?;
    Ok(table.read_all().await?)
}

fn count_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Rows of each silver table, by name.
async fn silver_counts(layout: &LakeLayout) -> anyhow::Result<Vec<(String, usize)>> {
    let root = PathBuf::from(layout.silver(""));
    let mut names: Vec<String> = match std::fs::read_dir(&root) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join("_delta_log").is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("listing {}", root.display())),
    };
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let rows = count_rows(&read(&layout.silver(&name)).await?);
        out.push((name, rows));
    }
    Ok(out)
}

/// Dead letters by error class, then by error code.
async fn dead_letters(
    layout: &LakeLayout,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, usize>>> {
    let batches = read(&layout.dead_letter()).await?;
    let classes = crate::doctor::string_column(&batches, "error_class")?;
    let codes = crate::doctor::string_column(&batches, "error_code")?;
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (class, code) in classes.into_iter().zip(codes) {
        *out.entry(class).or_default().entry(code).or_default() += 1;
    }
    Ok(out)
}

/// Change-history rows by change type.
async fn history_counts(url: &str) -> anyhow::Result<BTreeMap<String, usize>> {
    let batches = read(url).await?;
    let mut out = BTreeMap::new();
    for kind in crate::doctor::string_column(&batches, "_change_type")? {
        *out.entry(kind).or_default() += 1;
    }
    Ok(out)
}

/// A Prometheus histogram: cumulative counts by upper bound, sum, count.
#[derive(Clone, Debug, Default, PartialEq)]
struct Histogram {
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// Reads `metric` from the Prometheus text `text` (the series with
    /// `label` among its label values, when given).
    fn parse(text: &str, metric: &str, label: Option<&str>) -> Option<Histogram> {
        let mut h = Histogram::default();
        let labelled = |l: &str| label.is_none_or(|want| l.contains(&format!("=\"{want}\"")));
        let value = |l: &str| l.split_whitespace().last().map(str::to_owned);
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(metric) else {
                continue;
            };
            if !labelled(rest) {
                continue;
            }
            if let Some(b) = rest.strip_prefix("_bucket{") {
                let le = b.split("le=\"").nth(1).and_then(|l| l.split('"').next());
                let n = value(b).and_then(|v| v.parse::<u64>().ok());
                if let (Some(le), Some(n)) = (le, n) {
                    let bound = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().ok()?
                    };
                    h.buckets.push((bound, n));
                }
            } else if rest.starts_with("_sum") {
                h.sum = value(rest)?.parse().ok()?;
            } else if rest.starts_with("_count") {
                h.count = value(rest)?.parse().ok()?;
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        (h.count > 0).then_some(h)
    }

    /// The `q`-quantile, interpolated within its bucket as Prometheus'
    /// `histogram_quantile` does (the highest finite bound when it falls in
    /// the last bucket).
    fn quantile(&self, q: f64) -> f64 {
        let rank = q * self.count as f64;
        let mut below = (0.0, 0u64);
        for &(bound, n) in &self.buckets {
            if (n as f64) >= rank {
                if bound.is_infinite() {
                    return below.0;
                }
                let inside = (n - below.1) as f64;
                let share = if inside > 0.0 {
                    (rank - below.1 as f64) / inside
                } else {
                    1.0
                };
                return below.0 + (bound - below.0) * share;
            }
            below = (bound, n);
        }
        below.0
    }

    fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// `p50 …, p95 …, mean … over N <what>`, in milliseconds.
    fn describe(&self, what: &str) -> String {
        format!(
            "p50 {}, p95 {}, mean {} over {} {what}",
            secs_ms(self.quantile(0.5)),
            secs_ms(self.quantile(0.95)),
            secs_ms(self.mean()),
            self.count
        )
    }
}

/// The `q`-quantile of `sorted`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    let i = ((last as f64) * q).round() as usize;
    sorted.get(i.min(last)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

fn secs_ms(s: f64) -> String {
    format!("{:.1} ms", s * 1_000.0)
}

fn print_report(r: &Report, folders: &Folders, pg: &Postgres, total: Duration) {
    let lake = folders.layout.root();
    println!();
    println!("caresync demo report");
    if cfg!(debug_assertions) {
        println!("(a debug build: a release build streams several times faster)");
    }
    println!();
    let c = &r.counts;
    println!("input");
    println!(
        "  HL7 v2 over MLLP  {} frames acknowledged: {} accepted, {} rejected (AR), {} errors",
        r.main_acks.total() + r.late_acks.total(),
        r.main_acks.accepted + r.late_acks.accepted,
        r.main_acks.rejected + r.late_acks.rejected,
        r.main_acks.errors + r.late_acks.errors
    );
    println!(
        "                    ({} messages, {} re-sent, {} late, {} bad)",
        c.hl7 + c.newer,
        c.resent,
        c.late,
        c.bad_frames
    );
    println!(
        "  landing folder    {} files stored ({} FHIR NDJSON, {} X12), {} set aside",
        r.landing_submitted, c.fhir_files, c.x12_files, r.landing_rejected
    );
    println!("  bronze            {} rows", r.bronze_rows);
    println!();
    println!("silver ({} tables)", r.silver.len());
    for (name, rows) in &r.silver {
        println!("  {name:<24} {rows:>6} rows");
    }
    println!(
        "  merges: {} records, {} applied, {} duplicates, {} late (older than what silver holds)",
        r.stats.records, r.stats.applied, r.stats.duplicate, r.stats.late
    );
    println!();
    let dead_total: usize = r.dead.values().flat_map(|codes| codes.values()).sum();
    println!("dead letters ({dead_total})");
    for (class, codes) in &r.dead {
        let n: usize = codes.values().sum();
        let detail = codes
            .iter()
            .map(|(code, k)| format!("{code} x{k}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!("  {class:<10} {n:>4}   {detail}");
    }
    println!();
    println!("latency");
    let mut trips = r.main_acks.round_trips.clone();
    trips.extend(r.late_acks.round_trips.iter().copied());
    trips.sort_unstable();
    println!(
        "  MLLP ACK round trip (client)       p50 {}, p95 {}, max {} over {} frames",
        ms(quantile(&trips, 0.5)),
        ms(quantile(&trips, 0.95)),
        ms(quantile(&trips, 1.0)),
        trips.len()
    );
    if let Some(h) = &r.ack_server {
        println!(
            "  arrival -> ACK (server)            {}",
            h.describe("frames")
        );
    }
    if let Some(h) = &r.end_to_end {
        println!(
            "  arrival -> silver commit           {}",
            h.describe("inputs")
        );
    }
    if let (Some(p50), Some(max)) = (r.captured.lag_quantile(0.5), r.captured.lag_quantile(1.0)) {
        println!(
            "  PostgreSQL commit -> lake commit   p50 {}, max {} over {} transactions",
            ms(p50),
            ms(max),
            r.captured.transactions()
        );
    }
    println!();
    println!(
        "PostgreSQL {} (private cluster, database {DATABASE})",
        pg.major
    );
    for s in r.first_sync.iter().chain(&r.second_sync) {
        println!("  forward  {}", describe_sync(s));
    }
    for (table, rows) in &r.served {
        println!("  served   {table:<24} {rows:>6} rows");
    }
    let history = r
        .history
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "  reverse  {OPERATIONAL}: {} rows, {} updated; change history: {history}",
        r.operational_rows, r.operational_changed
    );
    println!();
    println!("durations");
    for (what, took) in &r.durations {
        println!("  {what:<30} {:>6.1} s", took.as_secs_f64());
    }
    println!("  {:<30} {:>6.1} s", "total", total.as_secs_f64());
    println!();
    println!("where to look");
    println!("  bronze          {lake}/bronze");
    println!("  silver          {lake}/silver/<table>");
    println!("  dead letters    {lake}/dead_letter (partitioned by error_class)");
    println!("  change history  {}/{OPERATIONAL}", folders.history);
    println!("  landing files   {}/.done", folders.landing.display());
    println!(
        "  stream metrics  {}/stream-metrics.prom (Prometheus text)",
        folders.root.display()
    );
    println!(
        "  PostgreSQL      {}/psql -h {} -p {} -U postgres -d {DATABASE}",
        pg.cluster.binaries().dir().display(),
        pg.cluster.socket_dir().display(),
        pg.cluster.port()
    );
    println!(
        "                  (the cluster stops when the demo ends; run with --keep-running to keep it)"
    );
    println!();
    println!("demo finished in {:.1} s", total.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msh7_is_emptied_and_the_rest_kept() {
        let out = without_msh7(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\rPID|1\r");
        assert_eq!(out, b"MSH|^~\\&|A|B|C|D|||ADT^A01|X|P|2.5\rPID|1\r");
    }

    #[test]
    fn histograms_are_read_from_prometheus_text() {
        let text = "# TYPE caresync_stream_ack_seconds histogram\n\
            caresync_stream_ack_seconds_bucket{source=\"mllp\",le=\"0.01\"} 10\n\
            caresync_stream_ack_seconds_bucket{source=\"mllp\",le=\"0.1\"} 90\n\
            caresync_stream_ack_seconds_bucket{source=\"mllp\",le=\"1\"} 100\n\
            caresync_stream_ack_seconds_bucket{source=\"mllp\",le=\"+Inf\"} 100\n\
            caresync_stream_ack_seconds_sum{source=\"mllp\"} 4.5\n\
            caresync_stream_ack_seconds_count{source=\"mllp\"} 100\n";
        let h = Histogram::parse(text, "caresync_stream_ack_seconds", Some("mllp"))
            .expect("a histogram");
        assert_eq!(h.count, 100);
        assert!((h.mean() - 0.045).abs() < 1e-9);
        // The 50th of 100 lies 40/80 into the 0.01..0.1 bucket.
        assert!(
            (h.quantile(0.5) - 0.055).abs() < 1e-9,
            "{}",
            h.quantile(0.5)
        );
        assert!(
            (h.quantile(0.95) - 0.55).abs() < 1e-9,
            "{}",
            h.quantile(0.95)
        );
        assert!(Histogram::parse(text, "caresync_stream_ack_seconds", Some("landing")).is_none());
    }

    #[test]
    fn the_feed_has_resends_late_and_bad_frames() {
        let feed = Feed::generate(1, 200);
        let c = &feed.counts;
        assert!(c.late >= 2, "{c:?}");
        assert_eq!(c.bad_frames, 6);
        assert!(c.resent >= 10, "{c:?}");
        assert_eq!(
            feed.main.len() + feed.late.len(),
            c.hl7 + c.newer + c.resent + c.bad_frames
        );
    }
}
