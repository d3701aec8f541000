//! What bounds the cost of sign-ins: each one verifies an Argon2id hash (19 MiB of memory and
//! tens of milliseconds of a core), so without bounds a burst of sign-in `POST`s exhausts the
//! node's memory and a password can be guessed as fast as the CPU allows.
//!
//! - **Concurrency**: at most [`MAX_CONCURRENT_VERIFICATIONS`] verifications at once (a tokio
//!   semaphore); a sign-in waits up to [`VERIFY_WAIT`] for a turn, then gets `503` with
//!   `Retry-After`.
//! - **Rate** (governor's GCRA, the pattern of `casemesh-links`' limiter): failed sign-ins are
//!   counted per user name (trimmed, lower case; [`PER_USER`] at once, refilled over [`WINDOW`])
//!   and per client address ([`PER_CLIENT`] at once, refilled over [`WINDOW`]); the failure that
//!   uses up an allowance, and every attempt for that name or from that client until it refills
//!   enough, get `429` with `Retry-After` — the later ones **before** any hash is verified
//!   (governor cannot look at an allowance without using it, so a used-up one is remembered
//!   until its wait ends). A successful sign-in counts nothing. Behind a reverse proxy every
//!   client has the proxy's address. At most
//!   [`MAX_TRACKED`] names and addresses are tracked each (idle ones are forgotten first; while
//!   full, new ones are not limited — the semaphore still bounds the work).

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Password verifications (Argon2id, 19 MiB each) running at once.
pub const MAX_CONCURRENT_VERIFICATIONS: usize = 2;
/// How long a sign-in waits for a verification turn before it is answered `503`.
pub const VERIFY_WAIT: Duration = Duration::from_secs(5);
/// Failed sign-ins one user name may have at once (then one more every `WINDOW / PER_USER`).
pub const PER_USER: u32 = 10;
/// Failed sign-ins one client address may have at once (then one more every
/// `WINDOW / PER_CLIENT`).
pub const PER_CLIENT: u32 = 60;
/// Time in which an allowance refills completely.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most user names, and most client addresses, tracked at once.
pub const MAX_TRACKED: usize = 65_536;

type Gcra<K> = RateLimiter<K, HashMapStateStore<K>, DefaultClock, NoOpMiddleware>;

/// Longest prefix of a user name used as a limiter key (bounds the memory a tracked name takes).
const MAX_KEY_BYTES: usize = 128;

/// The sign-in bounds of one node (see the module doc); cheap to clone.
#[derive(Clone)]
pub struct SignInLimits {
    users: Arc<Gcra<String>>,
    clients: Arc<Gcra<IpAddr>>,
    blocked_users: Arc<Blocked<String>>,
    blocked_clients: Arc<Blocked<IpAddr>>,
    clock: DefaultClock,
    verify: Arc<Semaphore>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            users: Arc::new(gcra(PER_USER)),
            clients: Arc::new(gcra(PER_CLIENT)),
            blocked_users: Arc::default(),
            blocked_clients: Arc::default(),
            clock: DefaultClock::default(),
            verify: Arc::new(Semaphore::new(MAX_CONCURRENT_VERIFICATIONS)),
        }
    }
}

fn gcra<K: Hash + Eq + Clone>(burst: u32) -> Gcra<K> {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let period = (WINDOW / burst.get()).max(Duration::from_nanos(1));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    RateLimiter::new(quota, HashMapStateStore::default(), DefaultClock::default())
}

/// The limiter key of a user name: trimmed, lower case, at most [`MAX_KEY_BYTES`] bytes.
fn user_key(username: &str) -> String {
    let mut k = username.trim().to_lowercase();
    if k.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !k.is_char_boundary(end) {
            end -= 1;
        }
        k.truncate(end);
    }
    k
}

/// Keys whose allowance is used up, until when (governor cannot look at an allowance without
/// using it, so a used-up one is remembered here and looked at instead). At most
/// [`MAX_TRACKED`] keys (expired ones are dropped first; while full, no new key is blocked).
struct Blocked<K>(Mutex<HashMap<K, Instant>>);

