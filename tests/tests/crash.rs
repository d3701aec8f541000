//! The crash harness (issue #10, "Nothing lost"): two real nodes, a sharer and a receiver, play a
//! sharing scenario while a second thread SIGKILLs one of them at random moments and restarts it.
//!
//! The scenario, fixed by a seed: create a case with folders and 30 items of 1–256 KiB plus one of
//! 8 MiB, share it with the partner, then, in a seeded order, add more evidence, rename items
//! (`evidence edit --name`), add recipients (`share add-recipients`) and create cases on the
//! receiver; wait until the share is Complete; stop it. Meanwhile the killer sleeps 0–400 ms,
//! SIGKILLs the sharer or the receiver, restarts it, and again, `CRASH_POINTS` times (default 20).
//!
//! A command the CLI reported as successful is *acknowledged*. A command that failed (the node
//! was being killed) is retried once the node is back, as any client may, unless the node shows
//! that it took effect after all (so nothing is applied twice). At the end, with no more kills:
//! - every acknowledged write is present on its node;
//! - `blobs verify` and `audit verify` pass on both nodes;
//! - the receiver's copy holds every item of the case exactly once (no duplicate hashes or names),
//!   the share reached Complete before the stop, and the receiver learned of the stop.
//!
//! `CRASH_SEED=N` replays a run (the seed is printed first); the scenario and the killer's delays
//! and victims follow from it, only the timing between the two threads does not.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::{BlobHash, EvidenceId};
use casemesh_tests::{
    CaseView, EvidenceView, NodeCli, SHARING_LOG, ShareView, SplitMix64, TestNode,
    assert_audit_verifies, assert_blobs_sound, case_view, crash_seed, env_number, json_as, partner,
    random_file, received_view, s, wait_until,
};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
/// Kills per run unless `CRASH_POINTS` says otherwise.
const DEFAULT_CRASH_POINTS: usize = 20;
/// Items in the case before it is shared (plus one of [`BIG_ITEM`]).
const FIRST_ITEMS: usize = 30;
/// The one large item: its transfer is likely to be cut by a kill and resumed.
const BIG_ITEM: u64 = 8 * MIB;
/// Items added after the share was created.
const LATER_ITEMS: usize = 6;
/// Items renamed after the share was created.
const RENAMES: usize = 6;
/// Recipients added to the share later.
const LATER_RECIPIENTS: usize = 3;
/// Cases created on the receiver (its own acknowledged writes).
const RECEIVER_CASES: usize = 5;
/// The killer's longest pause between a restart and the next kill.
const MAX_PAUSE_MS: u64 = 400;
/// How long one step may keep failing while nodes are killed, and how long the share gets to
/// complete and the stop to arrive once the killing is over.
const STEP_LIMIT: Duration = Duration::from_secs(90);
/// The case number of the shared case.
const CASE: &str = "CRASH-1";
const SHARER: &str = "metro-pd";
const RECEIVER: &str = "county-da";
const FOLDERS: [&str; 2] = ["Video", "Photos"];

