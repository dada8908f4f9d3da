//! A landing folder watched for HL7 v2 batch files, FHIR NDJSON and X12 files.
//!
//! [`watch`] polls a folder; every file it takes becomes **one bronze row**:
//! the whole file as the payload, the file name as `message_id`. Once the row
//! is durable the file is moved to the done folder. Files it cannot take go
//! to the rejected folder, with their name and a reason code in the log.
//!
//! # The writers' contract
//!
//! A file is taken as soon as a poll sees it, so write it under a name the
//! watcher skips and rename it into place when it is complete (a rename
//! within one folder is atomic). Skipped names:
//!
//! - names starting with `.` (rsync's `.name.XXXXXX`, the done and rejected
//!   folders);
//! - names ending with `.tmp`, `.part`, `.partial` or `.filepart` (any case:
//!   curl, browsers, WinSCP);
//! - anything but a regular file: folders, symbolic links, devices.
//!
//! A file written in place may be taken half-written: the watcher leaves a
//! file that changed while it read it (size, modification time, inode) for
//! the next poll, but it cannot see a writer that pauses. One watcher per
//! folder: two would both submit a file.
//!
//! # The rules
//!
//! - **Order**: oldest modification time first, then by name.
//! - **Format, from the content**: X12 when it starts (after a UTF-8 BOM and
//!   white space) with `ISA`; HL7 v2 with `MSH`, `FHS` or `BHS`; FHIR when
//!   [`caresync_fhir::read::detect`] sees a JSON object (a resource, a
//!   Bundle, NDJSON). Otherwise the extension decides (any case): `.hl7` →
//!   HL7 v2, `.json`/`.ndjson` → FHIR, `.x12`/`.edi`/`.837`/`.835` → X12;
//!   such a file is submitted, so it is in bronze and, as its parse fails,
//!   in the dead-letter table. A file with neither is moved to the rejected
//!   folder ([`codes::UNKNOWN_FORMAT`]): with no format, no parser can say
//!   what is wrong with it, and guessing one would only bury it in the
//!   dead-letter table under a misleading parse error.
//! - **Size**: a file over [`FolderOptions::max_bytes`] is moved to the
//!   rejected folder ([`codes::TOO_LARGE`]) without being read.
//! - **Durable, then moved**: the file is moved to the done folder only after
//!   [`IngestHandle::submit`] returned its [`Receipt`](crate::Receipt). When
//!   the submission fails the file stays and is tried again at the next
//!   poll. A name already in the done folder gets a counter before its
//!   extension (`a.hl7`, `a.1.hl7`, `a.2.hl7`...).
//! - **Once**: a crash after the bronze commit but before the move leaves
//!   the file in the folder. On start, [`LandingFolder::open`] reads the
//!   bronze table once ([`already_ingested`]) and remembers the
//!   (`message_id`, `content_sha256`) pairs of the files present; a file
//!   whose name and SHA-256 are among them is moved to the done folder
//!   without being submitted again. A file of the same name but other
//!   content is new and submitted. Within a run, a file whose move failed is
//!   remembered the same way until its move succeeds.
//! - **Throughput**: the files of a poll are read and submitted in groups (at
//!   most [`FolderOptions::max_in_flight`] files and about
//!   [`FolderOptions::max_bytes`] bytes at once), so small files share bronze
//!   commits.
//! - **Shutdown**: on cancel, the watcher reads no further file, waits for
//!   the files in flight to be durable and moved, and returns.
//!
//! Logs carry file names, sizes, counts and codes, never file content.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use caresync_core::{ErrorClass, ErrorCode};
use deltalake::arrow::array::{Array as _, AsArray as _, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use futures::TryStreamExt as _;
use tokio_util::sync::CancellationToken;

use crate::bronze::sha256_hex;
use crate::error::StreamError;
use crate::ingest::{Format, Inbound, IngestError, IngestHandle};
use crate::worker::LakeLayout;

/// Why a file was moved to the rejected folder.
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    /// Neither the content nor the extension says HL7 v2, FHIR or X12.
    pub const UNKNOWN_FORMAT: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "STREAM-0020",
        "landing file of unknown format",
    );
    /// The file is larger than the configured maximum.
    pub const TOO_LARGE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "STREAM-0021",
        "landing file larger than the maximum",
    );

    /// Every code of this module.
    pub const ALL: &[ErrorCode] = &[UNKNOWN_FORMAT, TOO_LARGE];
}

