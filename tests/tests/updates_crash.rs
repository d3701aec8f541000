//! Crash safety of partner metadata edits (issue #14 gap 2): two real nodes share a case in access
//! mode with `edit_metadata`; the partner (county-da) makes a stream of edits (words appended to
//! the case description, evidence renames) while a second thread SIGKILLs the sharer (metro-pd,
//! the node that takes the edits in) at random moments and restarts it. Each edit reaches the
//! sharer as `case.edit/1` through the partner's durable outbox, so every one is delivered, some
//! again after a kill. At the end, with no more kills: the sharer's case and the partner's
//! document hold exactly the partner's final values: every appended word once (no text merged
//! twice: a crash between writing the case and writing the document used to turn the partner's
//! text into the sharer's own edit and merge it again), the last name; and `audit verify` passes.
//!
//! Limit: the window this guards (between the two transactions of the old code) is a few
//! milliseconds per edit, and the binary from before the fix passed this test in all 9 runs
//! tried (2026-11-30): it checks that the single-transaction code converges under kills, it does
//! not reliably catch the old bug.
//!
//! `CRASH_SEED=N` replays the killer's delays (the seed is printed first); `CRASH_POINTS` sets the
//! number of kills (default 16), `UPDATES_CRASH_EDITS` the number of edits (default 60).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    CaseView, SplitMix64, TestNode, add_random_evidence, allow_co_edit, crash_seed, env_number,
    json_as, partner, received_updates, share_case, try_received_meta, wait_until,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The killer's longest pause between a restart and the next kill (ms).
const MAX_PAUSE_MS: u64 = 700;
/// The killer's shortest pause (ms): long enough for the partner's queued edits to start
/// arriving after a restart, so kills land while the sharer takes edits in.
const MIN_PAUSE_MS: u64 = 100;

/// `received edit SHARE --field F --value V` on the partner (never killed): must succeed.
fn edit(b: &TestNode, share: &str, field: &str, value: &str) {
    b.cli_ok([
        "received", "edit", share, "--field", field, "--value", value,
    ]);
}

#[test]
fn partner_edits_survive_sharer_kills_without_doubled_text() {
    let seed = crash_seed();
    let points = env_number("CRASH_POINTS").unwrap_or(16);
    let edits = env_number("UPDATES_CRASH_EDITS").unwrap_or(60);
    eprintln!("updates crash: CRASH_SEED={seed} CRASH_POINTS={points} EDITS={edits}");
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::builder("metro-pd").fixed_p2p_port().start();
    let b = TestNode::builder("county-da").fixed_p2p_port().start();
    partner(&a, &b);
    allow_co_edit(&a, "county-da");
    // A long description (about 40 KB of text), so each edit's document is not trivially small
    // to store: the window between writing the case and writing the document is realistic.
    let log = format!("Log: {}", "lorem ipsum dolor sit amet ".repeat(1_500));
    let case: CaseView = a.cli_typed([
        "case",
        "create",
        "--case-id",
        "UC-1",
        "--title",
        "State v. Example",
        "--description",
        &log,
    ]);
    let case = case.id;
    let path = work.path().join("clip.mp4");
    let ev = add_random_evidence(&a, &case.to_string(), &path, 4_000, 7, &[]).id;
    let share = share_case(&a, &case.to_string(), "county-da", &["--mode", "access"]);
    let share = share.id;
    wait_until(
        "B holds the access share's metadata",
        Duration::from_secs(90),
        || {
            let m = try_received_meta(&b, &share.to_string())?;
            (m.get("case/description") == Some(log.as_str())).then_some(())
        },
    );
    let name_field = format!("evidence/{ev}/name");

    // The partner's stream of edits while the sharer is killed and restarted.
    let nodes = [Mutex::new(a)];
    let stop = AtomicBool::new(false);
    let mut description = log.clone();
    let mut name = String::from("clip.mp4");
    let kills = std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            let mut rng = SplitMix64::new(seed ^ 0x4b49_4c4c);
            let start = Instant::now();
            let mut done = Vec::new();
            for _ in 0..points {
                std::thread::sleep(Duration::from_millis(rng.range(MIN_PAUSE_MS, MAX_PAUSE_MS)));
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let mut node = nodes[0].lock().unwrap();
                done.push(format!("{:.1}s", start.elapsed().as_secs_f64()));
                node.kill();
                // Down for a while: the partner's edits queue up in its outbox and then arrive
                // back to back after the restart, where the next kill is likely to cut one.
                std::thread::sleep(Duration::from_millis(rng.range(600, 1_600)));
                node.start_again();
            }
            done
        });
        for i in 0..edits {
            if i % 4 == 3 {
                name = format!("clip-{i:02}.mp4");
                edit(&b, &share.to_string(), &name_field, &name);
            } else {
                description.push_str(&format!(" w{i:02}"));
                edit(&b, &share.to_string(), "case/description", &description);
            }
            std::thread::sleep(Duration::from_millis(60));
        }
        stop.store(true, Ordering::SeqCst);
        killer.join().unwrap()
    });
    let [a] = nodes;
    let a = a.into_inner().unwrap();
    eprintln!(
        "updates crash: {} kills at {}",
        kills.len(),
        kills.join(" ")
    );

    // Both sides converge on the partner's last values, each word once.
    let (at_a, at_b) = wait_until("both nodes converge", Duration::from_secs(180), || {
        let at_a: CaseView = json_as(
            &a.cli_handle()
                .try_json(["case", "show", &case.to_string()])
                .ok()?,
        );
        let at_b = try_received_meta(&b, &share.to_string())?;
        (at_a.description == description
            && at_b.get("case/description") == Some(description.as_str())
            && at_a.evidence.first().map(|e| e.name.as_str()) == Some(name.as_str())
            && at_b.get(&name_field) == Some(name.as_str()))
        .then_some((at_a, at_b))
    });
    let text = at_a.description.as_str();
    for i in (0..edits).filter(|i| i % 4 != 3) {
        assert_eq!(
            text.matches(&format!(" w{i:02}")).count(),
            1,
            "word {i} not exactly once: {text:?} (seed {seed})"
        );
    }
    assert_eq!(at_b.get("case/description"), Some(text));
    // Nothing was refused, and the trail is intact.
    let refused = received_updates(&b, &share.to_string());
    assert!(refused.is_empty(), "{refused:?}");
    a.cli_ok(["audit", "verify", &case.to_string()]);
}
