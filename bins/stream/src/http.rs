//! FHIR over HTTP, and the `/metrics`, `/health` and `/ready` endpoints.
//!
//! One HTTP/1.1 server ([`serve`]) answers:
//!
//! | Request | Answer |
//! |---|---|
//! | `POST /fhir`, `POST /fhir/{ResourceType}` (a trailing `/` is fine) | `202` once the body is durable in bronze |
//! | `GET /metrics` | the Prometheus text exposition (`404` without a handle) |
//! | `GET /health` | `200 ok`; `503` once the pipeline is stopping |
//! | `GET /ready` | `200` while the pipeline takes input, else `503` |
//! | anything else | `404`, or `405` with `Allow` for a known path |
//!
//! A POST body is a FHIR JSON resource, a Bundle, or bulk-export NDJSON
//! (`application/fhir+json`, `application/json`, `application/fhir+ndjson`,
//! `application/x-ndjson`; no `Content-Type` is taken as one of them). It is
//! checked only cheaply before it is stored: it must start with a JSON
//! object ([`caresync_fhir::read::detect`]) and be at most
//! [`HttpOptions::max_body`] bytes. `{ResourceType}` in the path must look
//! like a type name and is not compared with the body. Deep validation
//! happens in the silver stage, which dead-letters bad resources; here, once
//! the bytes are in bronze, the sender is done.
//!
//! Every FHIR answer carries an `OperationOutcome` (`application/fhir+json`);
//! its texts name stable codes and rules, never a value of the body:
//!
//! - `202 Accepted`, severity `information`: stored in bronze; the outcome
//!   names the bronze batch and row, also given as the headers
//!   `X-Caresync-Bronze-Batch` and `X-Caresync-Bronze-Row`;
//! - `400 Bad Request`, `invalid`: empty, or not JSON (`FHIR-0001`); not
//!   stored;
//! - `413 Content Too Large`, `too-long`: over the limit (`FHIR-0002`); not
//!   stored, and the body is not read when `Content-Length` says so;
//! - `415 Unsupported Media Type`, `not-supported`: another `Content-Type`;
//! - `503 Service Unavailable`, `transient`, with `Retry-After: 1`: bronze
//!   refused the write or the pipeline is shutting down (`STREAM-0001`,
//!   `STREAM-0002`); send it again.
//!
//! Each POST that reaches bronze is counted in
//! `caresync_stream_received_total` (by the bronze writer) and timed in
//! `caresync_stream_ack_seconds` (see [`crate::metrics`]).
//!
//! Without an [`IngestHandle`] the server only serves `/metrics`, `/health`
//! and `/ready`: the FHIR paths answer `404`.
//!
//! On shutdown the server stops accepting connections, lets the requests in
//! flight finish (their bodies are still written to bronze and answered),
//! closes idle connections, and returns.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use caresync_core::ErrorCode;
use caresync_fhir::read::{codes as fhir_codes, detect};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::ingest::{Format, Inbound, IngestHandle};
use crate::pipeline::Health;

/// How requests are served.
#[derive(Clone, Copy, Debug)]
pub struct HttpOptions {
    /// The largest POST body taken, in bytes; larger ones get `413`.
    pub max_body: usize,
}

impl HttpOptions {
    /// The default [`HttpOptions::max_body`]: 64 MiB, the FHIR readers'
    /// own limit for one document.
    pub const DEFAULT_MAX_BODY: usize = 64 << 20;
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body: HttpOptions::DEFAULT_MAX_BODY,
        }
    }
}

/// The header naming the bronze batch of a stored body.
pub const BRONZE_BATCH_HEADER: &str = "x-caresync-bronze-batch";
/// The header naming the row of a stored body within its bronze batch.
pub const BRONZE_ROW_HEADER: &str = "x-caresync-bronze-row";
/// The `system` of the codings that carry our stable codes in an
/// `OperationOutcome`'s `issue[].details`.
pub const CODE_SYSTEM: &str = "urn:caresync:error-code";

/// How much of a body [`detect`] looks at.
const DETECT_PREFIX: usize = 64 * 1024;
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

const FHIR_JSON: &str = "application/fhir+json";
const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The media types a POST may carry.
const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    FHIR_JSON,
    "application/json",
    "application/fhir+ndjson",
    "application/x-ndjson",
];

/// What every connection shares.
struct State {
    ingest: Option<IngestHandle>,
    health: Arc<Health>,
    metrics: Option<PrometheusHandle>,
    source: Arc<str>,
    options: HttpOptions,
}