/// How a landing folder is watched.
#[derive(Clone, Debug)]
pub struct FolderOptions {
    /// The time between two polls (default 1 s).
    pub poll: Duration,
    /// Where taken files go (default `<folder>/.done`).
    pub done_dir: Option<PathBuf>,
    /// Where refused files go (default `<folder>/.rejected`).
    pub rejected_dir: Option<PathBuf>,
    /// The largest file taken, in bytes (default 256 MiB).
    pub max_bytes: u64,
    /// The most files submitted at once (default 64).
    pub max_in_flight: usize,
}

impl Default for FolderOptions {
    fn default() -> Self {
        FolderOptions {
            poll: Duration::from_secs(1),
            done_dir: None,
            rejected_dir: None,
            max_bytes: 256 << 20,
            max_in_flight: 64,
        }
    }
}

/// What one poll ([`LandingFolder::sweep`]) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sweep {
    /// Files submitted to bronze and moved to the done folder.
    pub submitted: usize,
    /// Files found already in bronze and moved to the done folder.
    pub already_in_bronze: usize,
    /// Files moved to the rejected folder.
    pub rejected: usize,
    /// Files left for the next poll (a failed read, submission or move; a
    /// file that changed while it was read; a poll cut short by shutdown).
    pub deferred: usize,
    /// The newest bronze batch that holds a file of this poll.
    pub last_batch: Option<i64>,
    /// The pipeline takes no more input: the watcher should stop.
    pub closed: bool,
}

/// Watches `dir` until `cancel` fires (see the module docs), submitting its
/// files through `ingest` as `source`. `layout` is the lake the pipeline
/// writes, read once at start for the files a crashed run already stored.
///
/// # Errors
///
/// At start only: `dir` is not a readable folder, the done or rejected
/// folder cannot be created, or the bronze table cannot be read. Later
/// failures (a listing, a file, a submission, a move) are logged and tried
/// again at the next poll.
pub async fn watch(
    dir: PathBuf,
    layout: LakeLayout,
    ingest: IngestHandle,
    source: Arc<str>,
    options: FolderOptions,
    cancel: CancellationToken,
) -> Result<(), StreamError> {
    let mut folder = LandingFolder::open(dir, &layout, ingest, source, &options).await?;
    tracing::info!(folder = %folder.dir.display(), "watching the landing folder");
    while !cancel.is_cancelled() {
        match folder.sweep(&cancel).await {
            Ok(sweep) if sweep.closed => {
                tracing::info!(folder = %folder.dir.display(), "the pipeline takes no more input; the landing folder is no longer watched");
                break;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(code = %e.code(), error = %e, "landing folder poll failed; trying again");
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(options.poll) => {}
        }
    }
    Ok(())
}

/// The (`message_id`, `content_sha256`) pairs of the bronze rows whose
/// `message_id` is one of `names`. Reads the whole bronze table once (rows
/// of other names are dropped as they stream by); with no names it reads
/// nothing.
///
/// # Errors
///
/// The bronze table cannot be opened or read.
pub async fn already_ingested(
    layout: &LakeLayout,
    names: &HashSet<String>,
) -> Result<HashSet<(String, String)>, StreamError> {
    let mut found = HashSet::new();
    if names.is_empty() {
        return Ok(found);
    }
    let table = layout.open_bronze().await?;
    let url = table.url().to_owned();
    let scan_failed = |detail: String| StreamError::NotBronze {
        url: url.clone(),
        detail,
    };
    let mut stream = table.scan().await?;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| scan_failed(format!("scan failed: {e}")))?
    {
        // Read back as `Utf8`, `Utf8View` or a dictionary, depending on the
        // reader: cast to plain `Utf8`.
        let text = |name: &str| -> Result<StringArray, StreamError> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| scan_failed(format!("no column {name}")))?;
            let cast = cast(column, &DataType::Utf8).map_err(|e| {
                scan_failed(format!(
                    "column {name} of type {} is not text: {e}",
                    column.data_type()
                ))
            })?;
            cast.as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| scan_failed(format!("column {name} is not text")))
        };
        let (ids, shas) = (text("message_id")?, text("content_sha256")?);
        for i in 0..batch.num_rows() {
            if ids.is_valid(i) && shas.is_valid(i) && names.contains(ids.value(i)) {
                found.insert((ids.value(i).to_owned(), shas.value(i).to_owned()));
            }
        }
    }
    Ok(found)
}

