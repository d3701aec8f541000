//! Errors of the S3 blob store, each saying what the caller should do: [`Action::Retry`] (the
//! store did not answer; nothing half-stored is visible, call again later) or [`Action::Refuse`]
//! (the same call will fail again; the message says what to fix).

use casemesh_model::ids::BlobHash;

/// What a caller should do about an [`S3Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transient: connection refused or reset, timeout, 5xx or throttling after the client's own
    /// retries (object_store retries with backoff first). Nothing is visible at a blob's address
    /// that was not confirmed; call again later.
    Retry,
    /// Permanent for this request: missing or corrupt blob, bytes that do not match the expected
    /// hash, access denied, a request out of range. Do not repeat it unchanged.
    Refuse,
}

/// An error of [`crate::S3Blobs`].
///
/// Variants about an answer of the object store carry `detail`, the store's answer told once
/// ([`describe`]), not object_store's error itself: object_store's errors repeat their whole
/// chain of causes in their own text *and* return it as `source()`, so an error printer that
/// walks the chain (anyhow's `{:#}`) printed each cause three to five times. An `S3Error` is
/// therefore the end of its chain: its text is complete and [`std::error::Error::source`] is
/// `None`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The object store could not be reached or failed (after the client's retries): connection
    /// refused or reset, a timeout, a 5xx answer, throttling. Retry.
    #[error("object store unavailable ({op} {key}): {detail}")]
    Unavailable {
        /// The operation (`put`, `get`, `copy`, …).
        op: &'static str,
        /// The object key.
        key: String,
        /// What the store answered, each cause once.
        detail: String,
    },
    /// The store refused the credentials or the bucket's permissions (401/403). Refuse; check
    /// `[storage]` and the key's permissions on the bucket.
    #[error(
        "object store denied access ({op} {key}): {detail}; check the credentials and the key's \
         permissions on the bucket"
    )]
    Denied {
        /// The operation.
        op: &'static str,
        /// The object key.
        key: String,
        /// What the store answered, each cause once.
        detail: String,
    },
    /// The store refuses the region the requests are signed for (`[storage] region`): a
    /// configuration error, the same for every request. Refuse; set the region the store
    /// expects (Garage: `s3_region` in its `garage.toml`; AWS: the bucket's region).
    #[error(
        "the object store refuses region {region} ({op} {key}): {detail}; set [storage] region to \
         the region the store expects (Garage: s3_region in its garage.toml; AWS: the bucket's \
         region)",
        region = region.as_deref().map(|r| format!("\"{r}\"")).unwrap_or_else(|| "of the requests".into())
    )]
    WrongRegion {
        /// The configured region, when known (see [`crate::S3Blobs::check`]).
        region: Option<String>,
        /// The operation.
        op: &'static str,
        /// The object key.
        key: String,
        /// What the store answered, each cause once.
        detail: String,
    },
    /// The key can read the bucket but not write to it (the start's write probe,
    /// [`crate::S3Blobs::check`]). Refuse: the node could store no evidence.
    #[error(
        "the key cannot write to the bucket ({detail}); allow it to write (and delete) \
         there, e.g. `garage bucket allow --read --write {bucket} --key KEY`"
    )]
    ReadOnly {
        /// The bucket.
        bucket: String,
        /// What the store answered to the probe's write, each cause once.
        detail: String,
    },
    /// No blob with this hash is stored. Refuse.
    #[error("blob {hash} is not in the object store")]
    Missing {
        /// The blob.
        hash: BlobHash,
    },
    /// The stored bytes (or the outboard beside them) do not match the hash: never served.
    /// Refuse; restore the blob from a partner or a backup (`delete` it, then store it again).
    #[error("blob {hash} is corrupt in the object store: {detail}")]
    Corrupt {
        /// The blob.
        hash: BlobHash,
        /// What did not verify.
        detail: String,
    },
    /// The blob is stored but its outboard is not, so ranges cannot be verified. Refuse the read;
    /// [`crate::S3Blobs::rebuild_outboard`] repairs it.
    #[error("blob {hash} has no outboard in the object store (rebuild_outboard repairs it)")]
    OutboardMissing {
        /// The blob.
        hash: BlobHash,
    },
    /// A writer told the expected hash and size got other bytes: nothing was stored. Refuse.
    #[error("expected blob {expected} of {expected_size} bytes, got {actual} of {actual_size}")]
    Mismatch {
        /// What the caller announced.
        expected: BlobHash,
        /// Its announced size.
        expected_size: u64,
        /// What the bytes hash to.
        actual: BlobHash,
        /// How many bytes came.
        actual_size: u64,
    },
    /// The request itself is wrong (range outside the blob, too large for memory). Refuse.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The bucket belongs to another node (its [`crate::OWNER_KEY`] names another
    /// organization). Refuse: two nodes on one bucket would garbage-collect each other's
    /// evidence. Give each node its own bucket.
    #[error(
        "the bucket belongs to another node (organization {owner}; this node is {me}): two nodes \
         on one bucket would delete each other's evidence in `blobs gc`. Give each node its own \
         bucket"
    )]
    OwnedByAnother {
        /// The organization the bucket's owner marker names.
        owner: String,
        /// This node's organization.
        me: String,
    },
    /// Any other answer of the object store (a 4xx such as no such bucket, an unsupported
    /// operation). Refuse.
    #[error("object store error ({op} {key}): {detail}")]
    Store {
        /// The operation.
        op: &'static str,
        /// The object key.
        key: String,
        /// What the store answered, each cause once.
        detail: String,
    },
}

