//! Private PostgreSQL clusters for tests and the demo.
//!
//! A [`PgCluster`] is a real PostgreSQL server in its own temporary directory:
//! `initdb`, `wal_level=logical`, replication slots and WAL senders enabled,
//! listening on a Unix socket in that directory (and, if asked, on 127.0.0.1
//! on a free port). It is stopped and its directory removed when the value is
//! dropped. If the owning process dies without dropping it (a panic that
//! aborts, `SIGKILL`), a small watchdog process started beside the server
//! notices that the process is gone, stops the server and removes the
//! directory, so no server outlives its test.
//!
//! When the caller is root, PostgreSQL refuses to run as root; the cluster is
//! then initialised and run as the `postgres` user (through `runuser`), and
//! the directory is handed to that user.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The command that installs the server binaries on Debian and Ubuntu.
pub const INSTALL_HINT: &str = "apt-get install -y postgresql-15 (Debian/Ubuntu), or set CARESYNC_PG_BIN to the directory holding initdb, pg_ctl and postgres";

/// The oldest major version caresync supports.
pub const MIN_MAJOR_VERSION: u32 = 15;

/// The user a root process runs the server as.
const SERVER_USER: &str = "postgres";

/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH: usize = 100;

/// Why a private cluster could not be started or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// A PostgreSQL program was not found.
    #[error(
        "PostgreSQL program `{program}` not found (searched: {searched}); install it with: {INSTALL_HINT}"
    )]
    MissingBinary {
        /// The program that was looked for.
        program: &'static str,
        /// Where it was looked for, comma-separated.
        searched: String,
    },
    /// The installed server is older than [`MIN_MAJOR_VERSION`].
    #[error(
        "PostgreSQL {found} at {bin_dir} is too old; caresync needs {MIN_MAJOR_VERSION} or newer ({INSTALL_HINT})"
    )]
    UnsupportedVersion {
        /// The version string the server printed.
        found: String,
        /// Where the binaries are.
        bin_dir: PathBuf,
    },
    /// The caller is root and the `postgres` user to run the server as does not exist.
    #[error(
        "running as root needs a `{SERVER_USER}` user to run the server as; {INSTALL_HINT} creates it"
    )]
    NoServerUser,
    /// The temporary directory path is too long for a Unix socket.
    #[error(
        "socket directory {dir} is too long for a Unix socket path; set TMPDIR to a shorter directory"
    )]
    SocketPathTooLong {
        /// The directory.
        dir: PathBuf,
    },
    /// A program ran but failed.
    #[error("`{program}` failed ({status}): {output}")]
    CommandFailed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The tail of what it printed, and of the server log where relevant.
        output: String,
    },
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A database name is not a plain identifier.
    #[error(
        "database name must be 1 to 63 lower-case letters, digits or underscores, starting with a letter"
    )]
    BadDatabaseName,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Io { context, source }
}

/// The PostgreSQL programs one cluster uses, all from one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgBinaries {
    dir: PathBuf,
}