/// A landing folder ready to be polled; [`watch`] polls one in a loop, and
/// a one-off import calls [`LandingFolder::sweep`] once.
///
/// It holds an [`IngestHandle`]: drop it before
/// [`Pipeline::shutdown`](crate::Pipeline::shutdown), which waits for every
/// handle to go.
#[derive(Debug)]
pub struct LandingFolder {
    dir: PathBuf,
    done: PathBuf,
    rejected: PathBuf,
    max_bytes: u64,
    max_in_flight: usize,
    ingest: IngestHandle,
    source: Arc<str>,
    /// (file name, SHA-256) of files known to be in bronze but not yet
    /// moved to the done folder.
    stored: HashSet<(String, String)>,
    /// Files whose failure was logged as a warning (later ones are debug).
    troubled: HashSet<OsString>,
}

impl LandingFolder {
    /// Checks that `dir` is a folder, creates the done and rejected folders,
    /// and reads from bronze which of the files present are already stored
    /// ([`already_ingested`]).
    ///
    /// # Errors
    ///
    /// `dir` is not a readable folder, a folder cannot be created, or the
    /// bronze table cannot be read.
    pub async fn open(
        dir: PathBuf,
        layout: &LakeLayout,
        ingest: IngestHandle,
        source: Arc<str>,
        options: &FolderOptions,
    ) -> Result<LandingFolder, StreamError> {
        let io_error = |what: String| move |source| StreamError::Io { what, source };
        let done = options
            .done_dir
            .clone()
            .unwrap_or_else(|| dir.join(".done"));
        let rejected = options
            .rejected_dir
            .clone()
            .unwrap_or_else(|| dir.join(".rejected"));
        let what = format!("preparing landing folder {}", dir.display());
        let present = {
            let (dir, done, rejected) = (dir.clone(), done.clone(), rejected.clone());
            let prepare = move || -> Result<Vec<Candidate>, StreamError> {
                let meta = std::fs::metadata(&dir)
                    .map_err(io_error(format!("landing folder {}", dir.display())))?;
                if !meta.is_dir() {
                    return Err(StreamError::Config(format!(
                        "landing folder {} is not a folder",
                        dir.display()
                    )));
                }
                for folder in [&done, &rejected] {
                    std::fs::create_dir_all(folder)
                        .map_err(io_error(format!("creating folder {}", folder.display())))?;
                }
                list(&dir).map_err(io_error(format!("listing folder {}", dir.display())))
            };
            blocking(prepare).await.map_err(io_error(what))??
        };
        let names: HashSet<String> = present.iter().map(|c| c.display_name()).collect();
        let stored = already_ingested(layout, &names).await?;
        if !stored.is_empty() {
            tracing::info!(
                folder = %dir.display(),
                files = stored.len(),
                "files of the landing folder are already in bronze; they are moved to done without being submitted again"
            );
        }
        Ok(LandingFolder {
            dir,
            done,
            rejected,
            max_bytes: options.max_bytes,
            max_in_flight: options.max_in_flight.max(1),
            ingest,
            source,
            stored,
            troubled: HashSet::new(),
        })
    }

    /// The watched folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where taken files go.
    pub fn done_dir(&self) -> &Path {
        &self.done
    }

    /// Where refused files go.
    pub fn rejected_dir(&self) -> &Path {
        &self.rejected
    }

