//! The download-link server and the admin endpoint as HTTP servers (issue #16 items 2 and 4),
//! against real nodes with a real HTTP client and raw TCP:
//!
//! - every kind of Range request RFC 9110 allows (suffix larger than the package, open range,
//!   several ranges as `multipart/byteranges`, unsatisfiable → 416 `bytes */SIZE`, If-Range with
//!   the ETag and with Last-Modified, HEAD);
//! - wrong token guesses never block a valid link; behind a trusted proxy clients are told apart
//!   by `X-Forwarded-For`, IPv6 by /64;
//! - a download of many range requests is audited once and counted once;
//! - a client that sends half a request line is dropped after the header timeout, and SIGTERM
//!   does not wait for it beyond the shutdown grace period.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    LinkStatus, LinkView, TestNode, add_random_evidence, audit_trail, create_case, plain_http,
    response_header, set_config_key,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A node with a case holding one 200 kB item, and a ready ZIP link to it.
struct Fixture {
    node: TestNode,
    case: String,
    link: LinkView,
    _work: tempfile::TempDir,
}

fn fixture(node: TestNode) -> Fixture {
    let case = create_case(&node, "2026-CR-0016");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("clip.bin");
    add_random_evidence(&node, &case, &file, 200_000, 16, &[]);
    let link: LinkView = node.cli_typed(["link", "create", &case, "--format", "zip", "--wait"]);
    assert_eq!(link.status, LinkStatus::Ready, "{link:#?}");
    Fixture {
        node,
        case,
        link,
        _work: work,
    }
}

impl Fixture {
    /// The link's URL on the node's link server as it is bound now (a restart may move it).
    fn url(&self) -> String {
        let url = self.link.url.as_deref().unwrap();
        let path = &url[url.find("/l/").unwrap()..];
        format!("http://{}{path}", self.node.link_addr())
    }
    fn download_url(&self) -> String {
        format!("{}/download", self.url())
    }
    fn link_id(&self) -> String {
        self.link.id.to_string()
    }
    /// `link.download` entries of the case's audit trail.
    fn download_audits(&self) -> Vec<String> {
        audit_trail(&self.node, &self.case)
            .entries
            .into_iter()
            .filter(|e| e.action == "link.download")
            .map(|e| e.details)
            .collect()
    }
    fn downloads(&self) -> u64 {
        casemesh_tests::link_show(&self.node, &self.link_id()).downloads
    }
}

fn get_range(url: &str, range: &str) -> reqwest::blocking::Response {
    plain_http().get(url).header("Range", range).send().unwrap()
}

