//! `s3://` locations reach deltalake's S3 store; an unreachable endpoint is a
//! prompt, typed error.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use caresync_lake::{LakeError, LakeTable};

use crate::common::spec;

/// Storage options for an S3 endpoint on a local port nothing listens on.
fn unreachable_endpoint() -> HashMap<String, String> {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local address").port()
    };
    [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test-key".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        // object_store retry and HTTP client settings: fail fast.
        ("max_retries", "0".to_owned()),
        ("retry_timeout", "2s".to_owned()),
        ("connect_timeout", "2s".to_owned()),
        ("timeout", "5s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test]
async fn an_unreachable_s3_endpoint_is_an_open_error() {
    let options = unreachable_endpoint();
    let started = Instant::now();
    let opened = tokio::time::timeout(
        Duration::from_secs(20),
        LakeTable::open_with_options("s3://bucket/table", options.clone()),
    )
    .await
    .expect("open gives up in bounded time");
    let err = opened.expect_err("nothing listens there");
    assert!(matches!(err, LakeError::Open { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot open Delta table at s3://bucket/table"
    );

    let created = tokio::time::timeout(
        Duration::from_secs(20),
        LakeTable::open_or_create("s3://bucket/table", &spec().with_storage_options(options)),
    )
    .await
    .expect("open_or_create gives up in bounded time");
    let err = created.expect_err("nothing listens there");
    assert!(matches!(err, LakeError::Open { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
