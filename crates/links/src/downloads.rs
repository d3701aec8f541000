//! Download accounting: a download is audited once and counted once, however many requests it
//! takes (a resuming client or a download manager asks for many ranges).
//!
//! The rule: a **download** is the run of `GET`s of one link's package that return bytes (200 or
//! 206) from one client ([`ClientKey`]) for one version of the package (its ETag), with no more
//! than [`SESSION_IDLE`] between two of them. Its first request writes the `link.download` audit
//! entry and adds one to the link's `downloads`; the others write nothing. `HEAD`, 416 and
//! refused requests are not downloads. The sessions live in memory (bounded by
//! [`MAX_SESSIONS`]): after a restart, a resumed download is audited and counted again — at least
//! once, never per request.

use crate::client::ClientKey;
use casemesh_model::ids::LinkId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest pause between two requests of one download.
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// Most downloads tracked at once; when full, ended ones are dropped, then the oldest.
pub const MAX_SESSIONS: usize = 65_536;

/// (link, client, ETag): what makes requests one download.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    link: LinkId,
    client: ClientKey,
    etag: String,
}

/// Downloads under way.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    capacity: usize,
    /// Key → time of its last request.
    last_seen: Mutex<HashMap<SessionKey, Instant>>,
}

impl Sessions {
    /// Sessions that end after `idle` without a request, at most `capacity` at once.
    pub fn new(idle: Duration, capacity: usize) -> Sessions {
        Sessions {
            idle,
            capacity: capacity.max(1),
            last_seen: Mutex::new(HashMap::new()),
        }
    }

    /// A request of `link`'s package (version `etag`) by `client` returns bytes: whether it
    /// starts a download (then audit and count it). Every call extends the download.
    pub fn touch(&self, link: LinkId, client: ClientKey, etag: &str) -> bool {
        self.touch_at(key(link, client, etag), Instant::now())
    }

    fn touch_at(&self, key: SessionKey, now: Instant) -> bool {
        let Ok(mut map) = self.last_seen.lock() else {
            return true;
        };
        let idle = self.idle;
        if !map.contains_key(&key) && map.len() >= self.capacity {
            map.retain(|_, seen| now.saturating_duration_since(*seen) < idle);
            if map.len() >= self.capacity
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| **s).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        match map.insert(key, now) {
            Some(seen) => now.saturating_duration_since(seen) >= idle,
            None => true,
        }
    }

    /// Forget that a download started (its audit entry could not be written, so the next
    /// request must try again).
    pub fn forget(&self, link: LinkId, client: ClientKey, etag: &str) {
        if let Ok(mut map) = self.last_seen.lock() {
            map.remove(&key(link, client, etag));
        }
    }

    /// Drop ended downloads (the daemon's cleaner calls this).
    pub fn prune(&self) {
        let now = Instant::now();
        if let Ok(mut map) = self.last_seen.lock() {
            let idle = self.idle;
            map.retain(|_, seen| now.saturating_duration_since(*seen) < idle);
        }
    }

    /// Downloads tracked now.
    pub fn tracked(&self) -> usize {
        self.last_seen.lock().map(|m| m.len()).unwrap_or(0)
    }
}

fn key(link: LinkId, client: ClientKey, etag: &str) -> SessionKey {
    SessionKey {
        link,
        client,
        etag: etag.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(s: &str) -> ClientKey {
        ClientKey::of(s.parse().unwrap())
    }

    #[test]
    fn one_download_per_link_client_and_version_within_the_idle_time() {
        let s = Sessions::new(Duration::from_secs(60), 100);
        let link = LinkId::random();
        let t0 = Instant::now();
        let a = client("10.0.0.1");
        assert!(s.touch_at(key(link, a, "\"v1\""), t0));
        for i in 1..20 {
            assert!(!s.touch_at(key(link, a, "\"v1\""), t0 + Duration::from_secs(i * 30)));
        }
        // Another client, another version, another link: other downloads.
        assert!(s.touch_at(key(link, client("10.0.0.2"), "\"v1\""), t0));
        assert!(s.touch_at(key(link, a, "\"v2\""), t0));
        assert!(s.touch_at(key(LinkId::random(), a, "\"v1\""), t0));
        // After a pause longer than the idle time: a new download.
        let late = t0 + Duration::from_secs(19 * 30 + 61);
        assert!(s.touch_at(key(link, a, "\"v1\""), late));
    }

    #[test]
    fn sessions_stay_bounded() {
        let s = Sessions::new(Duration::from_secs(60), 10);
        let link = LinkId::random();
        let t0 = Instant::now();
        for i in 0..100u32 {
            s.touch_at(
                key(
                    link,
                    ClientKey::of(std::net::IpAddr::from(i.to_be_bytes())),
                    "e",
                ),
                t0,
            );
        }
        assert!(s.tracked() <= 10);
    }
}
