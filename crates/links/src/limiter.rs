//! The public link server's failed-guess limiter: counts wrong tokens per client IP in fixed
//! windows, so that guessing tokens is slow as well as hopeless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed token guesses allowed per client IP within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The rate limiter's window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most client IPs tracked at once (bounds the limiter's memory).
pub const MAX_TRACKED_CLIENTS: usize = 65_536;
/// Counts failed token guesses per client IP in fixed windows.
#[derive(Debug)]
pub struct RateLimiter {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    /// IP → (start of its window, failures in it).
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing `max_failures` per `window`, tracking at most `capacity` IPs.
    pub fn new(max_failures: u32, window: Duration, capacity: usize) -> RateLimiter {
        RateLimiter {
            max_failures,
            window,
            capacity: capacity.max(1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// If `ip` is blocked now, how long until its window ends.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        self.blocked_at(ip, Instant::now())
    }

    fn blocked_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let clients = self.clients.lock().ok()?;
        let (start, failures) = clients.get(&ip)?;
        let elapsed = now.saturating_duration_since(*start);
        (*failures >= self.max_failures && elapsed < self.window)
            .then(|| self.window.saturating_sub(elapsed))
    }

    /// Record a failed guess by `ip`.
    pub fn fail(&self, ip: IpAddr) {
        self.fail_at(ip, Instant::now());
    }

    fn fail_at(&self, ip: IpAddr, now: Instant) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        if !clients.contains_key(&ip) && clients.len() >= self.capacity {
            let window = self.window;
            clients.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if clients.len() >= self.capacity {
                // Still full of live windows: forget the oldest one to stay bounded.
                if let Some(oldest) = clients.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| *k) {
                    clients.remove(&oldest);
                }
            }
        }
        let slot = clients.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(slot.0) >= self.window {
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// Forget windows that have ended (the daemon's cleaner calls this periodically).
    pub fn prune(&self) {
        let now = Instant::now();
        if let Ok(mut clients) = self.clients.lock() {
            let window = self.window;
            clients.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        }
    }

    /// Client IPs tracked now.
    pub fn tracked(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_max_failures_until_the_window_ends() {
        let l = RateLimiter::new(3, Duration::from_secs(60), 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..2 {
            l.fail_at(ip, t0);
        }
        assert!(l.blocked_at(ip, t0).is_none());
        l.fail_at(ip, t0);
        assert!(l.blocked_at(ip, t0).is_some());
        assert!(l.blocked_at(other, t0).is_none());
        assert!(l.blocked_at(ip, t0 + Duration::from_secs(61)).is_none());
        l.fail_at(ip, t0 + Duration::from_secs(61));
        assert!(l.blocked_at(ip, t0 + Duration::from_secs(61)).is_none());
    }

    #[test]
    fn limiter_stays_bounded() {
        let l = RateLimiter::new(3, Duration::from_secs(60), 10);
        let t0 = Instant::now();
        for i in 0..100u32 {
            l.fail_at(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(l.tracked() <= 10);
    }
}
