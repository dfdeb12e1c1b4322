//! A client-side rate limit per API family and a count of every call, so that a large run neither
//! starves other users of the same quotas nor hides what it cost.
//!
//! Each request (one page) waits for a token of its family's bucket (a GCRA token bucket from the
//! `governor` crate) before it is sent; the SDK's standard retry with backoff still absorbs what the
//! service throttles on top of that. Every request is counted under `service:Operation` (the IAM
//! action's spelling); the run summary reports the counts as `api_calls_by_operation`.
//!
//! Defaults (research/scale-and-beyond-peers.md §1.2, §6.1):
//! - Config: AWS publishes **no** TPS for the aggregate read APIs (the quotas page lists only rule,
//!   aggregator and account counts); ThrottlingException on the Config reads is seen in the wild
//!   (elastic/integrations#15764). All aggregate reads share the aggregator account's quota, so one
//!   run is held to 10 calls/s (the research's planning figure), leaving headroom for the console
//!   and other tools of that account.
//! - Organizations: ListRoots is documented at "1 per second and 2 burst" (orgs_reference_limits, as
//!   quoted by aioboto3's docs), TooManyRequests is reported on ListParents/ListRoots above 250
//!   accounts (awslabs/aws-deployment-framework#788), and the other read APIs are ~1–2 calls/s: 2
//!   calls/s with a burst of 2.
//! - Lambda (the enrichment's member reads, [`crate::enrich`]): "15 requests per second" for the
//!   control-plane APIs of an account and Region together, shared by every caller and not raised on
//!   request (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Lambda API
//!   requests"): 10 calls/s per (account, Region), a third left to deployments and the rule.
//! - CloudWatch GetMetricData: 50 transactions a second per account and Region (CloudWatch service
//!   quotas, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html):
//!   20 calls/s per (account, Region), so that dashboards and alarms keep most of it.
//!
//! Lambda and CloudWatch quotas are the member account's, per Region: their buckets are per
//! (account, Region) ([`Api::pace`]), not one for the run.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Calls per second to Config (the aggregate reads and the rule look-ups) unless set otherwise.
pub const DEFAULT_CONFIG_PER_SECOND: f64 = 10.0;
/// Calls per second to Organizations unless set otherwise.
pub const DEFAULT_ORGANIZATIONS_PER_SECOND: f64 = 2.0;
/// Calls per second to Lambda in each (account, Region) unless set otherwise.
pub const DEFAULT_LAMBDA_PER_SECOND: f64 = 10.0;
/// Calls per second to CloudWatch (GetMetricData) in each (account, Region) unless set otherwise.
pub const DEFAULT_CLOUDWATCH_PER_SECOND: f64 = 20.0;
/// The largest rate accepted (a typo such as 10000 would disable the limit in effect).
pub const MAX_PER_SECOND: f64 = 1000.0;

/// The API families with a bucket of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Config,
    Organizations,
    /// S3 (the snapshot, its summary, the cache): counted, not limited (S3 allows 3,500 writes/s
    /// per prefix; a run makes a handful of calls).
    S3,
    /// Lambda in one member (account, Region): a bucket per pair ([`Api::pace`]).
    Lambda,
    /// CloudWatch in one member (account, Region): a bucket per pair ([`Api::pace`]).
    CloudWatch,
}

/// Calls per second for each limited family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub config: f64,
    pub organizations: f64,
    /// Per member (account, Region).
    pub lambda: f64,
    /// Per member (account, Region).
    pub cloudwatch: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            config: DEFAULT_CONFIG_PER_SECOND,
            organizations: DEFAULT_ORGANIZATIONS_PER_SECOND,
            lambda: DEFAULT_LAMBDA_PER_SECOND,
            cloudwatch: DEFAULT_CLOUDWATCH_PER_SECOND,
        }
    }
}

