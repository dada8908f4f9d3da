//! `caresync doctor`: end-to-end checks of the lake and PostgreSQL on this machine.
//!
//! Every check uses invented data from `caresync-testkit`; the report carries
//! counts, versions and locations, never row values.

#![allow(clippy::print_stdout)]

use std::future::Future;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow, bail, ensure};
use caresync_lake::{CHANGE_TYPE_COLUMN, CommitOutcome, LakeTable, TableSpec};
use caresync_testkit::generate::{Generator, patient_schema, patients_batch};
use caresync_testkit::pg::PgCluster;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use tokio_postgres::NoTls;

/// Options of `caresync doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Lake location (path, file:// or s3:// URL) under which the doctor
    /// creates the table `caresync_doctor`. Default: a temporary directory.
    #[arg(long, value_name = "URL")]
    lake: Option<String>,
    /// PostgreSQL connection string. Default: start a private cluster from
    /// the PostgreSQL binaries installed here.
    #[arg(long, value_name = "DSN")]
    pg: Option<String>,
    /// How many invented patients to write.
    #[arg(long, default_value_t = 1_000)]
    rows: usize,
    /// Seed of the invented data (each run on the same lake adds its
    /// transaction number, so runs write different patients).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const APP_ID: &str = "caresync-doctor";

#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    /// Runs one check, prints its line, and returns its value if it passed.
    async fn check<T>(
        &mut self,
        name: &str,
        step: impl Future<Output = anyhow::Result<(T, String)>>,
    ) -> Option<T> {
        let started = Instant::now();
        let outcome = step.await;
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok((value, detail)) => {
                self.passed += 1;
                println!("  ok    {name:<34} {detail} ({ms} ms)");
                Some(value)
            }
            Err(e) => {
                self.failed += 1;
                println!("  FAIL  {name:<34} {e:#}");
                None
            }
        }
    }

    fn skip(&mut self, name: &str, because: &str) {
        self.failed += 1;
        println!("  skip  {name:<34} {because}");
    }
}

