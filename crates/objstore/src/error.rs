/// Why the bucket did not do what was asked. Every variant names the
/// endpoint or bucket and the key, never the credentials.
#[derive(Debug, thiserror::Error)]
pub enum ObjStoreError {
    #[error("storage settings: {0}")]
    Settings(String),

    #[error("{operation} {key}: cannot reach {endpoint} ({cause}); check storage.endpoint and that the server is up")]
    Unreachable {
        operation: &'static str,
        key: String,
        endpoint: String,
        cause: String,
    },

    #[error("{operation} {key}: bucket {bucket} answered {status} {code} {message}{}", hint(.status, .code))]
    Refused {
        operation: &'static str,
        key: String,
        bucket: String,
        status: u16,
        code: String,
        message: String,
    },

    #[error("{operation} {key}: {detail}")]
    Answer {
        operation: &'static str,
        key: String,
        detail: String,
    },
}

/// What to do about a refusal, for the ones an admin meets.
fn hint(status: &u16, code: &str) -> &'static str {
    match (*status, code) {
        (403, "SignatureDoesNotMatch") => {
            "; check the secret key (AWS_SECRET_ACCESS_KEY or storage.credentials_file) and storage.region"
        }
        (403, "InvalidAccessKeyId") => "; check the access key (AWS_ACCESS_KEY_ID or storage.credentials_file)",
        (403, "RequestTimeTooSkewed") => "; the clock of this machine is off: set up NTP",
        (403, _) => "; give the credentials' user write, read, list and delete rights on the bucket",
        (404, "NoSuchBucket") => "; create the bucket or correct storage.bucket",
        (301, _) | (400, "AuthorizationHeaderMalformed") => "; correct storage.region (or storage.endpoint)",
        (400, "BadDigest") => "; the upload was damaged on the way and is tried again",
        _ => "",
    }
}