impl<K> Default for Blocked<K> {
    fn default() -> Self {
        Blocked(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq + Clone> Blocked<K> {
    /// How long `key` stays blocked, if it is.
    fn wait(&self, key: &K) -> Option<Duration> {
        let now = Instant::now();
        let map = self.0.lock().ok()?;
        map.get(key)
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    fn block(&self, key: &K, wait: Duration) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        let now = Instant::now();
        if map.len() >= MAX_TRACKED {
            map.retain(|_, until| *until > now);
            if map.len() >= MAX_TRACKED {
                return;
            }
        }
        map.insert(key.clone(), now + wait);
    }
}

impl SignInLimits {
    /// Whether a sign-in for `username` from `client` may go on: `Err(wait)` when the user
    /// name's or the client's allowance of failures is used up (answer `429`,
    /// `Retry-After: wait`; verify nothing). Counts nothing.
    pub fn admit(&self, username: &str, client: Option<IpAddr>) -> Result<(), Duration> {
        let user = self.blocked_users.wait(&user_key(username));
        let client = client.and_then(|ip| self.blocked_clients.wait(&ip));
        match user.max(client) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Count a failed sign-in for `username` from `client`. `Err(wait)`: that used up an
    /// allowance (answer this attempt `429` too); later attempts are refused by
    /// [`SignInLimits::admit`] for `wait`.
    pub fn failed(&self, username: &str, client: Option<IpAddr>) -> Result<(), Duration> {
        let key = user_key(username);
        let user = check(&self.users, &key, &self.clock).err();
        if let Some(wait) = user {
            self.blocked_users.block(&key, wait);
        }
        let client = client.and_then(|ip| {
            let wait = check(&self.clients, &ip, &self.clock).err()?;
            self.blocked_clients.block(&ip, wait);
            Some(wait)
        });
        match user.max(client) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// A turn to verify a password: waits up to [`VERIFY_WAIT`]; `None` when no turn came (answer
    /// `503`). The turn ends when the permit is dropped.
    pub async fn verify_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(VERIFY_WAIT, self.verify.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

/// Count one failure of `key`; `Err(wait)` when its allowance is used up. While [`MAX_TRACKED`]
/// keys are tracked, idle ones are forgotten, and if it stays full a new key is let through.
fn check<K: Hash + Eq + Clone>(
    gcra: &Gcra<K>,
    key: &K,
    clock: &DefaultClock,
) -> Result<(), Duration> {
    if gcra.len() >= MAX_TRACKED {
        gcra.retain_recent();
        if gcra.len() >= MAX_TRACKED {
            return Ok(());
        }
    }
    gcra.check_key(key)
        .map_err(|not_until| not_until.wait_time_from(clock.now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_is_limited_after_its_allowance() {
        let l = SignInLimits::default();
        for _ in 0..PER_USER {
            assert!(l.admit("Victim", None).is_ok());
            assert!(l.failed("Victim", None).is_ok());
        }
        assert!(l.admit("Victim", None).is_ok(), "not yet over");
        assert!(
            l.failed("Victim", None).is_err(),
            "this failure is one too many"
        );
        let wait = l.admit(" victim ", None).unwrap_err();
        assert!(wait > Duration::from_secs(1), "{wait:?}");
        assert!(l.admit("someone-else", None).is_ok());
    }

    #[test]
    fn a_client_is_limited_across_user_names() {
        let l = SignInLimits::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..PER_CLIENT {
            assert!(l.failed(&format!("user{i}"), Some(ip)).is_ok());
        }
        assert!(l.admit("fresh", Some(ip)).is_ok(), "admit counts nothing");
        assert!(l.failed("fresh", Some(ip)).is_err());
        assert!(l.admit("fresh", Some(ip)).is_err());
        assert!(l.admit("fresh", Some("192.0.2.8".parse().unwrap())).is_ok());
    }

    #[tokio::test]
    async fn verifications_are_bounded() {
        let l = SignInLimits::default();
        let held: Vec<_> =
            futures::future::join_all((0..MAX_CONCURRENT_VERIFICATIONS).map(|_| l.verify_turn()))
                .await;
        assert!(held.iter().all(Option::is_some));
        assert!(
            l.verify_turn().await.is_none(),
            "no turn while all are held (after VERIFY_WAIT)"
        );
        drop(held);
        assert!(l.verify_turn().await.is_some());
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary() {
        let k = user_key(&"é".repeat(200));
        assert!(k.len() <= MAX_KEY_BYTES && k.chars().all(|c| c == 'é'));
    }
}
