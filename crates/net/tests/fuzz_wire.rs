//! Fuzz targets for every decoder of the net crate's wire formats (issue #16 item 3): the
//! control envelope (`/casemesh/control/1` request and response frames), the blob request frames
//! of versions 1/2 ([`BlobRequest`]) and 3 ([`LaneRequest`], single and batched), the blob
//! response header, and a whole lane's worth of back-to-back request frames.
//!
//! Properties, checked on every input:
//! - no decoder panics, whatever the bytes;
//! - no decoder allocates beyond its frame limit, and a decoder allocates in proportion to the
//!   bytes it was actually sent (a 4-byte length prefix claiming 4 MiB must not make the node
//!   allocate 4 MiB before the bytes arrive): peak live bytes of the decoding thread
//!   ≤ 3 × min(input, limit) + [`SLACK`] (the frame buffer grows by doubling, and a decoded
//!   message copies its payload out of it);
//! - what decodes re-encodes to the same bytes (decode(encode(x)) == x for the typed targets).
//!
//! These are [bolero](https://camshaft.github.io/bolero/) targets. Under plain `cargo test`
//! (stable) each runs the corpus in `tests/__fuzz__/<target>/corpus` (if any) plus random inputs
//! for [`BUDGET`] (the whole file adds about 10 s to the suite). To run one longer, set
//! `BOLERO_RANDOM_TEST_TIME_MS` (or `BOLERO_RANDOM_ITERATIONS`), e.g.
//! `BOLERO_RANDOM_TEST_TIME_MS=600000 cargo test -p casemesh-net --test fuzz_wire -- control_request`;
//! coverage-guided with `cargo bolero test -p casemesh-net --test fuzz_wire control_request`
//! (needs `cargo install cargo-bolero` and a nightly toolchain). A failure prints its input and
//! `BOLERO_RANDOM_SEED=…` to replay it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use casemesh_model::ids::BlobHash;
use casemesh_model::measured;
use casemesh_net::{
    ControlRequest, ControlResponse, ControlStatus,
    wire::{
        self, BlobBatchRequest, BlobRequest, BlobResponseHeader, LaneRequest, MAX_CONTROL_REQUEST,
        MAX_CONTROL_RESPONSE, MAX_GRANT_LEN, MAX_KIND_LEN, MAX_REASON_LEN, MAX_V3_REQUEST,
    },
};
use futures::executor::block_on;

/// Random-input budget of each target under `cargo test`.
const BUDGET: Duration = Duration::from_secs(2);
/// Allowance for fixed-size buffers (the `io::Error` text, small vectors) on top of the
/// proportional bound.
const SLACK: u64 = 64 * 1024;
/// Longest random input (bolero's default is 4 KiB): long enough for grants and batches.
const MAX_LEN: usize = 80 * 1024;

/// The allocation bound: in proportion to what was sent, and never beyond the frame limit.
fn assert_bounded(what: &str, peak: u64, input: usize, limit: usize) {
    let bound = 3 * input.min(limit + 4) as u64 + SLACK;
    assert!(
        peak <= bound,
        "{what}: decoding {input} bytes held {peak} bytes at peak (bound {bound}, frame limit {limit})"
    );
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn control_request() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            let (res, peak) = measured!(|| {
                let mut io = input;
                let body = block_on(wire::read_frame(&mut io, MAX_CONTROL_REQUEST))?;
                ControlRequest::decode(&body).map(|r| (r, body))
            });
            assert_bounded("control request", peak, input.len(), MAX_CONTROL_REQUEST);
            if let Ok((req, body)) = res {
                assert!(req.kind.len() <= MAX_KIND_LEN);
                assert_eq!(req.encode().unwrap(), body, "re-encoding differs");
            }
        });
}

#[test]
fn control_response() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            let (res, peak) = measured!(|| {
                let mut io = input;
                let body = block_on(wire::read_frame(&mut io, MAX_CONTROL_RESPONSE))?;
                ControlResponse::decode(&body).map(|r| (r, body))
            });
            assert_bounded("control response", peak, input.len(), MAX_CONTROL_RESPONSE);
            if let Ok((res, body)) = res {
                if let ControlStatus::Rejected(r) | ControlStatus::Failed(r) = &res.status {
                    assert!(r.len() <= MAX_REASON_LEN);
                }
                assert_eq!(res.encode(), body, "re-encoding differs");
            }
        });
}