impl PgBinaries {
    /// Finds the binaries: `$CARESYNC_PG_BIN`, then the directory of `initdb` on
    /// `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
    pub fn locate() -> Result<Self, PgError> {
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os("CARESYNC_PG_BIN") {
            candidates.push(PathBuf::from(dir));
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let initdb = dir.join("initdb");
                if initdb.is_file() {
                    // Debian links initdb into /usr/local/bin or similar; use its real home.
                    match std::fs::canonicalize(&initdb) {
                        Ok(real) => candidates.extend(real.parent().map(Path::to_path_buf)),
                        Err(_) => candidates.push(dir),
                    }
                }
            }
        }
        candidates.extend(debian_bin_dirs());
        Self::first_complete(&candidates)
    }

    /// Uses the binaries in `dir`, checking that they are all there.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Result<Self, PgError> {
        Self::first_complete(&[dir.into()])
    }

    fn first_complete(candidates: &[PathBuf]) -> Result<Self, PgError> {
        for dir in candidates {
            if SERVER_PROGRAMS.iter().all(|p| dir.join(p).is_file()) {
                return Ok(PgBinaries { dir: dir.clone() });
            }
        }
        let searched = if candidates.is_empty() {
            "PATH, /usr/lib/postgresql/*/bin".to_owned()
        } else {
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let program = SERVER_PROGRAMS
            .iter()
            .find(|p| !candidates.iter().any(|d| d.join(p).is_file()))
            .copied()
            .unwrap_or("initdb");
        Err(PgError::MissingBinary { program, searched })
    }

    /// The directory holding the binaries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The server's major version, from `postgres --version`.
    pub fn major_version(&self) -> Result<u32, PgError> {
        let out = run(Command::new(self.program("postgres")).arg("--version"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let major = text
            .split_whitespace()
            .find_map(|word| word.split('.').next()?.parse::<u32>().ok());
        match major {
            Some(m) => Ok(m),
            None => Err(PgError::UnsupportedVersion {
                found: text.trim().to_owned(),
                bin_dir: self.dir.clone(),
            }),
        }
    }
}

const SERVER_PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

fn debian_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// How to start a [`PgCluster`].
#[derive(Clone, Debug, Default)]
pub struct PgClusterBuilder {
    binaries: Option<PgBinaries>,
    bin_dir: Option<PathBuf>,
    tcp: bool,
    durable: bool,
    settings: BTreeMap<String, String>,
}

impl PgClusterBuilder {
    /// Uses the binaries in `dir` instead of searching for them.
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// Also listens on 127.0.0.1, on a free port.
    pub fn tcp(mut self, on: bool) -> Self {
        self.tcp = on;
        self
    }

    /// Keeps `fsync` and `full_page_writes` on. Off by default: a private
    /// cluster lives in a temporary directory and survives no machine crash.
    pub fn durable(mut self, on: bool) -> Self {
        self.durable = on;
        self
    }

    /// Sets a server parameter in `postgresql.conf`.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Initialises and starts the cluster; returns once it accepts connections.
    pub fn start(self) -> Result<PgCluster, PgError> {
        let binaries = match (&self.binaries, &self.bin_dir) {
            (Some(b), _) => b.clone(),
            (None, Some(dir)) => PgBinaries::in_dir(dir)?,
            (None, None) => PgBinaries::locate()?,
        };
        let major = binaries.major_version()?;
        if major < MIN_MAJOR_VERSION {
            return Err(PgError::UnsupportedVersion {
                found: major.to_string(),
                bin_dir: binaries.dir.clone(),
            });
        }
        PgCluster::start_with(binaries, &self)
    }
}

/// A running private PostgreSQL server; stopped and deleted on drop.
///
/// ```no_run
/// use caresync_testkit::pg::PgCluster;
///
/// let cluster = PgCluster::start()?;
/// let db = cluster.create_database("orders_test")?;
/// // Connect with any client through the Unix socket:
/// println!("{}", cluster.connection_string(&db));
/// # Ok::<(), caresync_testkit::pg::PgError>(())
/// ```
pub struct PgCluster {
    binaries: PgBinaries,
    root: tempfile::TempDir,
    port: u16,
    tcp_port: Option<u16>,
    run_as: Option<&'static str>,
    postmaster_pid: u32,
    watchdog: Option<(Child, ChildStdin)>,
    stopped: bool,
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("dir", &self.root.path())
            .field("port", &self.port)
            .field("tcp_port", &self.tcp_port)
            .field("postmaster_pid", &self.postmaster_pid)
            .finish_non_exhaustive()
    }
}

impl PgCluster {
    /// Starts a cluster with the defaults: binaries found automatically, Unix
    /// socket only, not durable.
    pub fn start() -> Result<Self, PgError> {
        Self::builder().start()
    }

    /// A builder to choose binaries, TCP, durability and settings.
    pub fn builder() -> PgClusterBuilder {
        PgClusterBuilder::default()
    }

    fn start_with(binaries: PgBinaries, opts: &PgClusterBuilder) -> Result<Self, PgError> {
        let run_as = if is_root()? { Some(SERVER_USER) } else { None };
        let root = tempfile::Builder::new()
            .prefix("caresync-pg-")
            .tempdir()
            .map_err(io_err("creating the cluster directory"))?;
        let dir = root.path().to_path_buf();
        if dir.join(".s.PGSQL.65535").as_os_str().len() > MAX_SOCKET_PATH {
            return Err(PgError::SocketPathTooLong { dir });
        }
        if run_as.is_some() {
            hand_to_server_user(&dir)?;
        }
        let (port, tcp_port) = if opts.tcp {
            let port = free_tcp_port()?;
            (port, Some(port))
        } else {
            (5432, None)
        };

        let data = dir.join("data");
        let mut initdb = server_command(run_as, &binaries.program("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"])
            .args(["--locale=C.UTF-8"]);
        run(&mut initdb)?;

        let mut conf = String::from("\n# caresync-testkit\n");
        let listen = if opts.tcp { "127.0.0.1" } else { "" };
        let mut settings: BTreeMap<String, String> = [
            ("listen_addresses", format!("'{listen}'")),
            ("unix_socket_directories", format!("'{}'", dir.display())),
            ("port", port.to_string()),
            ("wal_level", "logical".to_owned()),
            ("max_replication_slots", "16".to_owned()),
            ("max_wal_senders", "16".to_owned()),
            ("max_connections", "100".to_owned()),
            ("shared_buffers", "32MB".to_owned()),
            ("dynamic_shared_memory_type", "mmap".to_owned()),
            ("logging_collector", "off".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if !opts.durable {
            for (k, v) in [
                ("fsync", "off"),
                ("full_page_writes", "off"),
                ("synchronous_commit", "off"),
            ] {
                settings.insert(k.to_owned(), v.to_owned());
            }
        }
        settings.extend(opts.settings.clone());
        for (k, v) in &settings {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        let conf_path = data.join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(io_err(format!("writing {}", conf_path.display())))?;

        let log = dir.join("server.log");
        let mut start = server_command(run_as, &binaries.program("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"]);
        if let Err(e) = run(&mut start) {
            return Err(with_log_tail(e, &log));
        }
        let postmaster_pid = read_postmaster_pid(&data)?;

        let mut cluster = PgCluster {
            binaries,
            root,
            port,
            tcp_port,
            run_as,
            postmaster_pid,
            watchdog: None,
            stopped: false,
        };
        cluster.watchdog = Some(cluster.spawn_watchdog()?);
        Ok(cluster)
    }

    /// A shell that waits for end-of-file on its stdin, which arrives when this
    /// process exits in any way, then stops the server and removes the directory.
    fn spawn_watchdog(&self) -> Result<(Child, ChildStdin), PgError> {
        let script = r#"
            read -r _ignored
            if [ -n "$4" ]; then runuser -u "$4" -- "$1" -D "$2" -m immediate -w stop
            else "$1" -D "$2" -m immediate -w stop; fi
            rm -rf "$3"
        "#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("caresync-pg-watchdog")
            .arg(self.binaries.program("pg_ctl"))
            .arg(self.data_dir())
            .arg(self.root.path())
            .arg(self.run_as.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a signal to the test's group (Ctrl-C, a
            // runner's time-out) must not kill the watchdog before it acts.
            .process_group(0)
            .spawn()
            .map_err(io_err("starting the cluster watchdog"))?;
        let stdin = child
            .stdin
            .take()
            .expect("stdin was requested as a pipe above");
        Ok((child, stdin))
    }

    /// The temporary directory holding the data directory, the socket and the log.
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The directory of the Unix socket (the `host` of a connection string).
    pub fn socket_dir(&self) -> &Path {
        self.root.path()
    }

    /// The port (part of the socket's file name, and the TCP port if enabled).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP port on 127.0.0.1, if TCP was enabled.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The process id of the server's postmaster.
    pub fn postmaster_pid(&self) -> u32 {
        self.postmaster_pid
    }

    /// The binaries the cluster runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// A libpq key-value connection string for `database` over the Unix socket,
    /// as user `postgres` (trust authentication).
    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={}",
            self.socket_dir().display(),
            self.port,
            database
        )
    }

    /// A `postgresql://` URL for `database` over the Unix socket.
    pub fn url(&self, database: &str) -> String {
        let host: String = self
            .socket_dir()
            .display()
            .to_string()
            .bytes()
            .map(|b| match b {
                b'/' => "%2F".to_owned(),
                b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        format!("postgresql://postgres@{host}:{}/{database}", self.port)
    }

    /// Creates a database named `name` and returns the name.
    pub fn create_database(&self, name: &str) -> Result<String, PgError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(PgError::BadDatabaseName);
        }
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(name.to_owned())
    }

    /// Creates a database with a name unique in this process, starting with `prefix`.
    pub fn create_unique_database(&self, prefix: &str) -> Result<String, PgError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        self.create_database(&format!("t_{prefix}_{}_{n}", std::process::id()))
    }

    /// Runs `sql` in `database` with `psql`, stopping at the first error, and
    /// returns what it printed (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, PgError> {
        let psql = self.binaries.program("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = run(Command::new(psql)
            .arg("-X")
            .args(["-v", "ON_ERROR_STOP=1", "-A", "-t", "-q"])
            .arg("-h")
            .arg(self.socket_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", database, "-c", sql]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// The tail of the server log, for diagnosing a failed test.
    pub fn log_tail(&self) -> String {
        tail_of_file(&self.root.path().join("server.log"))
    }

    /// Restarts the server (fast shutdown: open connections are ended, as in
    /// a real restart), keeping its data, socket and port; returns once it
    /// accepts connections again.
    pub fn restart(&mut self) -> Result<(), PgError> {
        let log = self.root.path().join("server.log");
        let mut restart = server_command(self.run_as, &self.binaries.program("pg_ctl"));
        restart
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .args(["-m", "fast", "-w", "-t", "60", "restart"]);
        if let Err(e) = run(&mut restart) {
            return Err(with_log_tail(e, &log));
        }
        self.postmaster_pid = read_postmaster_pid(&self.data_dir())?;
        Ok(())
    }

    /// Stops the server (fast shutdown) and removes its directory, reporting errors.
    pub fn stop(mut self) -> Result<(), PgError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), PgError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let mut stop = server_command(self.run_as, &self.binaries.program("pg_ctl"));
        stop.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        let result = run(&mut stop).map(drop);
        if let Some((mut child, stdin)) = self.watchdog.take() {
            // The server is down; end the watchdog without letting it act.
            let _ = child.kill();
            let _ = child.wait();
            drop(stdin);
        }
        result
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, dir = %self.root.path().display(), "private PostgreSQL cluster did not stop cleanly");
        }
        // `root` (a TempDir) removes the directory after this.
    }
}