/// One step of the scenario.
#[derive(Debug, Clone)]
enum Step {
    /// Sharer: `case create --case-id CRASH-1`.
    CreateCase,
    /// Sharer: `folder create CASE PATH`.
    CreateFolder(&'static str),
    /// Sharer: `evidence add CASE FILE [--folder F]` of a file written from `seed`.
    AddEvidence {
        name: String,
        size: u64,
        seed: u64,
        folder: Option<&'static str>,
    },
    /// Sharer: `share create CASE --partner county-da --to user:admin`.
    Share,
    /// Sharer: `evidence edit CASE EV --name NEW` of the item added as `name`.
    Rename { name: String, new_name: String },
    /// Sharer: `share add-recipients SHARE --to RECIPIENT`.
    AddRecipient(String),
    /// Receiver: `case create --case-id R-n`.
    ReceiverCase(String),
}

/// The scenario for `seed`: the same seed gives the same steps in the same order.
fn plan(seed: u64) -> Vec<Step> {
    let mut rng = SplitMix64::new(seed);
    let mut receiver_cases: Vec<Step> = (1..=RECEIVER_CASES)
        .map(|i| Step::ReceiverCase(format!("R-{i}")))
        .collect();
    let mut steps = vec![Step::CreateCase];
    steps.extend(FOLDERS.map(Step::CreateFolder));
    let big_at = rng.range(0, FIRST_ITEMS as u64) as usize;
    let mut added = Vec::new();
    for i in 0..=FIRST_ITEMS {
        let name = format!("item-{i:02}.bin");
        let size = if i == big_at {
            BIG_ITEM
        } else {
            rng.range(KIB, 256 * KIB)
        };
        let folder = match rng.range(0, 2) {
            0 => None,
            n => Some(FOLDERS[n as usize - 1]),
        };
        steps.push(Step::AddEvidence {
            name: name.clone(),
            size,
            seed: rng.next_u64(),
            folder,
        });
        added.push(name);
        if rng.chance(5)
            && let Some(step) = receiver_cases.pop()
        {
            steps.push(step);
        }
    }
    steps.push(Step::Share);

    let mut later: Vec<Step> = receiver_cases;
    for i in 0..LATER_ITEMS {
        later.push(Step::AddEvidence {
            name: format!("later-{i:02}.bin"),
            size: rng.range(KIB, 256 * KIB),
            seed: rng.next_u64(),
            folder: None,
        });
    }
    for _ in 0..RENAMES {
        let name = added.remove(rng.range(0, added.len() as u64 - 1) as usize);
        later.push(Step::Rename {
            new_name: format!("renamed-{name}"),
            name,
        });
    }
    for i in 1..=LATER_RECIPIENTS {
        later.push(Step::AddRecipient(format!(
            "email:clerk-{i}@county.example"
        )));
    }
    // Fisher–Yates with the seeded generator.
    for i in (1..later.len()).rev() {
        later.swap(i, rng.range(0, i as u64) as usize);
    }
    steps.extend(later);
    steps
}

/// What the nodes acknowledged (the CLI reported success), to be found on them at the end.
#[derive(Debug, Default)]
struct Acked {
    case: bool,
    folders: BTreeSet<String>,
    /// Evidence id → hash.
    evidence: BTreeMap<EvidenceId, BlobHash>,
    /// Evidence id → the name an acknowledged rename gave it.
    renames: BTreeMap<EvidenceId, String>,
    share: bool,
    recipients: BTreeSet<String>,
    stopped: bool,
    receiver_cases: BTreeSet<String>,
}

/// The two nodes' CLI handles and what they acknowledged: enough to tell, at any time, which
/// acknowledged writes a node no longer shows.
struct Ledger {
    sharer: NodeCli,
    receiver: NodeCli,
    acked: Acked,
    /// The shared case's record id, once created.
    case_id: Option<String>,
    /// The share's id, once created.
    share_id: Option<String>,
}

/// Runs the scenario against the two nodes through their CLI handles (the nodes themselves belong
/// to the killer meanwhile).
struct Driver {
    ledger: Ledger,
    files: PathBuf,
    /// Failed attempts (command, error), for the report.
    failures: Vec<String>,
    /// Steps whose command failed but whose effect the node showed afterwards.
    applied_unacked: Vec<String>,
    /// Evidence name as added → id.
    evidence_ids: BTreeMap<String, EvidenceId>,
}

/// `Ok(None)` when the node answered 404, `Err` when it could not be asked (down, restarting).
fn lookup<T: DeserializeOwned>(cli: &NodeCli, args: &[&str]) -> Result<Option<T>, String> {
    match cli.try_json(args) {
        Ok(v) => Ok(Some(json_as(&v))),
        Err(e) if e.contains("HTTP 404") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Run `op` until it succeeds (acknowledged: `(value, true)`), or until `applied` finds its effect
/// on the node after a failure (`(value, false)`). Gives up after [`STEP_LIMIT`], or sooner when
/// the node keeps refusing the command (a 4xx answer: often an acknowledged write it lost, e.g. the
/// folder an `evidence add` names); the panic then lists the acknowledged writes the nodes lost.
fn perform<T>(
    what: &str,
    failures: &mut Vec<String>,
    ledger: &Ledger,
    mut op: impl FnMut() -> Result<T, String>,
    mut applied: impl FnMut() -> Result<Option<T>, String>,
) -> (T, bool) {
    const REFUSALS: usize = 10;
    let start = Instant::now();
    let mut refusals = 0;
    let mut last;
    loop {
        match op() {
            Ok(v) => return (v, true),
            Err(e) => {
                failures.push(format!("{what}: {e}"));
                // An answer from the node itself (not a connection error, not a 401 from another
                // node that took over a dead one's port).
                if e.contains("HTTP 4") && !e.contains("HTTP 401") {
                    refusals += 1;
                }
                last = e;
            }
        }
        // Did the failed attempt take effect after all? Ask once the node answers again.
        loop {
            if start.elapsed() > STEP_LIMIT || refusals >= REFUSALS {
                ledger.give_up(&format!("{what}: no success ({last})"));
            }
            std::thread::sleep(Duration::from_millis(150));
            match applied() {
                Ok(Some(v)) => return (v, false),
                Ok(None) => break,
                Err(e) => last = e,
            }
        }
    }
}

impl Ledger {
    fn case(&self) -> &str {
        self.case_id.as_deref().expect("the case is created first")
    }

    fn share(&self) -> &str {
        self.share_id.as_deref().expect("the share exists by now")
    }

    /// The acknowledged writes the nodes do not show (`Err` when a node could not be asked).
    fn lost_writes(&self) -> Result<Vec<String>, String> {
        let mut lost = Vec::new();
        let acked = &self.acked;
        if let Some(case) = &self.case_id {
            match lookup::<CaseView>(&self.sharer, &["case", "show", case])? {
                None if acked.case => lost.push(format!("case {CASE}")),
                None => {}
                Some(shown) => lost.extend(lost_in_case(acked, &shown)),
            }
        }
        if let Some(share) = &self.share_id {
            match lookup::<ShareView>(&self.sharer, &["share", "status", share])? {
                None if acked.share => lost.push(format!("share {share}")),
                None => {}
                Some(status) => {
                    let recipients: BTreeSet<String> =
                        status.recipients.into_iter().map(|r| r.recipient).collect();
                    for r in acked.recipients.difference(&recipients) {
                        lost.push(format!("recipient {r}"));
                    }
                    if acked.stopped && status.status != "Stopped" {
                        lost.push(format!("share stop (status {})", status.status));
                    }
                }
            }
        }
        for number in &acked.receiver_cases {
            if lookup::<CaseView>(&self.receiver, &["case", "show", number])?.is_none() {
                lost.push(format!("receiver case {number}"));
            }
        }
        Ok(lost)
    }

    /// Panic with `why` and the acknowledged writes the nodes lost (asked until they answer).
    fn give_up(&self, why: &str) -> ! {
        let lost = wait_until("the nodes to answer", STEP_LIMIT, || {
            self.lost_writes().ok()
        });
        panic!("{why}; acknowledged writes lost: {lost:?}");
    }
}

/// Acknowledged folders, items and renames the shared case (`case show`) lacks.
fn lost_in_case(acked: &Acked, shown: &CaseView) -> Vec<String> {
    let mut lost = Vec::new();
    let folders: BTreeSet<String> = shown.folders.iter().cloned().collect();
    for f in acked.folders.difference(&folders) {
        lost.push(format!("folder {f}"));
    }
    let items = case_items(shown);
    for (id, hash) in &acked.evidence {
        match items.get(id) {
            Some((h, _)) if h == hash => {}
            Some((h, _)) => lost.push(format!("evidence {id}: hash {h}, acknowledged {hash}")),
            None => lost.push(format!("evidence {id}")),
        }
    }
    for (id, name) in &acked.renames {
        match items.get(id) {
            Some((_, n)) if n == name => {}
            other => lost.push(format!("rename of {id} to {name}: now {other:?}")),
        }
    }
    lost
}

/// Evidence id → (hash, name) of a `case show` answer.
fn case_items(shown: &CaseView) -> BTreeMap<EvidenceId, (BlobHash, String)> {
    shown
        .evidence
        .iter()
        .map(|e| (e.id, (e.hash, e.name.clone())))
        .collect()
}

impl Driver {
    fn case(&self) -> &str {
        self.ledger.case()
    }

    fn share(&self) -> &str {
        self.ledger.share()
    }

    fn note(&mut self, what: String, acked: bool) {
        if !acked {
            self.applied_unacked.push(what);
        }
    }

    fn run(&mut self, step: &Step) {
        let (sharer, receiver) = (self.ledger.sharer.clone(), self.ledger.receiver.clone());
        match step {
            Step::CreateCase => {
                let args = ["case", "create", "--case-id", CASE, "--title", "Crash"];
                let (case, acked) = perform(
                    "case create",
                    &mut self.failures,
                    &self.ledger,
                    || sharer.try_json(args).map(|v| json_as::<CaseView>(&v)),
                    || lookup(&sharer, &["case", "show", CASE]),
                );
                self.ledger.case_id = Some(case.id.to_string());
                self.ledger.acked.case |= acked;
                self.note("case create".into(), acked);
            }
            Step::CreateFolder(path) => {
                let case = self.case().to_owned();
                let (_, acked) = perform(
                    &format!("folder create {path}"),
                    &mut self.failures,
                    &self.ledger,
                    || {
                        sharer
                            .try_json(["folder", "create", &case, path])
                            .map(|_| ())
                    },
                    || {
                        let c = lookup::<CaseView>(&sharer, &["case", "show", &case])?
                            .ok_or("the case is gone")?;
                        let has = c.folders.iter().any(|f| f == path);
                        Ok(has.then_some(()))
                    },
                );
                if acked {
                    self.ledger.acked.folders.insert((*path).to_owned());
                }
                self.note(format!("folder create {path}"), acked);
            }
            Step::AddEvidence {
                name,
                size,
                seed,
                folder,
            } => {
                let file = self.files.join(name);
                random_file(&file, *size, *seed);
                let case = self.case().to_owned();
                let mut args = vec!["evidence", "add", &case, s(&file)];
                if let Some(f) = folder {
                    args.extend(["--folder", f]);
                }
                let (ev, acked) = perform(
                    &format!("evidence add {name}"),
                    &mut self.failures,
                    &self.ledger,
                    || sharer.try_json(&args).map(|v| json_as::<EvidenceView>(&v)),
                    || {
                        let c = lookup::<CaseView>(&sharer, &["case", "show", &case])?
                            .ok_or("the case is gone")?;
                        Ok(c.evidence.into_iter().find(|e| e.name == *name))
                    },
                );
                let id = ev.id;
                if acked {
                    self.ledger.acked.evidence.insert(id, ev.hash);
                }
                self.evidence_ids.insert(name.clone(), id);
                self.note(format!("evidence add {name}"), acked);
            }
            Step::Share => {
                let case = self.case().to_owned();
                let args = [
                    "share",
                    "create",
                    &case,
                    "--partner",
                    RECEIVER,
                    "--to",
                    "user:admin",
                ];
                let (share, acked) = perform(
                    "share create",
                    &mut self.failures,
                    &self.ledger,
                    || sharer.try_json(args).map(|v| json_as::<ShareView>(&v)),
                    || {
                        let list = lookup::<Vec<ShareView>>(&sharer, &["share", "list", &case])?
                            .ok_or("the case is gone")?;
                        Ok(list.into_iter().find(|s| s.partner_name == RECEIVER))
                    },
                );
                self.ledger.share_id = Some(share.id.to_string());
                self.ledger.acked.share |= acked;
                self.note("share create".into(), acked);
            }
            Step::Rename { name, new_name } => {
                let case = self.case().to_owned();
                let id = self.evidence_ids[name];
                let id_text = id.to_string();
                let (_, acked) = perform(
                    &format!("rename {name}"),
                    &mut self.failures,
                    &self.ledger,
                    || {
                        sharer
                            .try_json(["evidence", "edit", &case, &id_text, "--name", new_name])
                            .map(|_| ())
                    },
                    || {
                        let ev = lookup::<EvidenceView>(
                            &sharer,
                            &["evidence", "show", &case, &id_text],
                        )?
                        .ok_or("the item is gone")?;
                        Ok((ev.name == *new_name).then_some(()))
                    },
                );
                if acked {
                    self.ledger.acked.renames.insert(id, new_name.clone());
                }
                self.note(format!("rename {name}"), acked);
            }
            Step::AddRecipient(recipient) => {
                let share = self.share().to_owned();
                let (_, acked) = perform(
                    &format!("add-recipients {recipient}"),
                    &mut self.failures,
                    &self.ledger,
                    || {
                        sharer
                            .try_json(["share", "add-recipients", &share, "--to", recipient])
                            .map(|_| ())
                    },
                    || {
                        let st = lookup::<ShareView>(&sharer, &["share", "status", &share])?
                            .ok_or("the share is gone")?;
                        let has = st.recipients.iter().any(|r| r.recipient == *recipient);
                        Ok(has.then_some(()))
                    },
                );
                if acked {
                    self.ledger.acked.recipients.insert(recipient.clone());
                }
                self.note(format!("add-recipients {recipient}"), acked);
            }
            Step::ReceiverCase(number) => {
                let args = ["case", "create", "--case-id", number, "--title", "Own"];
                let (_, acked) = perform(
                    &format!("receiver case create {number}"),
                    &mut self.failures,
                    &self.ledger,
                    || receiver.try_json(args).map(|_| ()),
                    || Ok(lookup::<CaseView>(&receiver, &["case", "show", number])?.map(|_| ())),
                );
                if acked {
                    self.ledger.acked.receiver_cases.insert(number.clone());
                }
                self.note(format!("receiver case create {number}"), acked);
            }
        }
    }

    /// The sharer's items (id → hash), read until the sharer answers.
    fn sharer_items(&self) -> BTreeMap<EvidenceId, BlobHash> {
        let case = self.case().to_owned();
        wait_until("the sharer to show its case", STEP_LIMIT, || {
            let c = self.ledger.sharer.try_json(["case", "show", &case]).ok()?;
            Some(
                json_as::<CaseView>(&c)
                    .evidence
                    .into_iter()
                    .map(|e| (e.id, e.hash))
                    .collect(),
            )
        })
    }

    /// Wait until the share is Complete with every item of the case delivered, then stop it.
    fn complete_then_stop(&mut self) {
        let items = self.sharer_items().len();
        let share = self.share().to_owned();
        let done = wait_until(
            &format!("share {share} to be Complete with {items} items delivered"),
            STEP_LIMIT,
            || {
                let st = self
                    .ledger
                    .sharer
                    .try_json(["share", "status", &share])
                    .ok()?;
                let st: ShareView = json_as(&st);
                assert_ne!(st.status, "Stopped", "stopped before it completed: {st:?}");
                (st.status == "Complete" && st.items_delivered == items).then_some(st)
            },
        );
        assert_eq!(done.items_sent, items, "{done:?}");
        let sharer = self.ledger.sharer.clone();
        let (_, acked) = perform(
            "share stop",
            &mut self.failures,
            &self.ledger,
            || {
                sharer
                    .try_json(["share", "stop", &share, "--yes"])
                    .map(|_| ())
            },
            || {
                let st = lookup::<ShareView>(&sharer, &["share", "status", &share])?
                    .ok_or("share gone")?;
                Ok((st.status == "Stopped").then_some(()))
            },
        );
        self.ledger.acked.stopped = acked;
        self.note("share stop".into(), acked);
    }
}

/// SIGKILL one of the nodes (seeded choice) after a seeded pause, restart it, `points` times or
/// until `stop` is set. Returns what it did.
fn kill_loop(
    nodes: &[Mutex<TestNode>; 2],
    seed: u64,
    points: usize,
    stop: &AtomicBool,
) -> Vec<String> {
    let mut rng = SplitMix64::new(seed);
    let start = Instant::now();
    let mut done = Vec::new();
    for _ in 0..points {
        std::thread::sleep(Duration::from_millis(rng.range(0, MAX_PAUSE_MS)));
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut node = nodes[rng.range(0, 1) as usize].lock().unwrap();
        let at = start.elapsed();
        node.kill();
        node.start_again();
        done.push(format!("{}@{:.1}s", node.name(), at.as_secs_f64()));
    }
    done
}

#[test]
fn issue10_crash_harness_loses_no_acknowledged_write() {
    let seed = crash_seed();
    let points = env_number("CRASH_POINTS").map_or(DEFAULT_CRASH_POINTS, |n| n as usize);
    eprintln!("crash harness: CRASH_SEED={seed} CRASH_POINTS={points}");
    let started = Instant::now();

    let a = TestNode::builder(SHARER)
        .fixed_p2p_port()
        .env("RUST_LOG", SHARING_LOG)
        .start();
    let b = TestNode::builder(RECEIVER)
        .fixed_p2p_port()
        .env("RUST_LOG", SHARING_LOG)
        .start();
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let mut driver = Driver {
        ledger: Ledger {
            sharer: a.cli_handle(),
            receiver: b.cli_handle(),
            acked: Acked::default(),
            case_id: None,
            share_id: None,
        },
        files: work.path().to_owned(),
        failures: Vec::new(),
        applied_unacked: Vec::new(),
        evidence_ids: BTreeMap::new(),
    };
    let steps = plan(seed);
    let nodes = [Mutex::new(a), Mutex::new(b)];
    let stop = AtomicBool::new(false);

    let (driven, kills) = std::thread::scope(|scope| {
        let killer = scope.spawn(|| kill_loop(&nodes, seed ^ 0x4b49_4c4c, points, &stop));
        let driven = catch_unwind(AssertUnwindSafe(|| {
            for step in &steps {
                driver.run(step);
            }
            driver.complete_then_stop();
        }));
        if driven.is_err() {
            // The scenario failed: no point in the remaining kills.
            stop.store(true, Ordering::SeqCst);
        }
        (driven, killer.join())
    });
    let kills = match (driven, kills) {
        (Err(panic), _) | (Ok(()), Err(panic)) => resume_unwind(panic),
        (Ok(()), Ok(kills)) => kills,
    };
    eprintln!(
        "crash harness: {} kills ({}); {} failed attempts retried; applied but not acknowledged: {:?}",
        kills.len(),
        kills.join(" "),
        driver.failures.len(),
        driver.applied_unacked
    );
    let [a, b] = nodes.map(|n| n.into_inner().unwrap());
    let case = driver.case().to_owned();
    let share = driver.share().to_owned();

    // The revocation reaches the receiver (no more kills from here on).
    wait_until(
        "the receiver to learn the share stopped",
        STEP_LIMIT,
        || (received_view(&b, &share).status == "Stopped").then_some(()),
    );

    // Every acknowledged write is on its node.
    let lost = driver.ledger.lost_writes().unwrap();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost (seed {seed}): {lost:?}"
    );
    let items = case_items(&case_view(&a, &case));

    // The receiver's copy: every item exactly once.
    let received = received_view(&b, &share);
    let copy_id = received
        .local_case
        .unwrap_or_else(|| panic!("the receiver has no copy: {received:?}"));
    let copy = case_view(&b, &copy_id.to_string());
    let mut copies: BTreeMap<BlobHash, usize> = BTreeMap::new();
    for e in &copy.evidence {
        *copies.entry(e.hash).or_default() += 1;
    }
    let expected: BTreeSet<&BlobHash> = items.values().map(|(h, _)| h).collect();
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|h| !copies.contains_key(**h))
        .collect();
    let foreign: Vec<_> = copies.keys().filter(|h| !expected.contains(h)).collect();
    assert!(
        twice.is_empty() && missing.is_empty() && foreign.is_empty(),
        "the copy must hold each of the sharer's {} items exactly once (seed {seed}): \
         imported more than once (hash, times): {twice:?}; missing: {missing:?}; \
         not at the sharer: {foreign:?}",
        expected.len()
    );
    let names: Vec<String> = copy.evidence.iter().map(|e| e.name.clone()).collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "duplicate names in the copy: {names:?}"
    );

    for node in [&a, &b] {
        assert_blobs_sound(node);
    }
    assert_audit_verifies(&a, &case);
    assert_audit_verifies(&b, &copy_id.to_string());
    for number in &driver.ledger.acked.receiver_cases {
        assert_audit_verifies(&b, number);
    }
    eprintln!(
        "crash harness: passed in {:.0?} (seed {seed})",
        started.elapsed()
    );
}

#[test]
fn the_scenario_is_fixed_by_its_seed() {
    let render = |seed| format!("{:?}", plan(seed));
    assert_eq!(render(7), render(7));
    assert_ne!(render(7), render(8));
    let steps = plan(7);
    let adds = steps
        .iter()
        .filter(|s| matches!(s, Step::AddEvidence { .. }))
        .count();
    assert_eq!(adds, FIRST_ITEMS + 1 + LATER_ITEMS);
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::AddEvidence { size, .. } if *size == BIG_ITEM))
            .count(),
        1
    );
}
