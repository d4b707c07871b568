//! One pacer for every Cert Spotter request of a process: the plan's rate limit is per account,
//! so concurrent pollers share it.
//!
//! A token bucket: `burst` requests may start at once, then one every `1 / rate` seconds. A 429
//! pauses every caller ([`RateLimiter::pause_until`]): nobody starts a request before the
//! pause ends, including callers already waiting for their turn.
//!
//! Callers ask for a turn that starts no later than a given instant ([`RateLimiter::acquire_by`]);
//! a turn that would start later is not taken (the caller's deadline would be missed), so
//! waiting never eats into a run's deadline.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every request of a process (clone the `Arc`).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The bucket is full at this instant (GCRA's "theoretical arrival time" minus the burst
    /// tolerance): the next turn starts at `max(now, tat - tolerance)`.
    tat: Option<Instant>,
    /// No request starts before this (a 429's `Retry-After`).
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// `rate_per_sec` requests per second (not positive or not finite: 1; below one request a
    /// day: one a day), at most `burst` (at least 1) at once.
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        let rate = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
            rate_per_sec
        } else {
            1.0
        };
        let interval =
            Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::from_secs(86_400));
        Self::with_interval(interval, burst)
    }

    /// One request every `interval` (at most a day), at most `burst` (at least 1) at once.
    pub fn with_interval(interval: Duration, burst: u32) -> Self {
        Self {
            interval: interval.min(Duration::from_secs(86_400)),
            burst: burst.max(1),
            state: Mutex::new(State {
                tat: None,
                paused_until: None,
            }),
        }
    }

    /// Time between two requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two instants, always consistent: a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the next turn if it starts no later than `latest`, and waits for it. `false`: the
    /// turn would start too late; nothing was taken.
    pub async fn acquire_by(&self, latest: Instant) -> bool {
        loop {
            let start = {
                let mut state = self.lock();
                let now = Instant::now();
                let tolerance = self
                    .interval
                    .checked_mul(self.burst - 1)
                    .unwrap_or(Duration::MAX);
                let tat = state.tat.unwrap_or(now).max(now);
                let mut start = tat.checked_sub(tolerance).unwrap_or(now).max(now);
                if let Some(paused) = state.paused_until {
                    start = start.max(paused);
                }
                if start > latest {
                    return false;
                }
                // The bucket drains one interval per request from the later of now and the
                // turn's start (a pause refills nothing).
                state.tat = Some(tat.max(start) + self.interval);
                start
            };
            tokio::time::sleep_until(start).await;
            // A 429 seen while this caller slept pauses it too: take a turn after the pause.
            let paused = self.lock().paused_until;
            match paused {
                Some(until) if until > Instant::now() => continue,
                _ => return true,
            }
        }
    }

    /// Takes the next turn, however long it takes.
    pub async fn acquire(&self) {
        loop {
            let now = Instant::now();
            let far = now
                .checked_add(Duration::from_secs(365 * 86_400))
                .unwrap_or(now);
            if self.acquire_by(far).await {
                return;
            }
            tokio::time::sleep_until(far).await;
        }
    }

    /// No request starts before `until` (a 429's `Retry-After`); an earlier pause is extended,
    /// never shortened.
    pub fn pause_until(&self, until: Instant) {
        let mut state = self.lock();
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    /// When the current pause ends, if one is in force.
    pub fn paused_until(&self) -> Option<Instant> {
        self.lock()
            .paused_until
            .filter(|until| *until > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_at_the_rate_after_the_burst() {
        let limiter = RateLimiter::new(5.0, 2);
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..6 {
            limiter.acquire().await;
            starts.push(Instant::now() - t0);
        }
        let ms: Vec<u128> = starts.iter().map(|d| d.as_millis()).collect();
        // Two at once (the burst), then one every 200 ms.
        assert_eq!(ms, vec![0, 0, 200, 400, 600, 800]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::new(4.0, 1));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut starts = Vec::new();
                for _ in 0..3 {
                    limiter.acquire().await;
                    starts.push((Instant::now() - t0).as_millis());
                }
                starts
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort_unstable();
        // Twelve requests from four callers: one every 250 ms, never two at once.
        let expected: Vec<u128> = (0..12).map(|i| i * 250).collect();
        assert_eq!(all, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_even_those_already_waiting() {
        let limiter = std::sync::Arc::new(RateLimiter::new(10.0, 1));
        let t0 = Instant::now();
        limiter.acquire().await; // turn at 0; the next is due at 100 ms
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire().await;
                (Instant::now() - t0).as_millis()
            })
        };
        tokio::task::yield_now().await; // the waiter took the 100 ms turn and sleeps
        limiter.pause_until(t0 + Duration::from_secs(5));
        limiter.acquire().await;
        let me = (Instant::now() - t0).as_millis();
        let other = waiting.await.unwrap();
        let mut both = [me, other];
        both.sort_unstable();
        assert!(
            both[0] >= 5_000,
            "a request started during the pause: {both:?}"
        );
        assert!(
            both[1] >= both[0] + 100,
            "the pause let two start at once: {both:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_past_the_latest_start_is_not_taken() {
        let limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        assert!(limiter.acquire_by(t0).await);
        // The next turn is at 1 s: too late for a caller that must start by 0.5 s…
        assert!(!limiter.acquire_by(t0 + Duration::from_millis(500)).await);
        assert_eq!(Instant::now(), t0, "refusing must not wait");
        // …and refusing did not use it up.
        assert!(limiter.acquire_by(t0 + Duration::from_secs(1)).await);
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
    }

    #[test]
    fn nonsense_rates_fall_back_to_something_finite() {
        assert_eq!(RateLimiter::new(0.0, 0).interval(), Duration::from_secs(1));
        assert_eq!(
            RateLimiter::new(f64::NAN, 1).interval(),
            Duration::from_secs(1)
        );
        assert_eq!(
            RateLimiter::new(1e-12, 1).interval(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            RateLimiter::new(5.0, 1).interval(),
            Duration::from_millis(200)
        );
    }
}