/// A rate as given by a user (flag or environment): a number of calls per second above 0 and at most
/// [`MAX_PER_SECOND`]; fractions are allowed (0.5 is one call every 2 s).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= MAX_PER_SECOND => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate: calls per second, a number above 0 and at most {MAX_PER_SECOND}"
        )),
    }
}

/// The token bucket for `per_second`: one token every 1/rate seconds and no burst, so that no
/// one-second window holds more than the rate (a burst of the rate on top of it would put twice the
/// rate into one second — over a quota of the same rate, throttled).
fn quota(per_second: f64) -> Quota {
    let per_second = per_second.clamp(f64::MIN_POSITIVE, MAX_PER_SECOND);
    let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN)
}

/// The limits and the counts of one run.
pub struct Api {
    limits: RateLimits,
    config: DefaultDirectRateLimiter,
    organizations: DefaultDirectRateLimiter,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

impl Api {
    pub fn new(limits: RateLimits) -> Api {
        Api {
            limits,
            config: RateLimiter::direct(quota(limits.config)),
            organizations: RateLimiter::direct(quota(limits.organizations)),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Waits for the family's token, then counts the call. `operation` is `service:Operation`.
    pub async fn call(&self, family: Family, operation: &'static str) {
        match family {
            Family::Config => self.config.until_ready().await,
            Family::Organizations => self.organizations.until_ready().await,
            // Held per pair by [`Api::call_paced`]; a call without its pair's bucket is only counted.
            Family::S3 | Family::Lambda | Family::CloudWatch => {}
        }
        self.count(operation);
    }

    /// A new bucket of `family`'s rate, for one member (account, Region).
    pub fn pace(&self, family: Family) -> DefaultDirectRateLimiter {
        let rate = match family {
            Family::Config => self.limits.config,
            Family::Organizations => self.limits.organizations,
            Family::Lambda => self.limits.lambda,
            Family::CloudWatch => self.limits.cloudwatch,
            Family::S3 => MAX_PER_SECOND,
        };
        RateLimiter::direct(quota(rate))
    }

    /// Waits for a token of `pace` (one pair's bucket, [`Api::pace`]), then counts the call.
    pub async fn call_paced(&self, pace: &DefaultDirectRateLimiter, operation: &'static str) {
        pace.until_ready().await;
        self.count(operation);
    }

    /// Counts a call that is not limited.
    pub fn count(&self, operation: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(operation).or_default() += 1;
        }
    }

    /// Calls so far by operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .map(|calls| calls.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap_or_default()
    }
}

impl Default for Api {
    fn default() -> Self {
        Api::new(RateLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_positive_numbers_within_bounds() {
        assert_eq!(parse_rate("10"), Ok(10.0));
        assert_eq!(parse_rate(" 0.5 "), Ok(0.5));
        for bad in ["0", "-1", "nan", "inf", "1001", "ten", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_hold_the_rate() {
        let ten = quota(10.0);
        assert_eq!(ten.burst_size().get(), 1);
        assert_eq!(ten.replenish_interval(), Duration::from_millis(100));
        let half = quota(0.5);
        assert_eq!(half.burst_size().get(), 1);
        assert_eq!(half.replenish_interval(), Duration::from_secs(2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_are_counted_and_held_to_the_rate() {
        let api = Api::new(RateLimits {
            config: 20.0,
            organizations: 1000.0,
            ..RateLimits::default()
        });
        let started = std::time::Instant::now();
        // 30 calls at 20/s, evenly spaced: at least 29 intervals of 50 ms.
        for _ in 0..30 {
            api.call(Family::Config, "config:Describe").await;
        }
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            started.elapsed()
        );
        api.call(Family::Organizations, "organizations:ListRoots").await;
        api.count("s3:PutObject");
        assert_eq!(
            api.calls(),
            BTreeMap::from([
                ("config:Describe".to_string(), 30),
                ("organizations:ListRoots".to_string(), 1),
                ("s3:PutObject".to_string(), 1)
            ])
        );
    }
}
