//! Fuzz targets for the grant decoders (issue #16 item 3): [`SignedGrant::from_bytes`] (a grant
//! and its whole onward chain, as partners send them in `grant.offer/2`, `share.onward/1`, blob
//! requests) and [`SignedRevocation::from_bytes`] (`grant.revoke/1`).
//!
//! Properties, checked on every input:
//! - no panic, in the decoder or in [`verify`] / [`verify_revocation`] of what it decoded;
//! - memory held while decoding grows with the input, never beyond [`MAX_WIRE_BYTES`]:
//!   peak live bytes ≤ [`FACTOR`] × input + [`SLACK`];
//! - what decodes re-encodes to exactly the input (the wire form is canonical), and a
//!   decoded grant is the one that was signed (decode(encode(x)) == x).
//!
//! Random bytes rarely get past the first length prefix, so the mutation targets start from
//! valid wire forms (a three-link chain, a revocation) and flip, cut and insert bytes.
//!
//! These are [bolero](https://camshaft.github.io/bolero/) targets. Under plain `cargo test`
//! (stable) each runs its corpus (`tests/__fuzz__/<target>/corpus`, if any) and random inputs
//! for [`BUDGET`]. Longer: `BOLERO_RANDOM_TEST_TIME_MS=600000 cargo test -p casemesh-model
//! --test fuzz_grant -- grant_mutations`; coverage-guided: `cargo bolero test -p casemesh-model
//! --test fuzz_grant grant_mutations` (cargo-bolero, nightly). A failure prints
//! `BOLERO_RANDOM_SEED=…` to replay it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use casemesh_model::grant::{
    Grant, MAX_WIRE_BYTES, Recipient, Revocation, Scope, ShareMode, SignedGrant, SignedRevocation,
    org_id_from_public_key, verify, verify_revocation,
};
use casemesh_model::ids::{CaseId, FolderId, OrgId, ShareId};
use casemesh_model::policy::{PolicyAction, SharingPolicy};
use casemesh_model::time::Timestamp;
use ed25519_dalek::SigningKey;

// The shared mutator; this crate's own tests cannot turn on its `fuzzing` feature (see the module).
#[allow(dead_code, unreachable_pub)]
#[path = "../src/fuzzing.rs"]
mod fuzzing;
use fuzzing::{EditKinds, mutate};

/// Random-input budget of each target under `cargo test`.
const BUDGET: Duration = Duration::from_secs(3);
/// Peak live bytes allowed per input byte (strings and ids are copied out once or twice).
const FACTOR: u64 = 6;
/// Fixed allowance (error values, small vectors).
const SLACK: u64 = 64 * 1024;
const T0: Timestamp = Timestamp(1_795_000_000_000);

