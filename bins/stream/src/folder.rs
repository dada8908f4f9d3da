//! A landing folder watched for HL7 v2 batch files, FHIR NDJSON and X12 files.
