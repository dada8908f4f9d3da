//! FHIR over HTTP, and the /metrics, /health and /ready endpoints.
