//! When and how long to wait before trying a read again: bounded exponential backoff with full
//! jitter, honouring `Retry-After`. Pure policy; `http::send_read` and the UPM client apply it,
//! and only to requests that change nothing (a mutating request is never blindly repeated).

use std::time::{Duration, SystemTime};

/// Bounds for retrying reads (GET, HEAD, the upm-token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts: u32,
    /// No retry starts after this much time since the first attempt.
    pub max_total: Duration,
    /// The first backoff's ceiling; each retry doubles it, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            max_total: Duration::from_secs(60),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// How long to wait before attempt `attempt + 1` (attempts count from 1), or `None` when the
    /// bounds are reached. `elapsed` is the time since the first attempt; `retry_after` is what
    /// the server asked for (429/503), honoured as long as it fits the total bound.
    pub fn delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        // Full jitter: spread clients that failed together (a load balancer's 503) apart.
        let jittered = Duration::from_millis(rng.u64(0..=ceiling.as_millis().max(1) as u64));
        let wait = retry_after.map_or(jittered, |asked| asked.max(jittered));
        (elapsed + wait <= self.max_total).then_some(wait)
    }
}

/// Statuses worth another try: the server or something in front of it is busy or restarting.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// The wait a `Retry-After` value asks for, at `now`: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 9110 §10.2.3), a date in the past meaning no wait.
/// `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_bounded() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..policy.attempts {
            let ceiling = policy.base_delay * 2u32.pow(attempt - 1);
            let wait = policy
                .delay(attempt, Duration::ZERO, None, &mut rng)
                .unwrap();
            assert!(
                wait <= ceiling.min(policy.max_delay),
                "attempt {attempt}: {wait:?}"
            );
        }
        assert_eq!(
            policy.delay(policy.attempts, Duration::ZERO, None, &mut rng),
            None,
            "attempts bound"
        );
        assert_eq!(
            policy.delay(1, Duration::from_secs(60), None, &mut rng),
            None,
            "time bound"
        );
        assert_eq!(
            RetryPolicy::none().delay(1, Duration::ZERO, None, &mut rng),
            None
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_total_bound() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let wait = policy
            .delay(1, Duration::ZERO, Some(Duration::from_secs(3)), &mut rng)
            .unwrap();
        assert!(wait >= Duration::from_secs(3));
        assert_eq!(
            policy.delay(
                1,
                Duration::from_secs(58),
                Some(Duration::from_secs(3)),
                &mut rng
            ),
            None
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        // 10 s after `now`, in the HTTP-date form.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past asks for no wait"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_busy_statuses_are_retried() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status));
        }
        for status in [200, 303, 400, 401, 403, 404, 409, 412] {
            assert!(!is_retryable_status(status));
        }
    }
}