    /// Takes every file ready now, oldest first (see the module docs). Once
    /// `cancel` fires it reads no further file; the files in flight are
    /// still submitted and moved.
    ///
    /// # Errors
    ///
    /// The folder cannot be listed. Failures of single files are logged and
    /// counted in [`Sweep::deferred`].
    pub async fn sweep(&mut self, cancel: &CancellationToken) -> Result<Sweep, StreamError> {
        let dir = self.dir.clone();
        let listing = blocking(move || list(&dir))
            .await
            .and_then(|r| r)
            .map_err(|source| StreamError::Io {
                what: format!("listing folder {}", self.dir.display()),
                source,
            })?;
        let present: HashSet<&OsString> = listing.iter().map(|c| &c.name).collect();
        self.troubled.retain(|name| present.contains(name));
        let mut sweep = Sweep::default();
        let mut queue = listing.into_iter();
        while queue.len() > 0 && !cancel.is_cancelled() {
            let mut group: Vec<(Stored, Inbound)> = Vec::new();
            let mut bytes = 0u64;
            while group.len() < self.max_in_flight && bytes < self.max_bytes {
                if cancel.is_cancelled() {
                    break;
                }
                let Some(candidate) = queue.next() else { break };
                match self.prepare(candidate).await {
                    Prepared::Submit(stored, inbound) => {
                        bytes = bytes.saturating_add(inbound.payload.len() as u64);
                        group.push((stored, inbound));
                    }
                    Prepared::Known(stored) => {
                        if self.move_done(&stored).await {
                            sweep.already_in_bronze += 1;
                        } else {
                            sweep.deferred += 1;
                        }
                    }
                    Prepared::Rejected => sweep.rejected += 1,
                    Prepared::Deferred => sweep.deferred += 1,
                    Prepared::Gone => {}
                }
            }
            let stop = self.submit(group, &mut sweep).await;
            if stop {
                break;
            }
        }
        // Not looked at: cut short by shutdown or a failed submission.
        sweep.deferred += queue.len();
        Ok(sweep)
    }

    /// Submits `group` at once, then moves each stored file to the done
    /// folder. Returns whether the poll should stop (bronze failed, or the
    /// pipeline is closed).
    async fn submit(&mut self, group: Vec<(Stored, Inbound)>, sweep: &mut Sweep) -> bool {
        let (files, inbounds): (Vec<Stored>, Vec<Inbound>) = group.into_iter().unzip();
        let formats: Vec<Format> = inbounds.iter().map(|i| i.format).collect();
        let results =
            futures::future::join_all(inbounds.into_iter().map(|i| self.ingest.submit(i))).await;
        let mut stop = false;
        for ((stored, format), result) in files.into_iter().zip(formats).zip(results) {
            match result {
                Ok(receipt) => {
                    sweep.last_batch = sweep.last_batch.max(Some(receipt.batch));
                    tracing::debug!(file = %stored.name, format = %format, batch = receipt.batch, row = receipt.row, "landing file stored in bronze");
                    self.stored
                        .insert((stored.name.clone(), stored.sha.clone()));
                    if self.move_done(&stored).await {
                        sweep.submitted += 1;
                    } else {
                        sweep.deferred += 1;
                    }
                }
                Err(IngestError::ShuttingDown) => {
                    sweep.closed = true;
                    sweep.deferred += 1;
                    stop = true;
                }
                Err(e) => {
                    tracing::warn!(file = %stored.name, code = %e.code(), error = %e, "landing file not stored; trying again at the next poll");
                    sweep.deferred += 1;
                    stop = true;
                }
            }
        }
        stop
    }