fn assert_bounded(what: &str, peak: u64, input: usize) {
    let bound = FACTOR * input.min(MAX_WIRE_BYTES) as u64 + SLACK;
    assert!(
        peak <= bound,
        "{what}: decoding {input} bytes held {peak} bytes at peak (bound {bound})"
    );
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn org(seed: u8) -> OrgId {
    org_id_from_public_key(&key(seed).verifying_key().to_bytes())
}

fn grant(issuer: u8, audience: u8, parent: Option<&SignedGrant>) -> Grant {
    Grant {
        id: ShareId(uuid::Uuid::from_bytes([issuer; 16])),
        version: 1,
        issuer: org(issuer),
        issuer_key: key(issuer).verifying_key().to_bytes(),
        audience: org(audience),
        recipients: vec![
            Recipient::User("bob".into()),
            Recipient::Email("dana@pd.example".into()),
        ],
        source_case: CaseId(uuid::Uuid::from_bytes([0x22; 16])),
        scope: Scope::Folders(vec![FolderId(uuid::Uuid::from_bytes([0x33; 16]))]),
        mode: ShareMode::Copy,
        policy: SharingPolicy::new(
            "Counsel",
            [
                PolicyAction::View,
                PolicyAction::Import,
                PolicyAction::ShareOnward,
            ],
        ),
        issued_at: T0,
        expires_at: Some(T0.plus_days(30)),
        message: Some("Disclosure batch 1".into()),
        parent: parent.map(|p| Box::new(p.clone())),
    }
}

/// A valid three-link chain: org 1 → org 2 → org 3 → org 4.
fn chain() -> SignedGrant {
    let root = SignedGrant::sign(grant(1, 2, None), &key(1));
    let mid = SignedGrant::sign(grant(2, 3, Some(&root)), &key(2));
    SignedGrant::sign(grant(3, 4, Some(&mid)), &key(3))
}

fn revocation() -> SignedRevocation {
    SignedRevocation::sign(
        Revocation {
            grant_id: ShareId(uuid::Uuid::from_bytes([1; 16])),
            issuer: OrgId(String::new()),
            issuer_key: [0; 32],
            revoked_at: T0.plus_days(1),
            reason: "case closed".into(),
        },
        &key(1),
    )
}

fn check_grant_bytes(input: &[u8]) {
    let (res, peak) = measured!(|| SignedGrant::from_bytes(input));
    assert_bounded("grant", peak, input.len());
    if let Ok(g) = res {
        assert_eq!(
            g.to_bytes(),
            input,
            "a decoded grant re-encodes differently"
        );
        // Whatever it claims, checking it never panics.
        let _ = verify(&g, T0, None);
        let _ = verify(&g, T0, Some(&org(4)));
    }
}

fn check_revocation_bytes(input: &[u8]) {
    let (res, peak) = measured!(|| SignedRevocation::from_bytes(input));
    assert_bounded("revocation", peak, input.len());
    if let Ok(r) = res {
        assert_eq!(
            r.to_bytes(),
            input,
            "a decoded revocation re-encodes differently"
        );
        let _ = r.verify_signature();
        let _ = verify_revocation(&r, &chain());
    }
}

#[test]
fn grant_bytes() {
    bolero::check!()
        .with_test_time(BUDGET)
        .for_each(check_grant_bytes);
}

#[test]
fn grant_mutations() {
    let base = chain().to_bytes();
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<Vec<(u16, u8)>>()
        .for_each(|edits| check_grant_bytes(&mutate(&base, edits, EditKinds::TEXT)));
}

#[test]
fn revocation_bytes() {
    bolero::check!()
        .with_test_time(BUDGET)
        .for_each(check_revocation_bytes);
}

#[test]
fn revocation_mutations() {
    let base = revocation().to_bytes();
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<Vec<(u16, u8)>>()
        .for_each(|edits| check_revocation_bytes(&mutate(&base, edits, EditKinds::TEXT)));
}

/// decode(encode(x)) == x for grants with generated texts, versions and expiry, signed by
/// generated keys, alone and as the child of a valid chain.
#[test]
fn grant_roundtrip() {
    let parent = chain();
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<([u8; 32], u32, String, Option<String>, Option<u64>, bool)>()
        .for_each(|(seed, version, text, message, expiry, child)| {
            let signer = SigningKey::from_bytes(seed);
            let mut g = grant(4, 5, child.then_some(&parent));
            g.issuer = org_id_from_public_key(&signer.verifying_key().to_bytes());
            g.issuer_key = signer.verifying_key().to_bytes();
            g.version = *version;
            g.recipients = vec![Recipient::Group(text.clone())];
            g.policy.name = text.clone();
            g.message = message.clone();
            g.expires_at = expiry.map(Timestamp);
            let signed = SignedGrant::sign(g, &signer);
            let bytes = signed.to_bytes();
            if bytes.len() > MAX_WIRE_BYTES {
                return;
            }
            assert_eq!(SignedGrant::from_bytes(&bytes).as_ref(), Ok(&signed));
            assert!(signed.verify_signature().is_ok());
        });
}

#[test]
fn the_seed_chain_decodes_and_verifies() {
    let c = chain();
    assert_eq!(SignedGrant::from_bytes(&c.to_bytes()).as_ref(), Ok(&c));
    assert_eq!(verify(&c, T0, Some(&org(4))), Ok(()));
    let r = revocation();
    assert_eq!(SignedRevocation::from_bytes(&r.to_bytes()).as_ref(), Ok(&r));
}
