//! The wall clock the node runs on, with an offset that tests and operators can set
//! (`CASEMESH_CLOCK_OFFSET_MS`) to play expiry and retention without waiting.

use casemesh_model::time::Timestamp;

/// The wall clock, with an offset tests and operators can set (`CASEMESH_CLOCK_OFFSET_MS`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// Added to the system time, in milliseconds.
    pub offset_ms: i64,
}

impl Clock {
    /// Now.
    pub fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms.saturating_add(self.offset_ms).max(0) as u64)
    }
}