impl S3Error {
    /// Whether to retry later or refuse.
    pub fn action(&self) -> Action {
        match self {
            S3Error::Unavailable { .. } => Action::Retry,
            _ => Action::Refuse,
        }
    }

    /// Classify an object_store error of `op` on `key`. `NotFound` is the caller's business (it
    /// knows which blob was meant) and lands in `Store` here.
    ///
    /// - `Unavailable` (retry): no answer at all (connection refused or reset, a timeout: an
    ///   [`object_store::client::HttpError`] in the chain), a 5xx, 408 or 429, or a task that died;
    /// - `WrongRegion`: an answer refusing the signature's region (S3's
    ///   `AuthorizationHeaderMalformed` with a scope or region, `PermanentRedirect`, a redirect
    ///   object_store reports as "incorrectly configured region");
    /// - `Denied`: 401/403;
    /// - `Store`: any other answer (4xx), which the same request would get again.
    pub(crate) fn store(op: &'static str, key: &str, source: object_store::Error) -> S3Error {
        use object_store::Error as E;
        let answer = Answer::of(&source);
        let key = key.to_string();
        let detail = answer.describe();
        if answer.wrong_region() {
            return S3Error::WrongRegion {
                region: None,
                op,
                key,
                detail,
            };
        }
        match (&source, answer.status) {
            (E::PermissionDenied { .. } | E::Unauthenticated { .. }, _) | (_, Some(401 | 403)) => {
                S3Error::Denied { op, key, detail }
            }
            (_, Some(408 | 429)) | (_, Some(500..=599)) => S3Error::Unavailable { op, key, detail },
            (_, Some(_)) => S3Error::Store { op, key, detail },
            (E::Generic { .. } | E::JoinError { .. }, None) => {
                S3Error::Unavailable { op, key, detail }
            }
            _ => S3Error::Store { op, key, detail },
        }
    }
}

/// What an object_store error says, read once from its chain of causes.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    /// The HTTP status the store answered with, when it answered.
    pub(crate) status: Option<u16>,
    /// The status line's reason (`Forbidden`).
    reason: String,
    /// S3's error code from the answer's XML body (`AccessDenied`, `NoSuchBucket`, …).
    pub(crate) code: Option<String>,
    /// S3's error message from the body.
    message: Option<String>,
    /// The request (`GET http://…`), when object_store names it.
    request: Option<String>,
    /// No answer: the transport's own error (`connection refused`, a timeout).
    transport: Option<String>,
    /// Each cause's own words, outermost first, every cause once (the fallback text).
    causes: Vec<String>,
}

