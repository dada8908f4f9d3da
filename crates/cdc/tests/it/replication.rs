//! The replication protocol client: commands, exported snapshots and the
//! stream.

use caresync_cdc::{ReplicationConnection, StreamMessage};

use crate::{connect, slot_name};

#[tokio::test]
async fn exported_snapshot_and_stream_meet_without_gap_or_overlap() {
    let (client, config) = connect("repl_snapshot").await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, 'before' FROM generate_series(1, 5) g;
             CREATE PUBLICATION p FOR TABLE t;",
        )
        .await
        .expect("set-up");

    let mut repl = ReplicationConnection::connect(&config)
        .await
        .expect("replication connection");
    let system = repl.identify_system().await.expect("IDENTIFY_SYSTEM");
    assert!(system.wal_position.as_u64() > 0);
    let slot = slot_name("snap");
    let created = repl.create_slot(&slot).await.expect("slot");
    let snapshot = created.snapshot_name.clone().expect("an exported snapshot");

    // Rows written after the slot exist are streamed, not in the snapshot.
    client
        .batch_execute("INSERT INTO t SELECT g, 'after' FROM generate_series(6, 8) g")
        .await
        .expect("insert after");

    let (reader, connection) =
        tokio_postgres::connect(&format!("{} ", crate_dsn(&config)), tokio_postgres::NoTls)
            .await
            .expect("connects");
    tokio::spawn(connection);
    reader
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{snapshot}'"
        ))
        .await
        .expect("snapshot imported");
    let seen: i64 = reader
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(seen, 5, "the snapshot sees the rows before the slot only");
    reader.batch_execute("COMMIT").await.expect("commit");

    let mut stream = repl
        .start_replication(&slot, created.consistent_point, &["p".to_owned()])
        .await
        .expect("streaming");
    let mut inserts = 0;
    let mut kinds = Vec::new();
    while let Some(message) = stream.next().await.expect("a message") {
        if let StreamMessage::XLogData {
            data, wal_start, ..
        } = message
        {
            // Relation messages carry no position (0/0); changes do.
            if data[0] != b'R' {
                assert!(wal_start >= created.consistent_point);
            }
            kinds.push(data[0]);
            if data[0] == b'I' {
                inserts += 1;
            }
            if data[0] == b'C' {
                break;
            }
        }
    }
    assert_eq!(inserts, 3, "kinds {:?}", String::from_utf8_lossy(&kinds));
    assert_eq!(kinds.first(), Some(&b'B'));
}

fn crate_dsn(config: &tokio_postgres::Config) -> String {
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
    };
    format!(
        "host={host} port={} user={} dbname={}",
        config.get_ports()[0],
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    )
}

#[tokio::test]
async fn password_md5_and_scram_logins_work_and_a_wrong_password_is_refused() {
    let (client, config) = connect("repl_auth").await;
    let cluster = caresync_testkit::pg::shared_cluster().expect("the cluster");
    // Rules for these roles only, ahead of the cluster's trust rules.
    let hba = cluster.data_dir().join("pg_hba.conf");
    let rules = "local all cdc_pw password\nlocal replication cdc_pw password\n\
                 local all cdc_md5 md5\nlocal replication cdc_md5 md5\n\
                 local all cdc_scram scram-sha-256\nlocal replication cdc_scram scram-sha-256\n";
    let old = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    if !old.contains("cdc_scram") {
        std::fs::write(&hba, format!("{rules}{old}")).expect("pg_hba.conf written");
    }
    client
        .batch_execute(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cdc_scram') THEN
                 SET password_encryption = 'md5';
                 CREATE ROLE cdc_md5 LOGIN REPLICATION PASSWORD 'md5 secret';
                 SET password_encryption = 'scram-sha-256';
                 CREATE ROLE cdc_pw LOGIN REPLICATION PASSWORD 'plain secret';
                 CREATE ROLE cdc_scram LOGIN REPLICATION PASSWORD 'scram secret';
               END IF;
             END $$;
             SELECT pg_reload_conf();",
        )
        .await
        .expect("roles");
    for (user, password) in [
        ("cdc_pw", "plain secret"),
        ("cdc_md5", "md5 secret"),
        ("cdc_scram", "scram secret"),
    ] {
        let mut c = config.clone();
        c.user(user).password(password);
        let mut repl = ReplicationConnection::connect(&c)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in: {e}"));
        repl.identify_system().await.expect("a command runs");

        c.password("wrong");
        let e = ReplicationConnection::connect(&c)
            .await
            .expect_err("a wrong password");
        assert!(!e.is_transient(), "{user}: {e}");
        assert!(!e.to_string().contains("wrong"), "{e}");
        let mut c = config.clone();
        c.user(user);
        let e = ReplicationConnection::connect(&c)
            .await
            .expect_err("no password");
        assert_eq!(e.code(), "CDC-0004", "{user}: {e}");
    }
}