/// Serves HTTP on `listener` until `cancel` fires, then lets every request
/// in flight finish and returns.
///
/// `ingest` is `None` for a server of `/metrics`, `/health` and `/ready`
/// only; `metrics` is `None` when no Prometheus recorder is installed
/// (`/metrics` answers `404`). `source` names the bronze rows' source and
/// the metrics' `source` label.
pub async fn serve(
    listener: TcpListener,
    ingest: Option<IngestHandle>,
    health: Arc<Health>,
    metrics: Option<PrometheusHandle>,
    source: Arc<str>,
    options: HttpOptions,
    cancel: CancellationToken,
) {
    let state = Arc::new(State {
        ingest,
        health,
        metrics,
        source,
        options,
    });
    crate::net::serve_until_cancelled(listener, &cancel, "HTTP", |stream| {
        connection(stream, state.clone(), cancel.clone())
    })
    .await;
}

/// Serves one connection; on `cancel`, finishes the request in flight (if
/// any) and closes.
async fn connection(stream: TcpStream, state: Arc<State>, cancel: CancellationToken) {
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(request, &state).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// The endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Fhir,
    Metrics,
    Health,
    Ready,
}

impl Endpoint {
    /// The endpoint at `path` (one trailing `/` ignored).
    fn of(path: &str) -> Option<Endpoint> {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        match path {
            "/fhir" => Some(Endpoint::Fhir),
            "/metrics" => Some(Endpoint::Metrics),
            "/health" => Some(Endpoint::Health),
            "/ready" => Some(Endpoint::Ready),
            _ => path
                .strip_prefix("/fhir/")
                .filter(|t| is_type_name(t))
                .map(|_| Endpoint::Fhir),
        }
    }
}

/// Whether `s` looks like a FHIR resource type name (`Patient`,
/// `MedicationRequest`).
fn is_type_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && s.len() <= 64
}

