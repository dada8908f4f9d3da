use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caresync_testkit::pg::{PgCluster, PgError, shared_cluster};
use tokio_postgres::NoTls;

/// Is `pid` a live (not zombie) process?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Live processes whose command line mentions `dir`.
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id() && alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn query_one(conn_str: &str, sql: &str) -> String {
    let (client, connection) = tokio_postgres::connect(conn_str, NoTls)
        .await
        .expect("connect over the Unix socket");
    let task = tokio::spawn(connection);
    let row = client.query_one(sql, &[]).await.expect("query");
    let value: String = row.get(0);
    drop(client);
    task.await.expect("connection task").expect("connection");
    value
}

#[test]
fn two_clusters_run_concurrently_with_logical_replication_and_leave_nothing_behind() {
    let starts: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(PgCluster::start))
        .collect();
    let clusters: Vec<PgCluster> = starts
        .into_iter()
        .map(|h| h.join().expect("thread").expect("cluster starts"))
        .collect();
    assert_ne!(clusters[0].dir(), clusters[1].dir());

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (i, cluster) in clusters.iter().enumerate() {
        let conn = cluster.connection_string("postgres");
        assert_eq!(rt.block_on(query_one(&conn, "SHOW wal_level")), "logical");
        let slot = format!("caresync_slot_{i}");
        let created = rt.block_on(query_one(
            &conn,
            &format!("SELECT slot_name::text FROM pg_create_logical_replication_slot('{slot}', 'pgoutput')"),
        ));
        assert_eq!(created, slot);
        let listed = rt.block_on(query_one(
            &conn,
            "SELECT string_agg(slot_name || ':' || plugin, ',') FROM pg_replication_slots",
        ));
        assert_eq!(
            listed,
            format!("{slot}:pgoutput"),
            "each cluster sees only its own slot"
        );
    }

    let gone: Vec<(u32, PathBuf)> = clusters
        .iter()
        .map(|c| (c.postmaster_pid(), c.dir().to_path_buf()))
        .collect();
    for (pid, dir) in &gone {
        assert!(alive(*pid), "server runs while the cluster is held");
        assert!(!processes_mentioning(dir).is_empty());
    }
    drop(clusters);
    for (pid, dir) in &gone {
        assert!(!alive(*pid), "postmaster {pid} still running after drop");
        assert_eq!(processes_mentioning(dir), Vec::<u32>::new());
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
}

#[test]
fn tcp_listener_on_loopback_accepts_connections() {
    let cluster = PgCluster::builder().tcp(true).start().expect("cluster");
    let port = cluster.tcp_port().expect("tcp was requested");
    let conn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = rt.block_on(query_one(&conn, "SELECT host(inet_server_addr())"));
    assert_eq!(addr, "127.0.0.1");
}

#[test]
fn a_restart_keeps_the_data_and_the_address_and_ends_open_connections() {
    let mut cluster = PgCluster::start().expect("cluster");
    let db = cluster.create_database("restart_test").expect("database");
    let conn = cluster.connection_string(&db);
    cluster
        .psql(
            &db,
            "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')",
        )
        .expect("writes");
    let before = cluster.postmaster_pid();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(&conn, NoTls))
        .expect("connects");
    let task = rt.spawn(connection);

    cluster.restart().expect("restarts");

    assert_ne!(cluster.postmaster_pid(), before);
    assert!(alive(cluster.postmaster_pid()));
    assert!(!alive(before));
    // The connection open across the restart is ended by it.
    let lost = rt.block_on(client.simple_query("SELECT 1"));
    assert!(lost.is_err(), "a connection survived the restart");
    drop(client);
    let _ = rt.block_on(task);
    // The same connection string reaches the restarted server and its data.
    assert_eq!(
        rt.block_on(query_one(&conn, "SELECT v FROM kept")),
        "before"
    );
}

#[test]
fn missing_installation_names_the_program_and_the_install_command() {
    let err = PgCluster::builder()
        .bin_dir("/nonexistent/postgresql/bin")
        .start()
        .expect_err("no binaries there");
    assert!(
        matches!(
            err,
            PgError::MissingBinary {
                program: "initdb",
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("initdb"), "{message}");
    assert!(message.contains("/nonexistent/postgresql/bin"), "{message}");
    assert!(message.contains("apt-get install"), "{message}");
}

#[test]
fn shared_cluster_gives_each_test_its_own_database() {
    let cluster = shared_cluster().expect("shared cluster");
    let a = cluster.create_unique_database("shared-a").expect("db a");
    let b = cluster.create_unique_database("shared-a").expect("db b");
    assert_ne!(a, b);
    cluster
        .psql(
            &a,
            "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (2)",
        )
        .expect("write in a");
    assert_eq!(
        cluster.psql(&a, "SELECT count(*) FROM t").expect("count"),
        "2"
    );
    let err = cluster
        .psql(&b, "SELECT count(*) FROM t")
        .expect_err("b does not see a's table");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(matches!(
        cluster.create_database("Robert'); DROP TABLE t;--"),
        Err(PgError::BadDatabaseName)
    ));
}

const CHILD_ENV: &str = "CARESYNC_TESTKIT_HOLD_CLUSTER";

/// Run twice: as the test, it starts a copy of this test binary that holds a
/// cluster, kills that copy with SIGKILL, and checks that the watchdog stops
/// the server and removes its directory. As the copy (with `CHILD_ENV` set),
/// it starts the cluster, reports it and waits to be killed.
#[test]
fn cluster_is_removed_when_its_process_is_killed() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let cluster = PgCluster::start().expect("cluster in child");
        println!(
            "READY {} {}",
            cluster.postmaster_pid(),
            cluster.dir().display()
        );
        // Block until killed; stdin stays open because the parent holds it.
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "pg::cluster_is_removed_when_its_process_is_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("READY ").map(|(_, rest)| rest.to_owned()))
        .expect("child reports its cluster");
    let (pid, dir) = ready.split_once(' ').expect("pid and dir");
    let (pid, dir): (u32, PathBuf) = (pid.parse().expect("pid"), dir.into());
    assert!(alive(pid));

    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");

    wait_until(
        "the watchdog stops the server",
        Duration::from_secs(60),
        || !alive(pid) && !dir.exists(),
    );
    assert_eq!(processes_mentioning(&dir), Vec::<u32>::new());
}