#[test]
fn range_requests_of_every_kind_follow_rfc_9110() {
    let f = fixture(TestNode::start("http-ranges"));
    let dl = f.download_url();
    let full = plain_http().get(&dl).send().unwrap();
    assert_eq!(full.status().as_u16(), 200);
    let etag = response_header(&full, "etag");
    let last_modified = response_header(&full, "last-modified");
    assert!(
        etag.starts_with('"') && etag.len() > 2,
        "strong ETag: {etag:?}"
    );
    assert!(!last_modified.is_empty());
    assert_eq!(response_header(&full, "accept-ranges"), "bytes");
    let full = full.bytes().unwrap().to_vec();
    let len = full.len();

    // A suffix larger than the package is the whole package, as a 206.
    let resp = get_range(&dl, &format!("bytes=-{}", len * 2));
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        response_header(&resp, "content-range"),
        format!("bytes 0-{}/{len}", len - 1)
    );
    assert_eq!(resp.bytes().unwrap().to_vec(), full);

    // An open range; a last position past the end is cut at the end.
    let resp = get_range(&dl, "bytes=100-");
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        response_header(&resp, "content-range"),
        format!("bytes 100-{}/{len}", len - 1)
    );
    assert_eq!(resp.bytes().unwrap().to_vec(), full[100..]);
    let resp = get_range(&dl, &format!("bytes={}-{}", len - 5, len + 100));
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().unwrap().to_vec(), full[len - 5..]);

    // Several ranges: multipart/byteranges, parts in the order asked.
    let resp = get_range(&dl, "bytes=500-509, 0-9");
    assert_eq!(resp.status().as_u16(), 206);
    let ctype = response_header(&resp, "content-type");
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"))
        .to_owned();
    let length: usize = response_header(&resp, "content-length").parse().unwrap();
    let body = resp.bytes().unwrap().to_vec();
    assert_eq!(body.len(), length);
    let mut expected = Vec::new();
    for (i, (a, b)) in [(500usize, 509usize), (0, 9)].into_iter().enumerate() {
        if i > 0 {
            expected.extend_from_slice(b"\r\n");
        }
        expected.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/zip\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n"
            )
            .as_bytes(),
        );
        expected.extend_from_slice(&full[a..=b]);
    }
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(body, expected);

    // Overlapping ranges are coalesced into one part.
    let resp = get_range(&dl, "bytes=0-9,5-19");
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        response_header(&resp, "content-range"),
        format!("bytes 0-19/{len}")
    );

    // Nothing satisfiable: 416 with the size.
    let resp = get_range(&dl, &format!("bytes={len}-"));
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(
        response_header(&resp, "content-range"),
        format!("bytes */{len}")
    );
    // An invalid range set is ignored: the whole package.
    let resp = get_range(&dl, "bytes=9-3");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().unwrap().len(), len);

    // If-Range: the current ETag honours the range; another one gets the whole package.
    let with_if_range = |value: &str| {
        plain_http()
            .get(&dl)
            .header("Range", "bytes=0-9")
            .header("If-Range", value)
            .send()
            .unwrap()
    };
    let resp = with_if_range(&etag);
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().unwrap().to_vec(), full[..10]);
    let resp = with_if_range("\"an-older-version\"");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().unwrap().len(), len);
    assert_eq!(with_if_range(&format!("W/{etag}")).status().as_u16(), 200);
    // ... and so does the Last-Modified date (strong once a second old), but not another date.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(with_if_range(&last_modified).status().as_u16(), 206);
    assert_eq!(
        with_if_range("Sun, 06 Nov 1994 08:49:37 GMT")
            .status()
            .as_u16(),
        200
    );

    // HEAD ignores Range: the whole package's headers, no body.
    let resp = plain_http()
        .head(&dl)
        .header("Range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(response_header(&resp, "content-length"), len.to_string());
    assert_eq!(response_header(&resp, "etag"), etag);
    assert!(resp.bytes().unwrap().is_empty());
}

#[test]
fn a_download_of_many_range_requests_is_audited_and_counted_once() {
    let f = fixture(TestNode::start("http-audit-once"));
    let dl = f.download_url();
    assert!(f.download_audits().is_empty());
    for i in 0..20 {
        let resp = get_range(&dl, &format!("bytes={i}-{i}"));
        assert_eq!(resp.status().as_u16(), 206);
        assert_eq!(resp.bytes().unwrap().len(), 1);
    }
    // HEAD and a refused range are not downloads.
    plain_http().head(&dl).send().unwrap();
    assert_eq!(get_range(&dl, "bytes=99999999-").status().as_u16(), 416);
    let audits = f.download_audits();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert!(audits[0].contains("range=bytes=0-0"), "{audits:?}");
    assert!(audits[0].contains("client=127.0.0.1"), "{audits:?}");
    assert_eq!(f.downloads(), 1);
    // The rest of the same download, in full, is still the same download.
    assert_eq!(plain_http().get(&dl).send().unwrap().status().as_u16(), 200);
    assert_eq!(f.download_audits().len(), 1);
    assert_eq!(f.downloads(), 1);
}

/// `n` wrong-token requests to the link server at `base`, with an optional `X-Forwarded-For`.
fn guesses(base: &str, n: usize, forwarded: Option<&str>, seed: usize) -> Vec<u16> {
    (0..n)
        .map(|i| {
            let mut req = plain_http().get(format!("{base}/l/{:064x}/download", seed * 1000 + i));
            if let Some(f) = forwarded {
                req = req.header("X-Forwarded-For", f);
            }
            req.send().unwrap().status().as_u16()
        })
        .collect()
}

