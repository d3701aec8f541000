//! [`SendRate`]: the node-wide bound on the bytes per second it serves to partners
//! (`[p2p] max_send_rate`), so that sharing a case does not fill the agency's uplink.
//!
//! The bound is governor's GCRA over 1 KiB cells, shared by every blob answer of every partner
//! (not per partner: per-partner fairness is the serve slots' job, see `serve`). A write of a
//! chunk waits until the chunk's cells are free; the wait is cancellable like the write itself
//! (the share's stop signal ends it at once). Control messages are not throttled: they are small
//! and carry the stop itself. Syncthing calls the same setting `maxSendKbps`.

use std::num::{NonZeroU32, NonZeroU64};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Bytes per cell of the rate limiter.
const CELL: u64 = 1024;

/// A node-wide limit on served blob bytes per second.
#[derive(Debug)]
pub(crate) struct SendRate {
    gcra: DefaultDirectRateLimiter,
    /// Largest number of cells one wait may ask for (the burst).
    burst: u32,
}

impl SendRate {
    /// A limit of `bytes_per_sec` (rounded up to whole KiB/s) that lets a burst of one second,
    /// and at least `max_write` bytes, through at once.
    pub(crate) fn new(bytes_per_sec: NonZeroU64, max_write: usize) -> SendRate {
        let per_sec = u32::try_from(bytes_per_sec.get().div_ceil(CELL)).unwrap_or(u32::MAX);
        let per_sec = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
        let write_cells = u32::try_from((max_write as u64).div_ceil(CELL)).unwrap_or(u32::MAX);
        let burst = NonZeroU32::new(per_sec.get().max(write_cells)).unwrap_or(NonZeroU32::MIN);
        SendRate {
            gcra: RateLimiter::direct(Quota::per_second(per_sec).allow_burst(burst)),
            burst: burst.get(),
        }
    }

    /// Wait until `bytes` may be sent. Asks for at most one burst at a time, so any size is
    /// admitted (larger writes wait for several bursts).
    pub(crate) async fn admit(&self, bytes: usize) {
        let mut cells = u32::try_from((bytes as u64).div_ceil(CELL)).unwrap_or(u32::MAX);
        while let Some(n) = NonZeroU32::new(cells.min(self.burst)) {
            // `n` never exceeds the burst, so governor cannot refuse it as too large.
            let _ = self.gcra.until_n_ready(n).await;
            cells -= n.get();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const MIB: u64 = 1 << 20;

    /// Sending 3 MiB at 1 MiB/s with a 1 MiB burst takes at least 2 s: the first MiB goes at
    /// once, each further one waits a second. (A lower bound only: a loaded machine is slower,
    /// never faster.)
    #[tokio::test]
    async fn writes_wait_for_the_rate() {
        let rate = SendRate::new(NonZeroU64::new(MIB).unwrap(), 256 * 1024);
        let t0 = Instant::now();
        for _ in 0..12 {
            rate.admit(256 * 1024).await;
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(1950), "{took:?}");
    }

    /// A write larger than the burst is admitted (in several bursts) instead of refused.
    #[tokio::test]
    async fn a_write_larger_than_the_burst_is_admitted() {
        let rate = SendRate::new(NonZeroU64::new(64 * 1024).unwrap(), 16 * 1024);
        let t0 = Instant::now();
        rate.admit(128 * 1024).await;
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(950), "{took:?}");
    }

    /// A rate below one KiB/s is one KiB/s, and a tiny write still goes.
    #[tokio::test]
    async fn tiny_rates_and_writes() {
        let rate = SendRate::new(NonZeroU64::new(1).unwrap(), 1);
        rate.admit(1).await;
        rate.admit(0).await;
        assert_eq!(rate.burst, 1);
    }
}
