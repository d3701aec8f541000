//! The one retry rule of the sharing engine: exponential pauses with jitter (the `backon`
//! crate's `ExponentialBuilder`), used by the outbox (per partner), imports (per share) and the
//! mail queue (per message), so no single failing thing is retried in a tight loop and none
//! holds back the others.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// The pause after the `failures`-th failure in a row (1 = the first): `min`, doubling, capped at
/// `max`, plus a random jitter of up to the same amount again.
pub(crate) fn delay(min: Duration, max: Duration, failures: u32) -> Duration {
    // Past 64 doublings every pause is at the cap anyway.
    let index = failures.clamp(1, 64) - 1;
    ExponentialBuilder::new()
        .with_min_delay(min)
        .with_max_delay(max.max(min))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(index as usize)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_then_stay_under_twice_the_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let first = delay(min, max, 1);
        assert!(first >= min && first <= min * 2, "{first:?}");
        let fourth = delay(min, max, 4);
        assert!(fourth >= min * 8 && fourth <= min * 16, "{fourth:?}");
        for n in [10, 64, u32::MAX] {
            let d = delay(min, max, n);
            assert!(d >= max && d <= max * 2, "{n}: {d:?}");
        }
    }
}