/// One cluster shared by every test in this process, started on first use.
///
/// Give each test its own database with [`PgCluster::create_unique_database`].
/// The cluster is never dropped (it is a static); the watchdog stops it and
/// removes its directory when the process exits.
pub fn shared_cluster() -> Result<&'static PgCluster, PgError> {
    static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
    match SHARED.get_or_init(|| PgCluster::start().map_err(|e| e.to_string())) {
        Ok(cluster) => Ok(cluster),
        Err(message) => Err(PgError::CommandFailed {
            program: "starting the shared cluster".to_owned(),
            status: "earlier failure".to_owned(),
            output: message.clone(),
        }),
    }
}

fn server_command(run_as: Option<&str>, program: &Path) -> Command {
    match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn run(cmd: &mut Command) -> Result<Output, PgError> {
    let program = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => PgError::Io {
                context: format!("running `{program}` (not found)"),
                source,
            },
            _ => PgError::Io {
                context: format!("running `{program}`"),
                source,
            },
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        Err(PgError::CommandFailed {
            program,
            status: out.status.to_string(),
            output: last_lines(&output, 20),
        })
    }
}

fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program
        .file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy();
    match name.as_ref() {
        "runuser" => cmd
            .get_args()
            .nth(3)
            .and_then(|p| Path::new(p).file_name())
            .map_or_else(
                || "runuser".to_owned(),
                |p| p.to_string_lossy().into_owned(),
            ),
        _ => name.into_owned(),
    }
}

