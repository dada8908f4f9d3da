//! Turning the location strings callers give us into URLs deltalake accepts.

use std::path::Path;
use std::sync::Once;

use url::Url;

use crate::LakeError;

/// Whether a missing local directory is created or reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    Create,
    Report,
}

/// A parsed table location.
#[derive(Clone, Debug)]
pub(crate) struct Location {
    /// What deltalake is given.
    pub(crate) url: Url,
    /// What errors and logs show: `url` without user info, query or fragment.
    pub(crate) display: String,
}

impl Location {
    /// Parses `input`: a local path (relative or absolute), a `file://` URL, or an
    /// `s3://` / `s3a://` URL.
    pub(crate) fn parse(input: &str, missing: Missing) -> Result<Self, LakeError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(LakeError::InvalidUrl {
                url: String::new(),
                reason: "the location is empty".to_owned(),
            });
        }
        match Url::parse(trimmed) {
            // A one-letter scheme is a Windows drive letter, so a path.
            Ok(url) if url.scheme().len() == 1 => Self::local(Path::new(trimmed), missing),
            Ok(url) => match url.scheme() {
                "file" => {
                    let path = url.to_file_path().map_err(|()| LakeError::InvalidUrl {
                        url: redact_url(&url),
                        reason: "not a local file path".to_owned(),
                    })?;
                    Self::local(&path, missing)
                }
                "s3" | "s3a" => {
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(LakeError::InvalidUrl {
                            url: redact_url(&url),
                            reason: "no bucket name".to_owned(),
                        });
                    }
                    register_object_stores();
                    Ok(Self {
                        display: redact_url(&url),
                        url,
                    })
                }
                other => Err(LakeError::UnsupportedScheme {
                    url: redact_url(&url),
                    scheme: other.to_owned(),
                }),
            },
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                Self::local(Path::new(trimmed), missing)
            }
            Err(err) => Err(LakeError::InvalidUrl {
                url: redact_str(trimmed),
                reason: format!("not a URL ({err})"),
            }),
        }
    }

    fn local(path: &Path, missing: Missing) -> Result<Self, LakeError> {
        let shown = || path.display().to_string();
        let absolute = std::path::absolute(path).map_err(|err| LakeError::InvalidUrl {
            url: shown(),
            reason: format!("cannot make the path absolute ({})", err.kind()),
        })?;
        match std::fs::metadata(&absolute) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(LakeError::InvalidUrl {
                    url: shown(),
                    reason: "the path exists and is not a directory".to_owned(),
                });
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => match missing {
                Missing::Report => return Err(LakeError::NotATable { url: shown() }),
                Missing::Create => {
                    std::fs::create_dir_all(&absolute).map_err(|err| LakeError::InvalidUrl {
                        url: shown(),
                        reason: format!("cannot create the directory ({})", err.kind()),
                    })?;
                }
            },
            Err(err) => {
                return Err(LakeError::InvalidUrl {
                    url: shown(),
                    reason: format!("cannot read the path ({})", err.kind()),
                });
            }
        }
        // Canonical, so that every spelling of one directory gives one URL.
        let canonical = std::fs::canonicalize(&absolute).map_err(|err| LakeError::InvalidUrl {
            url: shown(),
            reason: format!("cannot resolve the path ({})", err.kind()),
        })?;
        let url = Url::from_directory_path(&canonical).map_err(|()| LakeError::InvalidUrl {
            url: shown(),
            reason: "the path cannot be written as a file:// URL".to_owned(),
        })?;
        Ok(Self {
            display: redact_url(&url),
            url,
        })
    }
}

/// Registers deltalake's S3 object store and log store factories, once.
///
/// The `deltalake` crate also does this from a constructor function, but a
/// linker may drop that; doing it here as well costs nothing.
fn register_object_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// `url` without credentials, query or fragment.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    // These fail only for URLs that cannot have user info, which then have none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// A string that did not parse as a URL, with anything that looks like user
/// info (`scheme://user:secret@`) and any query removed.
fn redact_str(input: &str) -> String {
    let without_query = input.split(['?', '#']).next().unwrap_or_default();
    match (without_query.find("://"), without_query.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!(
                "{}://***{}",
                &without_query[..scheme_end],
                &without_query[at..]
            )
        }
        _ => without_query.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_and_query() {
        let url = Url::parse("s3://key:secret@bucket/t?x=1#f").expect("valid URL");
        assert_eq!(redact_url(&url), "s3://bucket/t");
        assert_eq!(
            redact_str("s3://key:sec ret@bucket/t?q"),
            "s3://***@bucket/t"
        );
        assert_eq!(redact_str("plain path"), "plain path");
    }

    #[test]
    fn unsupported_and_malformed_urls_are_typed_errors() {
        assert!(matches!(
            Location::parse("ftp://host/table", Missing::Report),
            Err(LakeError::UnsupportedScheme { scheme, .. }) if scheme == "ftp"
        ));
        assert!(matches!(
            Location::parse("s3://", Missing::Report),
            Err(LakeError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Location::parse("http://[::1", Missing::Report),
            Err(LakeError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Location::parse("   ", Missing::Report),
            Err(LakeError::InvalidUrl { .. })
        ));
    }
}
