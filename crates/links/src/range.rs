//! Which bytes of a package a `GET` is answered with: the Range rules of RFC 9110 §14 and
//! If-Range (§13.1.5), as pure functions (the HTTP adapter sends what they decide).
//!
//! | request | answer |
//! |---|---|
//! | no `Range`, a unit other than `bytes`, a syntactically invalid set (e.g. `bytes=5-3`), more than [`MAX_RANGES`] ranges, a header longer than [`MAX_HEADER_LEN`] | **200**, the whole package (RFC 9110 §14.2 lets a server ignore these) |
//! | `If-Range` that does not match the current validator | **200**, the whole package |
//! | `bytes=A-B`, `bytes=A-`, `bytes=-N` | **206** with `Content-Range`; `B` past the end is cut at the end; a suffix `N` larger than the package is the whole package |
//! | several satisfiable ranges | **206** `multipart/byteranges` in the order asked; overlapping or adjacent ranges are coalesced (then in ascending order); a single range left → a single part |
//! | no satisfiable range (every start at or past the end, `bytes=-0`) | **416** with `Content-Range: bytes */SIZE` |
//!
//! Range syntax is parsed by `http-range-header`; its `validate` is not used because it refuses
//! what RFC 9110 allows (a suffix longer than the file, overlapping ranges).

use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime};

/// Most ranges a request may name; more are answered with the whole package (RFC 9110 §14.2
/// allows ignoring a Range that asks for many small ranges).
pub const MAX_RANGES: usize = 16;
/// Longest `Range` value considered; a longer one is ignored.
pub const MAX_HEADER_LEN: usize = 1024;

/// What to answer a `GET` with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the whole package.
    Full,
    /// 206 with these byte ranges (inclusive, within the package, never overlapping or
    /// adjacent): one → `Content-Range`; several → `multipart/byteranges`.
    Partial(Vec<RangeInclusive<u64>>),
    /// 416 with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

/// The answer to a `GET` with this `Range` value (`None`: no header) for a package of `size`
/// bytes. Evaluate [`if_range_holds`] first: when it is false, the answer is [`Answer::Full`].
pub fn resolve(range: Option<&str>, size: u64) -> Answer {
    let Some(range) = range else {
        return Answer::Full;
    };
    if range.len() > MAX_HEADER_LEN {
        return Answer::Full;
    }
    let Some((unit, set)) = range.split_once('=') else {
        return Answer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Answer::Full;
    }
    // A list may hold empty elements and optional whitespace around commas (RFC 9110 §5.6.1);
    // `-0` is a valid but unsatisfiable suffix that the parser refuses, so it is taken out here.
    let specs: Vec<&str> = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
        .collect();
    if specs.is_empty() || specs.len() > MAX_RANGES {
        return Answer::Full;
    }
    let zero_suffix = |s: &str| {
        s.strip_prefix('-')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b == b'0'))
    };
    let specs: Vec<&str> = specs.into_iter().filter(|s| !zero_suffix(s)).collect();
    if specs.is_empty() {
        return Answer::Unsatisfiable;
    }
    let Ok(parsed) = http_range_header::parse_range_header(&format!("bytes={}", specs.join(",")))
    else {
        return Answer::Full;
    };
    use http_range_header::{EndPosition, StartPosition};
    let mut ranges = Vec::with_capacity(parsed.ranges.len());
    for r in &parsed.ranges {
        let (first, last) = match (r.start, r.end) {
            (StartPosition::Index(first), EndPosition::Index(last)) => {
                if last < first {
                    // An invalid byte-range-spec makes the whole set invalid: ignore it.
                    return Answer::Full;
                }
                (first, last)
            }
            (StartPosition::Index(first), EndPosition::LastByte) => (first, u64::MAX),
            (StartPosition::FromLast(n), _) => (size.saturating_sub(n), u64::MAX),
        };
        if first >= size {
            continue; // unsatisfiable on its own; the others may still be served
        }
        ranges.push(first..=last.min(size - 1));
    }
    if ranges.is_empty() {
        return Answer::Unsatisfiable;
    }
    Answer::Partial(coalesce(ranges))
}