    /// Reads `candidate` and decides what to do with it.
    async fn prepare(&mut self, candidate: Candidate) -> Prepared {
        let name = candidate.display_name();
        if candidate.len > self.max_bytes {
            return self
                .reject(&candidate, codes::TOO_LARGE, candidate.len)
                .await;
        }
        let path = candidate.path.clone();
        let (max, file_name) = (self.max_bytes, name.clone());
        let read = blocking(move || read_file(&path, &file_name, max))
            .await
            .and_then(|r| r);
        let file = match read {
            Ok(ReadOutcome::Read(file)) => file,
            Ok(ReadOutcome::TooLarge(len)) => {
                return self.reject(&candidate, codes::TOO_LARGE, len).await;
            }
            Ok(ReadOutcome::Changed) => {
                tracing::debug!(file = %name, "landing file changed while read; left for the next poll");
                return Prepared::Deferred;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(file = %name, "landing file went away before it was read");
                return Prepared::Gone;
            }
            Err(e) => {
                self.trouble(&candidate.name, &name, "landing file cannot be read", &e);
                return Prepared::Deferred;
            }
        };
        let stored = Stored {
            name: name.clone(),
            path: candidate.path.clone(),
            file_name: candidate.name.clone(),
            stamp: file.stamp,
            sha: file.sha,
        };
        if self
            .stored
            .contains(&(stored.name.clone(), stored.sha.clone()))
        {
            return Prepared::Known(stored);
        }
        let Some((format, by)) = file.format else {
            return self
                .reject(&candidate, codes::UNKNOWN_FORMAT, file.bytes.len() as u64)
                .await;
        };
        tracing::debug!(file = %name, format = %format, by, bytes = file.bytes.len(), "landing file read");
        let inbound = Inbound {
            source: self.source.clone(),
            format,
            payload: file.bytes,
            message_id: Some(name),
            received_at: SystemTime::now(),
        };
        Prepared::Submit(stored, inbound)
    }

    /// Moves a stored file to the done folder; false (logged) when it stays.
    async fn move_done(&mut self, stored: &Stored) -> bool {
        let (from, to, stamp) = (stored.path.clone(), self.done.clone(), stored.stamp);
        let moved = blocking(move || {
            // A file replaced since it was read is new content: leave it.
            if Stamp::of(&std::fs::symlink_metadata(&from)?) != stamp {
                return Ok(None);
            }
            move_into(&from, &to).map(Some)
        })
        .await
        .and_then(|r| r);
        match moved {
            Ok(Some(target)) => {
                self.stored
                    .remove(&(stored.name.clone(), stored.sha.clone()));
                self.troubled.remove(&stored.file_name);
                tracing::debug!(file = %stored.name, done = %target.display(), "landing file moved to done");
                true
            }
            Ok(None) => {
                tracing::debug!(file = %stored.name, "landing file replaced after it was read; left for the next poll");
                false
            }
            Err(e) => {
                self.trouble(
                    &stored.file_name,
                    &stored.name,
                    "landing file stored in bronze but not moved to done; trying again",
                    &e,
                );
                false
            }
        }
    }

    /// Moves `candidate` to the rejected folder for `code`.
    async fn reject(&mut self, candidate: &Candidate, code: ErrorCode, bytes: u64) -> Prepared {
        let name = candidate.display_name();
        let (from, to) = (candidate.path.clone(), self.rejected.clone());
        match blocking(move || move_into(&from, &to))
            .await
            .and_then(|r| r)
        {
            Ok(target) => {
                self.troubled.remove(&candidate.name);
                tracing::warn!(
                    file = %name,
                    code = %code,
                    reason = code.title(),
                    bytes,
                    max_bytes = self.max_bytes,
                    rejected = %target.display(),
                    "landing file rejected"
                );
                Prepared::Rejected
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Prepared::Gone,
            Err(e) => {
                self.trouble(
                    &candidate.name,
                    &name,
                    "landing file cannot be moved to rejected",
                    &e,
                );
                Prepared::Deferred
            }
        }
    }

    /// Logs a failure on a file: a warning the first time, then at debug
    /// level until the file is dealt with.
    fn trouble(&mut self, file: &OsString, name: &str, what: &'static str, error: &io::Error) {
        let code = crate::ingest::codes::IO;
        if self.troubled.insert(file.clone()) {
            tracing::warn!(file = %name, code = %code, error = %error, "{what}");
        } else {
            tracing::debug!(file = %name, code = %code, error = %error, "{what}");
        }
    }
}

/// A file found by a listing.
#[derive(Debug)]
struct Candidate {
    name: OsString,
    path: PathBuf,
    modified: SystemTime,
    len: u64,
}

impl Candidate {
    /// The name as text: the bronze `message_id` and what logs show.
    fn display_name(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// A file read and not yet moved.
#[derive(Debug)]
struct Stored {
    name: String,
    file_name: OsString,
    path: PathBuf,
    stamp: Stamp,
    sha: String,
}

enum Prepared {
    /// Read; to be submitted.
    Submit(Stored, Inbound),
    /// Already in bronze; to be moved to done.
    Known(Stored),
    Rejected,
    Deferred,
    /// Removed by someone else meanwhile.
    Gone,
}

/// What identifies one version of a file: a change in any part means the
/// file was written to or replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
        }
    }
}

