//! Where sign-in sessions live: in memory (lost on restart), bounded. `tower-sessions`' own
//! `MemoryStore` never forgets an expired session, and every visit to the sign-in page makes one,
//! so memory would grow without end; this store drops expired sessions as it goes and keeps two
//! separately bounded pools:
//! - **anonymous** sessions (the sign-in page's: a CSRF token, no user), at most
//!   [`MAX_ANONYMOUS`]; when full, the anonymous one closest to expiry goes;
//! - **signed-in** sessions (with a user), at most [`MAX_SESSIONS`]; when full, the signed-in one
//!   closest to expiry goes.
//!
//! An anonymous session never evicts a signed-in one, so a flood of sign-in page visits (each
//! makes a session) cannot sign anybody out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// Most signed-in sessions held at once (each is a user id, a password fingerprint and a CSRF
/// token: about 250 bytes).
pub const MAX_SESSIONS: usize = 20_000;
/// Most anonymous (sign-in page) sessions held at once (each is a CSRF token: about 150 bytes).
pub const MAX_ANONYMOUS: usize = 2_000;

#[derive(Debug, Default)]
struct Pools {
    anonymous: HashMap<Id, Record>,
    signed_in: HashMap<Id, Record>,
}

/// The in-memory session store; cheap to clone (clones share the sessions).
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    pools: Arc<Mutex<Pools>>,
}

/// Insert `record` into `pool`, first making room: at `cap`, expired sessions go, then the one
/// closest to expiry.
fn put_into(pool: &mut HashMap<Id, Record>, cap: usize, record: Record) {
    if !pool.contains_key(&record.id) && pool.len() >= cap {
        let now = OffsetDateTime::now_utc();
        pool.retain(|_, r| r.expiry_date > now);
        if pool.len() >= cap
            && let Some(oldest) = pool.values().min_by_key(|r| r.expiry_date).map(|r| r.id)
        {
            pool.remove(&oldest);
        }
    }
    pool.insert(record.id, record);
}

impl Sessions {
    /// Insert `record` into its pool (signed-in when it holds a user, else anonymous).
    fn put(&self, record: Record) {
        let Ok(mut pools) = self.pools.lock() else {
            return;
        };
        let signed_in = record.data.contains_key(crate::session::USER_KEY);
        if signed_in {
            pools.anonymous.remove(&record.id);
            put_into(&mut pools.signed_in, MAX_SESSIONS, record);
        } else {
            pools.signed_in.remove(&record.id);
            put_into(&mut pools.anonymous, MAX_ANONYMOUS, record);
        }
    }

    /// How many sessions are held, both pools (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.pools
            .lock()
            .map(|p| p.anonymous.len() + p.signed_in.len())
            .unwrap_or(0)
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl session_store::SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        if let Ok(pools) = self.pools.lock() {
            while pools.anonymous.contains_key(&record.id)
                || pools.signed_in.contains_key(&record.id)
            {
                record.id = Id::default();
            }
        }
        self.put(record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.put(record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Ok(mut pools) = self.pools.lock() else {
            return Err(session_store::Error::Backend(
                "session store poisoned".into(),
            ));
        };
        let now = OffsetDateTime::now_utc();
        let pools = &mut *pools;
        for pool in [&mut pools.anonymous, &mut pools.signed_in] {
            match pool.get(id) {
                Some(r) if r.expiry_date > now => return Ok(Some(r.clone())),
                Some(_) => {
                    pool.remove(id);
                    return Ok(None);
                }
                None => {}
            }
        }
        Ok(None)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if let Ok(mut pools) = self.pools.lock() {
            pools.anonymous.remove(id);
            pools.signed_in.remove(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_sessions::session_store::SessionStore as _;

    fn record(expires_in: time::Duration) -> Record {
        Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    fn signed_in(expires_in: time::Duration) -> Record {
        let mut r = record(expires_in);
        r.data
            .insert(crate::session::USER_KEY.to_owned(), serde_json::json!(1));
        r
    }

    #[tokio::test]
    async fn expired_sessions_are_dropped_and_the_count_is_bounded() {
        let store = Sessions::default();
        let mut gone = signed_in(time::Duration::seconds(-1));
        store.create(&mut gone).await.unwrap();
        assert_eq!(store.load(&gone.id).await.unwrap(), None);
        assert!(store.is_empty(), "loading an expired session drops it");

        let mut soon = signed_in(time::Duration::minutes(1));
        store.create(&mut soon).await.unwrap();
        let mut keep = signed_in(time::Duration::hours(8));
        store.create(&mut keep).await.unwrap();
        for _ in 0..MAX_SESSIONS {
            store
                .create(&mut signed_in(time::Duration::hours(1)))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), MAX_SESSIONS);
        assert_eq!(
            store.load(&soon.id).await.unwrap(),
            None,
            "closest to expiry evicted"
        );
        assert!(store.load(&keep.id).await.unwrap().is_some());
    }

    /// A flood of sign-in page visits (anonymous sessions, 30 minutes) does not evict a
    /// signed-in session, not even one closer to its expiry.
    #[tokio::test]
    async fn anonymous_sessions_never_evict_signed_in_ones() {
        let store = Sessions::default();
        let mut victim = signed_in(time::Duration::minutes(10));
        store.create(&mut victim).await.unwrap();
        for _ in 0..MAX_SESSIONS + 1_000 {
            store
                .create(&mut record(time::Duration::minutes(30)))
                .await
                .unwrap();
        }
        assert!(store.load(&victim.id).await.unwrap().is_some());
        assert_eq!(store.len(), MAX_ANONYMOUS + 1);
    }
}