#[test]
fn wrong_guesses_never_block_a_valid_link() {
    let f = fixture(TestNode::start("http-guess"));
    let base = format!("http://{}", f.node.link_addr());
    let statuses = guesses(&base, 12, None, 1);
    assert!(statuses[..10].iter().all(|s| *s == 404), "{statuses:?}");
    assert_eq!(statuses[10..], [429, 429], "{statuses:?}");
    let resp = plain_http()
        .get(format!("{base}/l/{:064x}", 7))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // The same address still gets its valid link: landing page and package.
    assert_eq!(
        plain_http().get(f.url()).send().unwrap().status().as_u16(),
        200
    );
    let resp = plain_http().get(f.download_url()).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(!resp.bytes().unwrap().is_empty());
    // Paths that are not token routes are plain 404s.
    assert_eq!(
        plain_http()
            .get(format!("{base}/nothing"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn behind_a_trusted_proxy_clients_are_told_apart_by_forwarded_for() {
    let mut f = fixture(TestNode::start("http-proxy"));
    // Untrusted peer: X-Forwarded-For is ignored, so rotating it does not escape the limit.
    let base = format!("http://{}", f.node.link_addr());
    let rotating: Vec<u16> = (0..11)
        .map(|i| guesses(&base, 1, Some(&format!("198.51.100.{i}")), 10 + i)[0])
        .collect();
    assert_eq!(rotating[10], 429, "{rotating:?}");

    set_config_key(
        f.node.data_dir(),
        "link",
        "trusted_proxies",
        "[\"127.0.0.0/8\"]",
    );
    f.node.restart();
    let base = format!("http://{}", f.node.link_addr());
    let a = guesses(&base, 11, Some("203.0.113.1"), 100);
    assert_eq!(a[10], 429, "{a:?}");
    // Another client behind the same proxy is not locked out.
    assert_eq!(guesses(&base, 1, Some("203.0.113.2"), 200), [404]);
    // A client cannot pose as another by prepending addresses: the rightmost untrusted counts.
    assert_eq!(
        guesses(&base, 1, Some("203.0.113.2, 203.0.113.1"), 300),
        [429]
    );
    // IPv6: one /64 is one client.
    let v6 = guesses(&base, 10, Some("2001:db8:1:2::1"), 400);
    assert!(v6.iter().all(|s| *s == 404), "{v6:?}");
    assert_eq!(guesses(&base, 1, Some("2001:db8:1:2:ffff::9"), 500), [429]);
    assert_eq!(guesses(&base, 1, Some("2001:db8:1:3::1"), 600), [404]);
    // The audit names the forwarded client.
    let resp = plain_http()
        .get(f.download_url())
        .header("X-Forwarded-For", "192.0.2.77")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        f.download_audits()
            .iter()
            .any(|d| d.contains("client=192.0.2.77")),
        "{:?}",
        f.download_audits()
    );
}

/// Connect to `addr` and send the start of a request line, then nothing more.
fn half_open(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /l/").unwrap();
    stream.flush().unwrap();
    stream
}

/// Whether the server closed `stream` within `limit` (EOF or reset; a response counts too).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_half_open_client_is_dropped_after_the_header_timeout() {
    let mut node = TestNode::start("http-header-timeout");
    set_config_key(node.data_dir(), "http", "header_read_timeout_secs", "1");
    node.restart();
    for addr in [node.link_addr(), node.admin_addr().to_owned()] {
        let mut stream = half_open(&addr);
        let start = Instant::now();
        assert!(
            closed_within(&mut stream, Duration::from_secs(10)),
            "{addr}: a half-open client is still connected after 10 s"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
    // Complete requests are unaffected.
    assert_eq!(
        plain_http()
            .get(node.url("/healthz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn sigterm_does_not_wait_for_a_half_open_client_beyond_the_grace_period() {
    let mut node = TestNode::start("http-shutdown");
    // A header timeout far longer than the grace period: only the deadline can end these.
    set_config_key(node.data_dir(), "http", "header_read_timeout_secs", "600");
    set_config_key(node.data_dir(), "http", "shutdown_grace_secs", "2");
    node.restart();
    let _link_client = half_open(&node.link_addr());
    let _admin_client = half_open(node.admin_addr());
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let status = node.stop().expect("the node was running");
    let took = start.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(8),
        "SIGTERM took {took:?} with half-open clients (grace 2 s)"
    );
}