/// A file's content and what was found in it.
struct FileRead {
    bytes: Vec<u8>,
    stamp: Stamp,
    sha: String,
    /// The format and what decided it (`content` or `extension`).
    format: Option<(Format, &'static str)>,
}

enum ReadOutcome {
    Read(FileRead),
    TooLarge(u64),
    Changed,
}

/// Whether a directory entry named `name` is a file to take.
fn is_candidate(name: &str) -> bool {
    const PARTIAL: [&str; 4] = [".tmp", ".part", ".partial", ".filepart"];
    if name.starts_with('.') {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    !PARTIAL.iter().any(|s| lower.ends_with(s))
}

/// The regular files to take in `dir`, oldest modified first, then by name.
fn list(dir: &Path) -> io::Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        // An entry that vanished or cannot be inspected is seen again at
        // the next poll.
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if !is_candidate(&name.to_string_lossy()) {
            continue;
        }
        // Not followed: a symbolic link is not a regular file.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        out.push(Candidate {
            path: entry.path(),
            name,
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len: meta.len(),
        });
    }
    out.sort_by(|a, b| {
        a.modified
            .cmp(&b.modified)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

/// Reads the file at `path` (at most `max` bytes), checks that it did not
/// change meanwhile, and hashes and classifies its content.
fn read_file(path: &Path, name: &str, max: u64) -> io::Result<ReadOutcome> {
    let mut file = std::fs::File::open(path)?;
    let before = Stamp::of(&file.metadata()?);
    if before.len > max {
        return Ok(ReadOutcome::TooLarge(before.len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(before.len).unwrap_or(0));
    (&mut file)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let read = bytes.len() as u64;
    if read > max {
        return Ok(ReadOutcome::TooLarge(read));
    }
    let after = Stamp::of(&file.metadata()?);
    let now = Stamp::of(&std::fs::symlink_metadata(path)?);
    if before != after || after != now || read != after.len {
        return Ok(ReadOutcome::Changed);
    }
    let sha = sha256_hex(&bytes);
    let format = detect_format(&bytes, name);
    Ok(ReadOutcome::Read(FileRead {
        bytes,
        stamp: after,
        sha,
        format,
    }))
}

/// The format of a file's content, or else of its extension (see the
/// module docs), with what decided it.
fn detect_format(bytes: &[u8], name: &str) -> Option<(Format, &'static str)> {
    /// Enough for the first line of an NDJSON file.
    const FHIR_PREFIX: usize = 64 << 10;
    let content = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = content
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(content.len());
    let content = &content[start..];
    if content.starts_with(b"ISA") {
        return Some((Format::X12, "content"));
    }
    if [b"MSH", b"FHS", b"BHS"]
        .iter()
        .any(|h| content.starts_with(*h))
    {
        return Some((Format::Hl7v2, "content"));
    }
    if caresync_fhir::read::detect(&bytes[..bytes.len().min(FHIR_PREFIX)]).is_some() {
        return Some((Format::Fhir, "content"));
    }
    let extension = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())?;
    let format = match extension.as_str() {
        "hl7" => Format::Hl7v2,
        "json" | "ndjson" => Format::Fhir,
        "x12" | "edi" | "837" | "835" => Format::X12,
        _ => return None,
    };
    Some((format, "extension"))
}

/// Moves the file `from` into the folder `to` under its name, or under the
/// first free name with a counter (`a.1.hl7`); returns where it went.
/// Across file systems it copies, syncs, then removes the original.
fn move_into(from: &Path, to: &Path) -> io::Result<PathBuf> {
    let name = from
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a file path without a name"))?;
    let target = free_name(to, Path::new(name))?;
    match std::fs::rename(from, &target) {
        Ok(()) => Ok(target),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            std::fs::copy(from, &target)?;
            std::fs::File::open(&target)?.sync_all()?;
            std::fs::remove_file(from)?;
            Ok(target)
        }
        Err(e) => Err(e),
    }
}

/// `dir/name`, or `dir/<stem>.<n>.<extension>` with the first `n` not taken.
fn free_name(dir: &Path, name: &Path) -> io::Result<PathBuf> {
    let first = dir.join(name);
    if !first.try_exists()? {
        return Ok(first);
    }
    let stem = name.file_stem().unwrap_or(name.as_os_str());
    for n in 1..=100_000u32 {
        let mut candidate = stem.to_os_string();
        candidate.push(format!(".{n}"));
        if let Some(extension) = name.extension() {
            candidate.push(".");
            candidate.push(extension);
        }
        let path = dir.join(candidate);
        if !path.try_exists()? {
            return Ok(path);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name left in the target folder",
    ))
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_and_hidden_names_are_skipped() {
        for name in [
            ".done",
            ".a.hl7",
            "a.hl7.tmp",
            "a.PART",
            "a.partial",
            "a.x12.filepart",
        ] {
            assert!(!is_candidate(name), "{name}");
        }
        for name in ["a.hl7", "claims.837", "export.ndjson", "README", "tmp"] {
            assert!(is_candidate(name), "{name}");
        }
    }

    #[test]
    fn the_content_decides_before_the_extension() {
        let format = |bytes: &[u8], name: &str| detect_format(bytes, name);
        assert_eq!(
            format(b"\xEF\xBB\xBF\r\n ISA*00*", "a.hl7"),
            Some((Format::X12, "content"))
        );
        assert_eq!(
            format(b"FHS|^~\\&|", "x.json"),
            Some((Format::Hl7v2, "content"))
        );
        assert_eq!(format(b"BHS|^~\\&|", "x"), Some((Format::Hl7v2, "content")));
        assert_eq!(format(b"MSH|^~\\&|", "x"), Some((Format::Hl7v2, "content")));
        assert_eq!(
            format(
                b"{\"resourceType\":\"Patient\"}\n{\"resourceType\":\"Patient\"}\n",
                "x.x12"
            ),
            Some((Format::Fhir, "content"))
        );
        assert_eq!(
            format(b"garbage", "x.HL7"),
            Some((Format::Hl7v2, "extension"))
        );
        assert_eq!(
            format(b"garbage", "x.ndjson"),
            Some((Format::Fhir, "extension"))
        );
        assert_eq!(format(b"", "x.835"), Some((Format::X12, "extension")));
        assert_eq!(format(b"garbage", "x.txt"), None);
        assert_eq!(format(b"garbage", "noextension"), None);
    }

    #[test]
    fn a_taken_name_gets_a_counter_before_its_extension() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let free = |name: &str| free_name(dir.path(), Path::new(name));
        assert_eq!(free("a.hl7")?, dir.path().join("a.hl7"));
        std::fs::write(dir.path().join("a.hl7"), b"1")?;
        assert_eq!(free("a.hl7")?, dir.path().join("a.1.hl7"));
        std::fs::write(dir.path().join("a.1.hl7"), b"2")?;
        assert_eq!(free("a.hl7")?, dir.path().join("a.2.hl7"));
        std::fs::write(dir.path().join("plain"), b"3")?;
        assert_eq!(free("plain")?, dir.path().join("plain.1"));
        Ok(())
    }

    #[test]
    fn a_file_that_grew_past_the_maximum_is_too_large() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("big.hl7");
        std::fs::write(&path, b"MSH|0123456789")?;
        assert!(matches!(
            read_file(&path, "big.hl7", 4)?,
            ReadOutcome::TooLarge(14)
        ));
        let ReadOutcome::Read(file) = read_file(&path, "big.hl7", 14)? else {
            panic!("a file within the maximum is read");
        };
        assert_eq!(file.sha, sha256_hex(b"MSH|0123456789"));
        assert_eq!(file.format, Some((Format::Hl7v2, "content")));
        Ok(())
    }
}