/// The ranges as asked when none overlap or touch; else sorted and merged (RFC 9110 §14.6 lets a
/// server coalesce regardless of the order asked).
fn coalesce(mut ranges: Vec<RangeInclusive<u64>>) -> Vec<RangeInclusive<u64>> {
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| *r.start());
    let touching = sorted
        .windows(2)
        .any(|w| *w[1].start() <= w[0].end().saturating_add(1));
    if !touching {
        return ranges;
    }
    ranges.clear();
    for r in sorted {
        match ranges.last_mut() {
            Some(last) if *r.start() <= last.end().saturating_add(1) => {
                *last = *last.start()..=(*last.end()).max(*r.end());
            }
            _ => ranges.push(r),
        }
    }
    ranges
}

/// Whether a `Range` is to be honoured given the request's `If-Range` value (RFC 9110
/// §13.1.5): no `If-Range` → yes; an entity tag → only if it is strong and equal to `etag` (the
/// current strong tag, quotes included); an HTTP-date → only if it equals `last_modified` to the
/// second and that is a strong validator (at least a second before `now`, §8.8.2.2); anything else
/// → no (the whole package is sent).
pub fn if_range_holds(
    if_range: Option<&str>,
    etag: &str,
    last_modified: Option<SystemTime>,
    now: SystemTime,
) -> bool {
    let Some(value) = if_range.map(str::trim) else {
        return true;
    };
    if value.starts_with("W/") {
        return false;
    }
    if value.starts_with('"') {
        return value == etag;
    }
    let (Ok(date), Some(modified)) = (httpdate::parse_http_date(value), last_modified) else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    };
    let strong = modified + Duration::from_secs(1) <= now;
    strong && secs(date) == secs(modified)
}

/// One part of a `multipart/byteranges` body: its delimiter and headers, then the bytes of
/// `range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Delimiter line and part headers, up to and including the empty line.
    pub head: String,
    /// The package bytes of this part.
    pub range: RangeInclusive<u64>,
}

/// A `multipart/byteranges` body (RFC 9110 §14.6): the parts, the closing delimiter and the
/// body's exact length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The parts in order.
    pub parts: Vec<Part>,
    /// The closing delimiter.
    pub tail: String,
    /// Content-Length of the whole body.
    pub len: u64,
}

/// Lay out a `multipart/byteranges` body over `ranges` of a package of `size` bytes whose own
/// type is `content_type`, delimited by `boundary`.
pub fn multipart(
    ranges: &[RangeInclusive<u64>],
    size: u64,
    content_type: &str,
    boundary: &str,
) -> Multipart {
    let parts: Vec<Part> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| Part {
            head: format!(
                "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
                if i == 0 { "" } else { "\r\n" },
                r.start(),
                r.end()
            ),
            range: r.clone(),
        })
        .collect();
    let tail = format!("\r\n--{boundary}--\r\n");
    let len = parts
        .iter()
        .map(|p| p.head.len() as u64 + (p.range.end() - p.range.start() + 1))
        .sum::<u64>()
        + tail.len() as u64;
    Multipart { parts, tail, len }
}

/// A fresh multipart boundary: 32 random hex characters (never found in a package by chance).
pub fn new_boundary() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: a boundary from the clock is still unlikely to occur in the data.
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = t.to_le_bytes();
    }
    format!("casemesh-{}", hex::encode(bytes))
}