async fn respond(request: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    let endpoint = Endpoint::of(request.uri().path());
    let get = matches!(*request.method(), Method::GET | Method::HEAD);
    match endpoint {
        Some(Endpoint::Fhir) => match &state.ingest {
            None => not_found(),
            Some(ingest) if request.method() == Method::POST => {
                post_fhir(request, ingest, state).await
            }
            Some(_) => method_not_allowed("POST"),
        },
        Some(_) if !get => method_not_allowed("GET, HEAD"),
        Some(Endpoint::Metrics) => match &state.metrics {
            Some(handle) => text(StatusCode::OK, PROMETHEUS_TEXT, handle.render()),
            None => not_found(),
        },
        Some(Endpoint::Health) if state.health.is_stopping() => {
            text(StatusCode::SERVICE_UNAVAILABLE, TEXT, "stopping\n")
        }
        Some(Endpoint::Health) => text(StatusCode::OK, TEXT, "ok\n"),
        Some(Endpoint::Ready) if state.health.is_ready() => text(StatusCode::OK, TEXT, "ready\n"),
        Some(Endpoint::Ready) => text(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n"),
        None => not_found(),
    }
}

/// Checks, stores and answers one POSTed FHIR body.
async fn post_fhir(
    request: Request<Incoming>,
    ingest: &IngestHandle,
    state: &State,
) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let received_at = SystemTime::now();
    let max = state.options.max_body;
    if let Some(media_type) = request.headers().get(header::CONTENT_TYPE)
        && !is_accepted_media_type(media_type)
    {
        return outcome(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Issue::error(
                "not-supported",
                None,
                "the Content-Type is not FHIR JSON or NDJSON",
            ),
        );
    }
    if content_length(request.headers()).is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    let body = match Limited::new(request.into_body(), max).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(max),
        Err(e) => {
            tracing::debug!(error = %e, "HTTP body could not be read");
            return outcome(
                StatusCode::BAD_REQUEST,
                Issue::error(
                    "invalid",
                    Some(fhir_codes::IO),
                    "the body could not be read",
                ),
            );
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return outcome(
            StatusCode::BAD_REQUEST,
            Issue::error("invalid", Some(fhir_codes::JSON), "the body is empty"),
        );
    }
    if detect(&body[..body.len().min(DETECT_PREFIX)]).is_none() {
        return outcome(
            StatusCode::BAD_REQUEST,
            Issue::error(
                "invalid",
                Some(fhir_codes::JSON),
                "the body is not FHIR JSON: it does not start with a JSON object",
            ),
        );
    }
    let bytes = body.len();
    let inbound = Inbound {
        source: state.source.clone(),
        format: Format::Fhir,
        payload: Vec::from(body),
        message_id: None,
        received_at,
    };
    let stored = ingest.submit(inbound).await;
    crate::metrics::acked(&state.source, arrived.elapsed());
    match stored {
        Ok(receipt) => {
            tracing::debug!(
                batch = receipt.batch,
                row = receipt.row,
                bytes,
                "FHIR body stored in bronze"
            );
            let mut response = outcome(
                StatusCode::ACCEPTED,
                Issue {
                    severity: "information",
                    code: "informational",
                    error: None,
                    diagnostics: format!(
                        "stored in bronze batch {}, row {}",
                        receipt.batch, receipt.row
                    ),
                },
            );
            let headers = response.headers_mut();
            headers.insert(
                HeaderName::from_static(BRONZE_BATCH_HEADER),
                HeaderValue::from(receipt.batch),
            );
            headers.insert(
                HeaderName::from_static(BRONZE_ROW_HEADER),
                HeaderValue::from(receipt.row),
            );
            response
        }
        Err(e) => {
            tracing::warn!(code = %e.code(), error = %e, bytes, "FHIR body not stored");
            let mut response = outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                Issue::error(
                    "transient",
                    Some(e.code()),
                    format!("not stored; send it again ({e})"),
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// Whether `value` names one of [`ACCEPTED_MEDIA_TYPES`] (parameters such
/// as `charset` ignored).
fn is_accepted_media_type(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    ACCEPTED_MEDIA_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// One `OperationOutcome.issue`.
struct Issue {
    severity: &'static str,
    /// The FHIR `IssueType` code.
    code: &'static str,
    /// Our stable code, when there is one.
    error: Option<ErrorCode>,
    /// The rule broken or what happened; never a value of the body.
    diagnostics: String,
}

impl Issue {
    fn error(code: &'static str, error: Option<ErrorCode>, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: "error",
            code,
            error,
            diagnostics: diagnostics.into(),
        }
    }

    fn to_json(&self) -> Value {
        let mut issue = json!({
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        });
        if let Some(error) = self.error {
            issue["details"] = json!({
                "coding": [{
                    "system": CODE_SYSTEM,
                    "code": error.code(),
                    "display": error.title(),
                }],
                "text": format!("{}: {}", error.code(), error.title()),
            });
        }
        issue
    }
}

/// A response carrying an `OperationOutcome` of one issue.
fn outcome(status: StatusCode, issue: Issue) -> Response<Full<Bytes>> {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [issue.to_json()],
    });
    text(status, FHIR_JSON, body.to_string())
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn not_found() -> Response<Full<Bytes>> {
    outcome(
        StatusCode::NOT_FOUND,
        Issue::error("not-found", None, "no such endpoint"),
    )
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = outcome(
        StatusCode::METHOD_NOT_ALLOWED,
        Issue::error(
            "not-supported",
            None,
            format!("this endpoint takes {allow}"),
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn too_large(max: usize) -> Response<Full<Bytes>> {
    outcome(
        StatusCode::PAYLOAD_TOO_LARGE,
        Issue::error(
            "too-long",
            Some(fhir_codes::TOO_LARGE),
            format!("the body is larger than the limit of {max} bytes"),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_endpoints() {
        for (path, endpoint) in [
            ("/fhir", Some(Endpoint::Fhir)),
            ("/fhir/", Some(Endpoint::Fhir)),
            ("/fhir/Patient", Some(Endpoint::Fhir)),
            ("/fhir/MedicationRequest/", Some(Endpoint::Fhir)),
            ("/metrics", Some(Endpoint::Metrics)),
            ("/health", Some(Endpoint::Health)),
            ("/ready/", Some(Endpoint::Ready)),
            ("/", None),
            ("/fhir/patient", None),
            ("/fhir/Patient/123", None),
            ("/fhir//", None),
            ("/fhirPatient", None),
        ] {
            assert_eq!(Endpoint::of(path), endpoint, "{path}");
        }
    }

    #[test]
    fn media_types_ignore_parameters_and_case() {
        let ok = |v: &'static str| is_accepted_media_type(&HeaderValue::from_static(v));
        assert!(ok("application/fhir+json; charset=utf-8"));
        assert!(ok("Application/JSON"));
        assert!(ok("application/x-ndjson"));
        assert!(ok("application/fhir+ndjson"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/fhir+xml"));
    }

    #[test]
    fn an_error_outcome_names_the_code_and_the_rule() {
        let issue = Issue::error("invalid", Some(fhir_codes::JSON), "the body is empty").to_json();
        assert_eq!(issue["severity"], "error");
        assert_eq!(issue["code"], "invalid");
        assert_eq!(issue["details"]["coding"][0]["code"], "FHIR-0001");
        assert_eq!(issue["details"]["coding"][0]["system"], CODE_SYSTEM);
        assert_eq!(issue["diagnostics"], "the body is empty");
    }
}
