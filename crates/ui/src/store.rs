//! Where sign-in sessions live: in memory (lost on restart), bounded. `tower-sessions`' own
//! `MemoryStore` never forgets an expired session, and every visit to the sign-in page makes one,
//! so memory would grow without end; this store drops expired sessions as it goes and holds at
//! most [`MAX_SESSIONS`], evicting the one closest to expiry (an anonymous sign-in-page session
//! expires after [`crate::session::ANONYMOUS_MINUTES`] minutes, a signed-in one after
//! [`crate::session::IDLE_HOURS`] hours idle, so anonymous ones go first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// Most sessions held at once (each is a user id and a CSRF token: about 200 bytes).
pub const MAX_SESSIONS: usize = 20_000;

/// The in-memory session store; cheap to clone (clones share the sessions).
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    records: Arc<Mutex<HashMap<Id, Record>>>,
}

impl Sessions {
    /// Insert `record`, first making room: expired sessions go, then, at [`MAX_SESSIONS`], the
    /// one closest to expiry.
    fn put(&self, record: Record) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        if !records.contains_key(&record.id) && records.len() >= MAX_SESSIONS {
            let now = OffsetDateTime::now_utc();
            records.retain(|_, r| r.expiry_date > now);
            if records.len() >= MAX_SESSIONS
                && let Some(oldest) = records.values().min_by_key(|r| r.expiry_date).map(|r| r.id)
            {
                records.remove(&oldest);
            }
        }
        records.insert(record.id, record);
    }

    /// How many sessions are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl session_store::SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        if let Ok(records) = self.records.lock() {
            while records.contains_key(&record.id) {
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
        let Ok(mut records) = self.records.lock() else {
            return Err(session_store::Error::Backend(
                "session store poisoned".into(),
            ));
        };
        match records.get(id) {
            Some(r) if r.expiry_date > OffsetDateTime::now_utc() => Ok(Some(r.clone())),
            Some(_) => {
                records.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if let Ok(mut records) = self.records.lock() {
            records.remove(id);
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

    #[tokio::test]
    async fn expired_sessions_are_dropped_and_the_count_is_bounded() {
        let store = Sessions::default();
        let mut gone = record(time::Duration::seconds(-1));
        store.create(&mut gone).await.unwrap();
        assert_eq!(store.load(&gone.id).await.unwrap(), None);
        assert!(store.is_empty(), "loading an expired session drops it");

        let mut soon = record(time::Duration::minutes(1));
        store.create(&mut soon).await.unwrap();
        let mut keep = record(time::Duration::hours(8));
        store.create(&mut keep).await.unwrap();
        for _ in 0..MAX_SESSIONS {
            store
                .create(&mut record(time::Duration::hours(1)))
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
}