fn with_log_tail(err: PgError, log: &Path) -> PgError {
    match err {
        PgError::CommandFailed {
            program,
            status,
            output,
        } => PgError::CommandFailed {
            program,
            status,
            output: format!("{output}\n--- server log ---\n{}", tail_of_file(log)),
        },
        other => other,
    }
}

fn tail_of_file(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| last_lines(&s, 20))
        .unwrap_or_default()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read_postmaster_pid(data: &Path) -> Result<u32, PgError> {
    let path = data.join("postmaster.pid");
    let text =
        std::fs::read_to_string(&path).map_err(io_err(format!("reading {}", path.display())))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| PgError::CommandFailed {
            program: "pg_ctl".to_owned(),
            status: "started".to_owned(),
            output: format!("{} has no process id", path.display()),
        })
}

fn is_root() -> Result<bool, PgError> {
    let out = run(Command::new("id").arg("-u"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn hand_to_server_user(dir: &Path) -> Result<(), PgError> {
    let id = |flag: &str| -> Result<u32, PgError> {
        let out = Command::new("id")
            .args([flag, SERVER_USER])
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("looking up the postgres user"))?;
        if !out.status.success() {
            return Err(PgError::NoServerUser);
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| PgError::NoServerUser)
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(io_err(format!(
        "handing {} to {SERVER_USER}",
        dir.display()
    )))
}

fn free_tcp_port() -> Result<u16, PgError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free port on 127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("finding a free port on 127.0.0.1"))?
        .port();
    Ok(port)
}