/// An HTTP-date (`Last-Modified`), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(v: &[(u64, u64)]) -> Answer {
        Answer::Partial(v.iter().map(|(a, b)| *a..=*b).collect())
    }

    #[test]
    fn single_ranges_of_every_kind() {
        assert_eq!(resolve(None, 100), Answer::Full);
        assert_eq!(resolve(Some("bytes=0-9"), 100), partial(&[(0, 9)]));
        assert_eq!(resolve(Some("bytes=90-"), 100), partial(&[(90, 99)]));
        assert_eq!(resolve(Some("bytes=95-1000"), 100), partial(&[(95, 99)]));
        assert_eq!(resolve(Some("bytes=-10"), 100), partial(&[(90, 99)]));
        // A suffix larger than the file is the whole file (RFC 9110 §14.1.2).
        assert_eq!(resolve(Some("bytes=-500"), 100), partial(&[(0, 99)]));
        assert_eq!(resolve(Some("Bytes=0-0"), 100), partial(&[(0, 0)]));
        assert_eq!(resolve(Some("bytes=99-99"), 100), partial(&[(99, 99)]));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(resolve(Some("bytes=100-"), 100), Answer::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=100-200"), 100), Answer::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 100), Answer::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-1"), 0), Answer::Unsatisfiable);
        assert_eq!(
            resolve(Some("bytes=100-, 200-"), 100),
            Answer::Unsatisfiable
        );
        // Invalid or unknown: ignored, the whole package.
        assert_eq!(resolve(Some("bytes=5-3"), 100), Answer::Full);
        assert_eq!(resolve(Some("items=0-3"), 100), Answer::Full);
        assert_eq!(resolve(Some("bytes=abc"), 100), Answer::Full);
        assert_eq!(resolve(Some("bytes="), 100), Answer::Full);
        assert_eq!(resolve(Some("0-3"), 100), Answer::Full);
        let many = format!(
            "bytes={}",
            (0..17)
                .map(|i| format!("{}-{}", i * 2, i * 2))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(resolve(Some(&many), 100), Answer::Full);
    }

    #[test]
    fn several_ranges_keep_their_order_unless_they_touch() {
        assert_eq!(
            resolve(Some("bytes=50-59, 0-9"), 100),
            partial(&[(50, 59), (0, 9)])
        );
        // Unsatisfiable members are dropped, the rest served.
        assert_eq!(resolve(Some("bytes=0-9,,500-600"), 100), partial(&[(0, 9)]));
        // Overlapping or adjacent: merged, ascending.
        assert_eq!(
            resolve(Some("bytes=50-59,0-9,5-20,21-30"), 100),
            partial(&[(0, 30), (50, 59)])
        );
        assert_eq!(resolve(Some("bytes=0-,-10"), 100), partial(&[(0, 99)]));
        // `-0` among others is only one unsatisfiable member.
        assert_eq!(resolve(Some("bytes=-0,0-1"), 100), partial(&[(0, 1)]));
    }

    #[test]
    fn if_range_matches_only_strong_current_validators() {
        let etag = "\"abc\"";
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let modified = now - Duration::from_secs(60);
        let date = httpdate::fmt_http_date(modified);
        assert!(if_range_holds(None, etag, Some(modified), now));
        assert!(if_range_holds(Some("\"abc\""), etag, Some(modified), now));
        assert!(!if_range_holds(Some("\"old\""), etag, Some(modified), now));
        assert!(!if_range_holds(
            Some("W/\"abc\""),
            etag,
            Some(modified),
            now
        ));
        assert!(if_range_holds(Some(&date), etag, Some(modified), now));
        let earlier = httpdate::fmt_http_date(modified - Duration::from_secs(5));
        assert!(!if_range_holds(Some(&earlier), etag, Some(modified), now));
        // A modification time within a second of now is weak.
        assert!(!if_range_holds(Some(&date), etag, Some(modified), modified));
        assert!(!if_range_holds(
            Some("yesterday"),
            etag,
            Some(modified),
            now
        ));
    }

    #[test]
    fn multipart_length_is_exact() {
        let m = multipart(&[0..=9, 50..=59], 100, "application/zip", "B");
        assert_eq!(
            m.parts[0].head,
            "--B\r\nContent-Type: application/zip\r\nContent-Range: bytes 0-9/100\r\n\r\n"
        );
        assert!(m.parts[1].head.starts_with("\r\n--B\r\n"));
        assert_eq!(m.tail, "\r\n--B--\r\n");
        let body_len: usize =
            m.parts.iter().map(|p| p.head.len() + 10).sum::<usize>() + m.tail.len();
        assert_eq!(m.len, body_len as u64);
    }
}
