//! Wire formats: golden bytes pin the encodings of `docs/protocol.md`; proptests check that
//! every codec roundtrips and that no input makes a decoder panic.

#![allow(clippy::unwrap_used)]

use casemesh_model::ids::BlobHash;
use casemesh_net::{
    ControlRequest, ControlResponse, ControlStatus, Refusal, RefusalCode,
    wire::{self, BlobBatchRequest, BlobRequest, BlobResponseHeader, LaneRequest},
};
use proptest::prelude::*;

fn hexdump(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[test]
fn blob_request_golden_bytes() {
    let req = BlobRequest {
        hash: BlobHash([0xab; 32]),
        offset: 0x0102_0304_0506_0708,
        grant: b"GR".to_vec(),
    };
    let bytes = req.encode().unwrap();
    assert_eq!(
        hexdump(&bytes),
        concat!(
            "0000002a",                                                         // body length 42
            "abababababababababababababababababababababababababababababababab", // hash
            "0102030405060708",                                                 // offset
            "4752",                                                             // grant "GR"
        )
    );
    let back = futures::executor::block_on(BlobRequest::read(&mut &bytes[..])).unwrap();
    assert_eq!(back, req);
}

#[test]
fn blob_response_header_golden_bytes() {
    let ok = BlobResponseHeader::Ok {
        size: 1 << 20,
        start: 16384,
        chunk_log: wire::CHUNK_LOG,
    };
    assert_eq!(
        hexdump(&ok.encode()),
        "00".to_owned() + "0000000000100000" + "0000000000004000" + "04"
    );
    let refused = BlobResponseHeader::Refused(Refusal::new(RefusalCode::Forbidden, "no"));
    assert_eq!(
        hexdump(&refused.encode()),
        "0102".to_owned() + "0002" + "6e6f"
    );
}

#[test]
fn blob_protocol_ids_are_pinned() {
    use wire::BlobProtocolVersion::{V1, V2, V3};
    assert_eq!(wire::BLOB_PROTOCOL, "/casemesh/blob/2");
    assert_eq!(wire::BLOB_PROTOCOL_V1, "/casemesh/blob/1");
    assert_eq!(wire::BLOB_PROTOCOL_V3, "/casemesh/blob/3");
    assert_eq!(V3.protocol_id(), wire::BLOB_PROTOCOL_V3);
    assert_eq!(V2.protocol_id(), wire::BLOB_PROTOCOL);
    assert_eq!(V1.protocol_id(), wire::BLOB_PROTOCOL_V1);
    assert_eq!(wire::BlobProtocolVersion::ALL, [V3, V2, V1]);
    for v in wire::BlobProtocolVersion::ALL {
        assert_eq!(
            wire::BlobProtocolVersion::from_protocol_id(v.protocol_id()),
            Some(v)
        );
    }
    assert!(V3.batches() && !V2.batches() && !V1.batches());
    assert_eq!(
        wire::BlobProtocolVersion::from_protocol_id("/casemesh/blob/4"),
        None
    );
}

#[test]
fn blob_v3_request_golden_bytes() {
    let one = LaneRequest::One(BlobRequest {
        hash: BlobHash([0xab; 32]),
        offset: 0x10,
        grant: b"g".to_vec(),
    });
    assert_eq!(
        hexdump(&one.encode().unwrap()),
        "0000002a".to_owned() + "00" + &"ab".repeat(32) + "0000000000000010" + "67"
    );
    let batch = LaneRequest::Batch(BlobBatchRequest {
        hashes: vec![BlobHash([0x01; 32]), BlobHash([0x02; 32])],
        grant: b"gr".to_vec(),
    });
    assert_eq!(
        hexdump(&batch.encode().unwrap()),
        "00000045".to_owned() + "01" + "0002" + &"01".repeat(32) + &"02".repeat(32) + "6772"
    );
    for req in [one, batch] {
        let bytes = req.encode().unwrap();
        let back = futures::executor::block_on(LaneRequest::read(&mut &bytes[..])).unwrap();
        assert_eq!(back, req);
    }
}

/// Hostile version 3 requests: an unknown kind or an oversize frame is refused while reading
/// (before allocating); a well-framed batch with no hash, too many or a hash named twice is
/// read (so each of its hashes can be answered) and refused by `check`.
#[test]
fn hostile_v3_requests_are_refused() {
    let read = |bytes: &[u8]| futures::executor::block_on(LaneRequest::read(&mut &bytes[..]));
    let unknown = [0, 0, 0, 1, 7];
    assert_eq!(
        read(&unknown).unwrap_err().kind(),
        std::io::ErrorKind::InvalidData
    );
    let oversize = ((wire::MAX_V3_REQUEST + 1) as u32).to_be_bytes();
    assert_eq!(
        read(&oversize).unwrap_err().kind(),
        std::io::ErrorKind::InvalidData
    );
    let truncated = [0, 0, 0, 4, 1, 0, 2, 0xaa];
    assert!(read(&truncated).is_err());
    let h = |i: u8| BlobHash([i; 32]);
    let batches = [
        vec![],
        (0..=wire::MAX_BATCH_HASHES as u32)
            .map(|i| BlobHash::of(&i.to_le_bytes()))
            .collect(),
        vec![h(1), h(2), h(1)],
    ];
    for hashes in batches {
        let batch = BlobBatchRequest {
            hashes,
            grant: b"g".to_vec(),
        };
        assert!(batch.check().is_err());
        assert!(batch.encode().is_err(), "an invalid batch is not sent");
        let bytes = batch.encode_unchecked().unwrap();
        match read(&bytes).unwrap() {
            LaneRequest::Batch(b) => assert!(b.check().is_err()),
            other => panic!("{other:?}"),
        }
    }
}

/// Version 2 carries the version 1 frames back to back on one stream: each frame is read
/// exactly, leaving the next one intact.
#[test]
fn blob_v2_lane_frames_follow_each_other() {
    let first = BlobRequest {
        hash: BlobHash([1; 32]),
        offset: 0,
        grant: b"GR".to_vec(),
    };
    let second = BlobRequest {
        hash: BlobHash([2; 32]),
        offset: 16384,
        grant: vec![],
    };
    let mut requests = first.encode().unwrap();
    requests.extend(second.encode().unwrap());
    assert_eq!(
        hexdump(&requests[42 + 4..]),
        "00000028".to_owned() + &"02".repeat(32) + "0000000000004000"
    );
    let mut r = &requests[..];
    assert_eq!(
        futures::executor::block_on(BlobRequest::read(&mut r)).unwrap(),
        first
    );
    assert_eq!(
        futures::executor::block_on(BlobRequest::read(&mut r)).unwrap(),
        second
    );
    assert!(r.is_empty());

    let refused = BlobResponseHeader::Refused(Refusal::new(RefusalCode::NotFound, "gone"));
    let ok = BlobResponseHeader::Ok {
        size: 5,
        start: 0,
        chunk_log: wire::CHUNK_LOG,
    };
    let mut answers = refused.encode();
    answers.extend(ok.encode());
    answers.extend(b"hello"); // a 5-byte blob is one leaf: its bytes, nothing else
    let mut r = &answers[..];
    let read = |r: &mut &[u8]| futures::executor::block_on(BlobResponseHeader::read(r)).unwrap();
    assert_eq!(read(&mut r), refused);
    assert_eq!(read(&mut r), ok);
    assert_eq!(r, b"hello");
}

#[test]
fn control_golden_bytes() {
    let req = ControlRequest {
        msg_id: [0x11; 16],
        kind: "ping/1".into(),
        payload: vec![0xff],
    };
    assert_eq!(
        hexdump(&req.encode().unwrap()),
        "11111111111111111111111111111111".to_owned() + "0006" + "70696e672f31" + "ff"
    );
    let resp = ControlResponse {
        msg_id: [0x22; 16],
        status: ControlStatus::Rejected("x".into()),
        payload: vec![1, 2],
    };
    assert_eq!(
        hexdump(&resp.encode()),
        "22222222222222222222222222222222".to_owned() + "01" + "0001" + "78" + "0102"
    );
    assert_eq!(
        hexdump(&ControlResponse::ok([0; 16], vec![]).encode()),
        "00000000000000000000000000000000".to_owned() + "00"
    );
}

#[test]
fn oversize_blob_request_is_refused_before_allocation() {
    let mut frame = ((wire::MAX_GRANT_LEN + 41) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&[0u8; 64]);
    let err = futures::executor::block_on(BlobRequest::read(&mut &frame[..])).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let too_big = BlobRequest {
        hash: BlobHash([0; 32]),
        offset: 0,
        grant: vec![0; wire::MAX_GRANT_LEN + 1],
    };
    assert!(too_big.encode().is_err());
}

fn status() -> impl Strategy<Value = ControlStatus> {
    prop_oneof![
        Just(ControlStatus::Ok),
        ".{0,40}".prop_map(ControlStatus::Rejected),
        Just(ControlStatus::UnknownKind),
        Just(ControlStatus::Busy),
        ".{0,40}".prop_map(ControlStatus::Failed),
    ]
}

fn code() -> impl Strategy<Value = RefusalCode> {
    (1u8..=255).prop_map(RefusalCode::from_u8)
}

proptest! {
    #[test]
    fn control_request_roundtrip(
        msg_id in any::<[u8; 16]>(),
        kind in ".{0,60}",
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let req = ControlRequest { msg_id, kind, payload };
        let bytes = req.encode().unwrap();
        prop_assert_eq!(bytes.len(), req.encoded_len());
        prop_assert_eq!(ControlRequest::decode(&bytes).unwrap(), req);
    }

    #[test]
    fn control_response_roundtrip(
        msg_id in any::<[u8; 16]>(),
        status in status(),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let resp = ControlResponse { msg_id, status, payload };
        prop_assert_eq!(ControlResponse::decode(&resp.encode()).unwrap(), resp);
    }

    #[test]
    fn blob_request_roundtrip(
        hash in any::<[u8; 32]>(),
        offset in any::<u64>(),
        grant in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let req = BlobRequest { hash: BlobHash(hash), offset, grant };
        let bytes = req.encode().unwrap();
        let back = futures::executor::block_on(BlobRequest::read(&mut &bytes[..])).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn blob_header_roundtrip(
        ok in any::<bool>(),
        size in any::<u64>(),
        start in any::<u64>(),
        code in code(),
        reason in ".{0,80}",
    ) {
        let header = if ok {
            BlobResponseHeader::Ok { size, start, chunk_log: wire::CHUNK_LOG }
        } else {
            BlobResponseHeader::Refused(Refusal::new(code, reason))
        };
        prop_assert_eq!(BlobResponseHeader::decode(&header.encode()).unwrap(), header);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = ControlRequest::decode(&bytes);
        let _ = ControlResponse::decode(&bytes);
        let _ = BlobResponseHeader::decode(&bytes);
        let _ = futures::executor::block_on(BlobRequest::read(&mut &bytes[..]));
    }
}