pub(crate) async fn run(args: Args) -> ExitCode {
    println!("caresync doctor");
    let mut report = Report::default();
    let scratch = match tempfile::Builder::new()
        .prefix("caresync-doctor-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => {
            println!("  FAIL  cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lake_root = args
        .lake
        .clone()
        .unwrap_or_else(|| scratch.path().join("lake").display().to_string());
    let url = format!("{}/caresync_doctor", lake_root.trim_end_matches('/'));

    let ids = lake_checks(&mut report, &url, &args).await;
    pg_checks(&mut report, &args, ids.as_deref()).await;

    println!(
        "doctor: {} checks passed, {} failed",
        report.passed, report.failed
    );
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes, re-writes idempotently, updates, time-travels and reads the change
/// feed of a Delta table; returns the patient ids in its latest snapshot.
async fn lake_checks(report: &mut Report, url: &str, args: &Args) -> Option<Vec<String>> {
    let spec = TableSpec::new("caresync_doctor", patient_schema());
    let mut table = report
        .check("lake: open or create table", async {
            let table = LakeTable::open_or_create(url, &spec).await?;
            let detail = format!("{} at version {}", table.url(), table.version());
            Ok((table, detail))
        })
        .await?;

    let rows_before = count_rows(&table.read_all().await.ok()?);
    // Each run is the next transaction of the doctor and writes new patients.
    let txn = table.last_txn_version(APP_ID).await.ok()?.unwrap_or(0) + 1;
    let seed = args.seed.wrapping_add(txn.unsigned_abs());
    let patients = Generator::new(seed).patients(args.rows);
    let batch = patients_batch(&patients);
    let appended = report
        .check("lake: idempotent append", async {
            let version = match table
                .append_idempotent(APP_ID, txn, vec![batch.clone()])
                .await?
            {
                CommitOutcome::Committed { version } => version,
                other => bail!("expected a new commit, got {other:?}"),
            };
            // A writer that crashed after committing retries with the same txn.
            let mut retry = LakeTable::open(url).await?;
            let again = retry
                .append_idempotent(APP_ID, txn, vec![batch.clone()])
                .await?;
            ensure!(
                again
                    == CommitOutcome::AlreadyApplied {
                        last_txn_version: txn
                    },
                "the retried commit was not recognised: {again:?}"
            );
            table.refresh().await?;
            let detail = format!(
                "{} rows in version {version}; retry skipped",
                batch.num_rows()
            );
            Ok((version, detail))
        })
        .await?;

    let ids = report
        .check("lake: read snapshot", async {
            let batches = table.read_all().await?;
            let rows = count_rows(&batches);
            ensure!(
                rows == rows_before + args.rows,
                "expected {} rows, read {rows}",
                rows_before + args.rows
            );
            let ids = string_column(&batches, "id")?;
            Ok((ids, format!("{rows} rows")))
        })
        .await?;

    let first_id = patients.first().map(|p| p.id.clone());
    if let Some(first_id) = first_id {
        report
            .check("lake: delete and change feed", async {
                let before = table.version();
                let mutation = table.delete_where(&format!("id = '{first_id}'")).await?;
                let changes = table.changes(before + 1, Some(mutation.version)).await?;
                let kinds = string_column(&changes, CHANGE_TYPE_COLUMN)?;
                ensure!(
                    kinds == ["delete"],
                    "expected exactly one delete row in the change feed, got {} rows",
                    kinds.len()
                );
                let remaining = count_rows(&table.read_all().await?);
                Ok((
                    (),
                    format!(
                        "version {}: 1 delete row, {remaining} rows remain",
                        mutation.version
                    ),
                ))
            })
            .await;
    } else {
        report.skip("lake: delete and change feed", "no rows were generated");
    }

    report
        .check("lake: time travel", async {
            let past = LakeTable::open_at_version(url, appended - 1).await?;
            let then = count_rows(&past.read_all().await?);
            let at = LakeTable::open_at_version(url, appended).await?;
            let now = count_rows(&at.read_all().await?);
            ensure!(
                (then, now) == (rows_before, rows_before + args.rows),
                "version {} has {then} rows and version {appended} has {now}",
                appended - 1
            );
            Ok((
                (),
                format!(
                    "version {}: {then} rows, version {appended}: {now} rows",
                    appended - 1
                ),
            ))
        })
        .await;
    Some(ids)
}

/// Starts or connects to PostgreSQL, checks logical replication, and copies
/// the lake's ids into a table.
async fn pg_checks(report: &mut Report, args: &Args, ids: Option<&[String]>) {
    let mut cluster = None;
    let dsn = match &args.pg {
        Some(dsn) => dsn.clone(),
        None => {
            let started = report
                .check("postgres: start private cluster", async {
                    let c = tokio::task::spawn_blocking(PgCluster::start).await??;
                    let detail = format!("PostgreSQL at {}", c.socket_dir().display());
                    Ok((c, detail))
                })
                .await;
            let Some(c) = started else {
                report.skip("postgres: checks", "no server to check");
                return;
            };
            let dsn = c.connection_string("postgres");
            cluster = Some(c);
            dsn
        }
    };

    let client = report
        .check("postgres: connect", async {
            let (client, connection) = tokio_postgres::connect(&dsn, NoTls)
                .await
                .context("connecting")?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection ended");
                }
            });
            let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
            Ok((client, format!("server {version}")))
        })
        .await;
    let Some(client) = client else {
        report.skip("postgres: checks", "not connected");
        return;
    };

    report
        .check("postgres: wal_level=logical", async {
            let level: String = client.query_one("SHOW wal_level", &[]).await?.get(0);
            ensure!(
                level == "logical",
                "wal_level is {level}; reverse sync needs wal_level=logical (set it and restart the server)"
            );
            Ok(((), level))
        })
        .await;

    report
        .check("postgres: logical replication slot", async {
            let slot = format!("caresync_doctor_{}", std::process::id());
            client
                .execute(
                    "SELECT pg_create_logical_replication_slot($1, 'pgoutput', true)",
                    &[&slot],
                )
                .await
                .context("creating a temporary pgoutput slot")?;
            client
                .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                .await
                .context("dropping the slot")?;
            Ok(((), "pgoutput slot created and dropped".to_owned()))
        })
        .await;

    match ids {
        Some(ids) => {
            report
                .check("lake -> postgres: copy keys", async {
                    client
                        .batch_execute(
                            "CREATE TEMP TABLE caresync_doctor_ids (id text PRIMARY KEY)",
                        )
                        .await?;
                    let inserted = client
                        .execute(
                            "INSERT INTO caresync_doctor_ids SELECT unnest($1::text[])",
                            &[&ids],
                        )
                        .await?;
                    let counted: i64 = client
                        .query_one("SELECT count(*) FROM caresync_doctor_ids", &[])
                        .await?
                        .get(0);
                    ensure!(
                        usize::try_from(counted).ok() == Some(ids.len()),
                        "PostgreSQL holds {counted} of {} keys",
                        ids.len()
                    );
                    Ok(((), format!("{inserted} keys")))
                })
                .await;
        }
        None => report.skip("lake -> postgres: copy keys", "the lake checks failed"),
    }

    drop(client);
    if let Some(c) = cluster {
        report
            .check("postgres: stop private cluster", async {
                tokio::task::spawn_blocking(move || c.stop()).await??;
                Ok(((), "stopped and removed".to_owned()))
            })
            .await;
    }
}

fn count_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The values of a text column across batches, whatever its string encoding.
pub(crate) fn string_column(batches: &[RecordBatch], name: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| anyhow!("column {name} is missing"))?;
        let text = cast(column, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        out.extend(
            (0..text.len())
                .filter(|&i| text.is_valid(i))
                .map(|i| text.value(i).to_owned()),
        );
    }
    Ok(out)
}