#[test]
fn control_roundtrip() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<([u8; 16], String, Vec<u8>, u8, String)>()
        .for_each(|(msg_id, kind, payload, status, reason)| {
            let req = ControlRequest {
                msg_id: *msg_id,
                kind: kind.clone(),
                payload: payload.clone(),
            };
            match req.encode() {
                Ok(body) => {
                    let framed = frame(&body);
                    let back = block_on(wire::read_frame(&mut &framed[..], MAX_CONTROL_REQUEST))
                        .and_then(|b| ControlRequest::decode(&b))
                        .unwrap();
                    assert_eq!(back, req);
                }
                Err(_) => assert!(kind.len() > MAX_KIND_LEN),
            }
            let status = match status % 5 {
                0 => ControlStatus::Ok,
                1 => ControlStatus::Rejected(reason.clone()),
                2 => ControlStatus::UnknownKind,
                3 => ControlStatus::Busy,
                _ => ControlStatus::Failed(reason.clone()),
            };
            let res = ControlResponse {
                msg_id: *msg_id,
                status,
                payload: payload.clone(),
            };
            let back = ControlResponse::decode(&res.encode()).unwrap();
            if reason.len() <= MAX_REASON_LEN {
                assert_eq!(back, res);
            } else {
                // Long reasons are cut at a char boundary, never split inside one.
                assert_eq!(back.msg_id, res.msg_id);
                assert_eq!(back.payload, res.payload);
            }
        });
}

#[test]
fn blob_request_v2() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            let (res, peak) = measured!(|| {
                let mut io = input;
                let req = block_on(BlobRequest::read(&mut io));
                (req, input.len() - io.len())
            });
            assert_bounded("blob request", peak, input.len(), 40 + MAX_GRANT_LEN);
            if let (Ok(req), used) = res {
                assert!(req.grant.len() <= MAX_GRANT_LEN);
                assert_eq!(req.encode().unwrap(), &input[..used], "re-encoding differs");
            }
        });
}

#[test]
fn lane_request_v3() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            let (res, peak) = measured!(|| {
                let mut io = input;
                let req = block_on(LaneRequest::read(&mut io));
                (req, input.len() - io.len())
            });
            assert_bounded("lane request", peak, input.len(), MAX_V3_REQUEST);
            if let (Ok(req), used) = res {
                let again = match &req {
                    LaneRequest::One(one) => LaneRequest::One(one.clone()).encode().unwrap(),
                    // Decoded as it came, valid or not (the server answers each hash).
                    LaneRequest::Batch(batch) => batch.encode_unchecked().unwrap(),
                };
                assert_eq!(again, &input[..used], "re-encoding differs");
            }
        });
}

#[test]
fn lane_request_roundtrip() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<(Vec<[u8; 32]>, u64, Vec<u8>, bool)>()
        .for_each(|(hashes, offset, grant, batch)| {
            let req = if *batch {
                LaneRequest::Batch(BlobBatchRequest {
                    hashes: hashes.iter().map(|h| BlobHash(*h)).collect(),
                    grant: grant.clone(),
                })
            } else {
                LaneRequest::One(BlobRequest {
                    hash: BlobHash(hashes.first().copied().unwrap_or_default()),
                    offset: *offset,
                    grant: grant.clone(),
                })
            };
            let Ok(bytes) = req.encode() else {
                // Only invalid batches (empty, too many, a hash twice) and oversize grants.
                return;
            };
            let back = block_on(LaneRequest::read(&mut &bytes[..])).unwrap();
            assert_eq!(back, req);
        });
}

#[test]
fn blob_response_header() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            let (res, peak) = measured!(|| {
                let mut io = input;
                let header = block_on(BlobResponseHeader::read(&mut io));
                (header, input.len() - io.len())
            });
            assert_bounded("response header", peak, input.len(), 4 + MAX_REASON_LEN);
            if let (Ok(header), used) = res {
                assert_eq!(header.encode(), &input[..used], "re-encoding differs");
                assert_eq!(
                    BlobResponseHeader::decode(&header.encode()).unwrap(),
                    header
                );
            }
        });
}

/// A lane as the server reads it: request frames back to back until one fails, as
/// `serve_lane` does; the memory held never grows with the number of frames.
#[test]
fn lane_stream() {
    bolero::check!()
        .with_test_time(BUDGET)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            let ((), peak) = measured!(|| {
                let mut io = input;
                let mut n = 0usize;
                while block_on(LaneRequest::read(&mut io)).is_ok() {
                    n += 1;
                    assert!(n <= input.len() / 5, "more requests than frames");
                }
            });
            assert_bounded("lane stream", peak, input.len(), MAX_V3_REQUEST);
        });
}

/// The case the proportional bound exists for: a length prefix that claims the whole limit,
/// followed by nothing, allocates almost nothing.
#[test]
fn a_claimed_length_allocates_only_what_arrives() {
    for limit in [MAX_CONTROL_REQUEST, MAX_V3_REQUEST] {
        let claim = (limit as u32).to_be_bytes();
        let (res, peak) = measured!(|| block_on(wire::read_frame(&mut &claim[..], limit)));
        assert!(res.is_err());
        assert_bounded("claimed length", peak, claim.len(), limit);
    }
}
