//! The public link server's failed-guess limiter: wrong tokens are counted per [`ClientKey`]
//! (IPv4 address, IPv6 /64, behind trusted proxies the forwarded client) with governor's GCRA,
//! so that guessing tokens is slow as well as hopeless.
//!
//! The rule (issue #16): a client may make [`MAX_FAILURES`] wrong guesses at once, then one more
//! every [`WINDOW`]` / MAX_FAILURES`; a wrong guess beyond that is answered 429 instead of 404.
//! Only **wrong** tokens are limited: a valid link is served to a client however many wrong
//! guesses it made (256-bit tokens are what protects links; the limit keeps scanners from
//! wasting the server's time and fills no log).

use crate::client::ClientKey;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};
use std::num::NonZeroU32;
use std::time::Duration;

/// Wrong token guesses a client may make at once.
pub const MAX_FAILURES: u32 = 10;
/// Time in which a client's [`MAX_FAILURES`] allowance refills completely.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most clients tracked at once (bounds the limiter's memory): when this many clients have
/// recent wrong guesses, the idle ones are forgotten, and while it stays full new clients are
/// not tracked.
pub const MAX_TRACKED_CLIENTS: usize = 65_536;

/// Counts wrong token guesses per client.
pub struct RateLimiter<C: Clock + Clone = DefaultClock> {
    gcra: Gcra<ClientKey, HashMapStateStore<ClientKey>, C, NoOpMiddleware<C::Instant>>,
    capacity: usize,
    clock: C,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("tracked", &self.tracked())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter allowing `max_failures` at once, refilled over `window`, tracking at most
    /// `capacity` clients.
    pub fn new(max_failures: u32, window: Duration, capacity: usize) -> RateLimiter {
        RateLimiter::with_clock(max_failures, window, capacity, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// The same with a clock of the caller's (tests use governor's fake clock).
    pub fn with_clock(max_failures: u32, window: Duration, capacity: usize, clock: C) -> Self {
        let burst = NonZeroU32::new(max_failures).unwrap_or(NonZeroU32::MIN);
        let period = (window / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        RateLimiter {
            gcra: Gcra::new(quota, HashMapStateStore::default(), clock.clone()),
            capacity: capacity.max(1),
            clock,
        }
    }

    /// Record a wrong guess by `client`. `None`: within its allowance (answer 404); `Some(wait)`:
    /// over it (answer 429 with `Retry-After: wait`).
    pub fn fail(&self, client: ClientKey) -> Option<Duration> {
        if self.gcra.len() >= self.capacity {
            self.gcra.retain_recent();
            if self.gcra.len() >= self.capacity {
                return None;
            }
        }
        self.gcra
            .check_key(&client)
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forget clients whose allowance is full again (the daemon's cleaner calls this).
    pub fn prune(&self) {
        self.gcra.retain_recent();
        self.gcra.shrink_to_fit();
    }

    /// Clients tracked now.
    pub fn tracked(&self) -> usize {
        self.gcra.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn key(s: &str) -> ClientKey {
        ClientKey::of(s.parse().unwrap())
    }

    #[test]
    fn limiter_allows_a_burst_then_refills_over_the_window() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(3, Duration::from_secs(60), 100, clock.clone());
        let (ip, other) = (key("10.0.0.1"), key("10.0.0.2"));
        for _ in 0..3 {
            assert_eq!(l.fail(ip), None);
        }
        let wait = l.fail(ip).expect("over the allowance");
        assert!(
            wait <= Duration::from_secs(20) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert_eq!(l.fail(other), None);
        clock.advance(Duration::from_secs(20));
        assert_eq!(l.fail(ip), None);
        assert!(l.fail(ip).is_some());
        clock.advance(Duration::from_secs(120));
        l.prune();
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let l = RateLimiter::with_clock(2, WINDOW, 100, FakeRelativeClock::default());
        assert_eq!(l.fail(key("2001:db8::1")), None);
        assert_eq!(l.fail(key("2001:db8::2")), None);
        assert!(l.fail(key("2001:db8::3")).is_some());
        assert_eq!(l.fail(key("2001:db8:0:1::1")), None);
    }

    #[test]
    fn limiter_stays_bounded() {
        let l = RateLimiter::with_clock(3, WINDOW, 10, FakeRelativeClock::default());
        for i in 0..100u32 {
            l.fail(ClientKey::of(std::net::IpAddr::from(i.to_be_bytes())));
        }
        assert!(l.tracked() <= 10);
    }
}