impl Answer {
    /// Read `e`'s chain of causes.
    pub(crate) fn of(e: &object_store::Error) -> Answer {
        let mut texts = Vec::new();
        let mut transport = None;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cur {
            if transport.is_none()
                && let Some(h) = c.downcast_ref::<object_store::client::HttpError>()
            {
                // The deepest cause says it best (`Connection refused (os error 111)`).
                let mut deepest: &(dyn std::error::Error + 'static) = h;
                while let Some(s) = deepest.source() {
                    deepest = s;
                }
                use object_store::client::HttpErrorKind as K;
                let what = match h.kind() {
                    K::Connect => "cannot connect",
                    K::Timeout => "timed out",
                    K::Interrupted => "interrupted",
                    K::Request => "request failed",
                    K::Decode => "unreadable answer",
                    _ => "transport error",
                };
                transport = Some(format!("{what}: {deepest}"));
            }
            texts.push(c.to_string());
            cur = c.source();
        }
        Answer::from_texts(&texts, transport)
    }

    /// Read a chain from its texts (outermost first) and the transport's error, if any.
    fn from_texts(texts: &[String], transport: Option<String>) -> Answer {
        let mut a = Answer {
            transport,
            causes: own_words(texts),
            ..Answer::default()
        };
        for t in texts {
            if let Some(rest) = t.split("status code: ").nth(1) {
                let mut it = rest.splitn(2, ' ');
                a.status = it.next().and_then(|s| s.parse().ok());
                let rest = it.next().unwrap_or("");
                let (reason, body) = rest.split_once(": ").unwrap_or((rest, ""));
                a.reason = reason.trim().to_string();
                a.code = xml_field(body, "Code");
                a.message = xml_field(body, "Message");
            }
            // `Error performing GET http://… in 3ms - …` (not `… list request: …`).
            if a.request.is_none()
                && let Some(rest) = t.strip_prefix("Error performing ")
                && let Some((method, url)) = rest.split_once(' ')
                && method.bytes().all(|b| b.is_ascii_uppercase())
                && url.starts_with("http")
                && let Some((url, _)) = url.split_once(" in ")
            {
                a.request = Some(format!("{method} {url}"));
            }
            if t.contains("incorrectly configured region") {
                a.code
                    .get_or_insert_with(|| "redirect without a location".into());
                a.message
                    .get_or_insert_with(|| "this normally indicates a wrong region".into());
            }
        }
        a
    }

    /// Whether the store refused the region the request was signed for.
    pub(crate) fn wrong_region(&self) -> bool {
        let code = self.code.as_deref().unwrap_or("");
        let message = self.message.as_deref().unwrap_or("").to_lowercase();
        code == "AuthorizationHeaderMalformed"
            || code == "PermanentRedirect"
            || code == "IllegalLocationConstraintException"
            || code == "redirect without a location"
            || (self.status.is_some_and(|s| (300..500).contains(&s)) && message.contains("region"))
    }

    /// The answer in plain words, each cause once: `HTTP 403 Forbidden: AccessDenied: … (GET
    /// http://…)`, or the transport's error, or else every cause's own words.
    pub(crate) fn describe(&self) -> String {
        if let Some(status) = self.status {
            let mut s = format!("HTTP {status}");
            if !self.reason.is_empty() {
                s = format!("{s} {}", self.reason);
            }
            for part in [&self.code, &self.message].into_iter().flatten() {
                if !part.is_empty() && !s.contains(part.as_str()) {
                    s = format!("{s}: {part}");
                }
            }
            if let Some(r) = &self.request {
                s = format!("{s} ({r})");
            }
            return s;
        }
        if let Some(t) = &self.transport {
            return match &self.request {
                Some(r) => format!("no answer: {t} ({r})"),
                None => format!("no answer: {t}"),
            };
        }
        if let (Some(code), Some(message)) = (&self.code, &self.message) {
            return format!("{code}: {message}");
        }
        self.causes.join(": ")
    }
}

/// Each error's own words in a chain whose texts (outermost first) repeat their causes: a text
/// ending with its cause's text (after `": "`, `" - "` or a space) keeps only what comes
/// before; empty and repeated words are left out.
fn own_words(texts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let mut own = t.as_str();
        if let Some(next) = texts.get(i + 1)
            && !next.is_empty()
        {
            if let Some(head) = own.strip_suffix(next.as_str()) {
                own = head.trim_end_matches([' ', ':', '-']);
            } else if own.contains(next.as_str()) {
                // The cause is inside this text, not at its end: this text says it all.
                own = own.trim();
                if !out.iter().any(|o| o == own) {
                    out.push(own.to_string());
                }
                return out;
            }
        }
        let own = own.trim();
        if !own.is_empty() && !out.iter().any(|o| o == own) {
            out.push(own.to_string());
        }
    }
    out
}

/// The text of `<name>…</name>` in an S3 XML error body.
fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&close)?;
    let text = body[start..start + len]
        .trim()
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(text).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_that_repeats_itself_is_told_once() {
        let texts = [
            "Generic S3 error: Error performing list request: Error performing GET http://h/b in 2ms - Server returned non-2xx status code: 400 Bad Request: <Error><Code>AuthorizationHeaderMalformed</Code><Message>unexpected scope: 20260101/wrong/s3/aws4_request</Message></Error>",
            "Error performing list request: Error performing GET http://h/b in 2ms - Server returned non-2xx status code: 400 Bad Request: <Error><Code>AuthorizationHeaderMalformed</Code><Message>unexpected scope: 20260101/wrong/s3/aws4_request</Message></Error>",
            "Error performing GET http://h/b in 2ms - Server returned non-2xx status code: 400 Bad Request: <Error><Code>AuthorizationHeaderMalformed</Code><Message>unexpected scope: 20260101/wrong/s3/aws4_request</Message></Error>",
            "Server returned non-2xx status code: 400 Bad Request: <Error><Code>AuthorizationHeaderMalformed</Code><Message>unexpected scope: 20260101/wrong/s3/aws4_request</Message></Error>",
        ]
        .map(String::from);
        let words = own_words(&texts);
        assert_eq!(words.len(), 4, "{words:?}");
        assert_eq!(words[0], "Generic S3 error");
        assert_eq!(words[2], "Error performing GET http://h/b in 2ms");
        let a = Answer::from_texts(&texts, None);
        assert_eq!(a.status, Some(400));
        assert!(a.wrong_region());
        assert_eq!(
            a.describe(),
            "HTTP 400 Bad Request: AuthorizationHeaderMalformed: unexpected scope: \
             20260101/wrong/s3/aws4_request (GET http://h/b)"
        );
        let refused = Answer::from_texts(
            &["HTTP error: connection refused".into()],
            Some("connect: connection refused".into()),
        );
        assert_eq!(refused.describe(), "no answer: connect: connection refused");
        assert_eq!(
            xml_field(
                "<Message>scope &apos;x&apos; &amp; more</Message>",
                "Message"
            )
            .as_deref(),
            Some("scope 'x' & more")
        );
        assert!(!refused.wrong_region());
    }
}
