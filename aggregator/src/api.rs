//! A client-side rate limit per API family and a count of every call, so that a large run neither
//! starves other users of the same quotas nor hides what it cost. Both live inside each SDK client, so
//! no call site can forget them and the SDK's retries are held and counted like first attempts.
//!
//! - **The limit** ([`Api::pace`]): every attempt waits for a token of its family's bucket (a GCRA token
//!   bucket from the `governor` crate) before it is signed and sent — a retry of a throttled request as
//!   much as a first try ([`awsbase::pace`] says where the wait sits, and why there). The SDK's standard
//!   retry with backoff absorbs what the service still throttles.
//! - **The count** ([`Api::counter`]): an interceptor counts every attempt just before it is sent, under
//!   `service:Operation` (the IAM action's spelling): the run summary's `api_calls_by_operation` is what
//!   the services received, throttled requests too.
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
//! Lambda and CloudWatch quotas are the member account's, per Region: each of their clients (one per
//! (account, Region)) gets a bucket of its own; Config's and Organizations' clients share the run's.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
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

/// The API families: each counted, the limited ones with a bucket ([`Api::pace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Config,
    Organizations,
    /// S3 (the snapshot, its summary, the cache): counted, not limited (S3 allows 3,500 writes/s
    /// per prefix; a run makes a handful of calls).
    S3,
    /// SSM (the catalog overlay, one GetParameter): counted, not limited.
    Ssm,
    /// Lambda in one member (account, Region): a bucket per pair (per client, [`Api::pace`]).
    Lambda,
    /// CloudWatch in one member (account, Region): a bucket per pair (per client, [`Api::pace`]).
    CloudWatch,
}

impl Family {
    /// The service's prefix in IAM actions, which the counts use (`config:SelectAggregateResourceConfig`).
    pub fn service(self) -> &'static str {
        match self {
            Family::Config => "config",
            Family::Organizations => "organizations",
            Family::S3 => "s3",
            Family::Ssm => "ssm",
            Family::Lambda => "lambda",
            Family::CloudWatch => "cloudwatch",
        }
    }
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
    config: Arc<DefaultDirectRateLimiter>,
    organizations: Arc<DefaultDirectRateLimiter>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Api {
    pub fn new(limits: RateLimits) -> Api {
        Api {
            limits,
            config: Arc::new(RateLimiter::direct(quota(limits.config))),
            organizations: Arc::new(RateLimiter::direct(quota(limits.organizations))),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// The identity cache a `family` client on `sdk` is built with
    /// (`.identity_cache(api.pace(&sdk, Family::Config))`): the SDK's own cache, behind a wait for a
    /// token of the family's bucket on every attempt — the run's bucket for Config and Organizations, a
    /// new one for each Lambda and CloudWatch client (one per member pair). S3 and SSM are not limited:
    /// their clients keep the SDK's cache.
    pub fn pace(&self, sdk: &SdkConfig, family: Family) -> SharedIdentityCache {
        let bucket = match family {
            Family::Config => self.config.clone(),
            Family::Organizations => self.organizations.clone(),
            Family::Lambda => Arc::new(RateLimiter::direct(quota(self.limits.lambda))),
            Family::CloudWatch => Arc::new(RateLimiter::direct(quota(self.limits.cloudwatch))),
            Family::S3 | Family::Ssm => return awsbase::pace::sdk_identity_cache(sdk),
        };
        awsbase::pace::identity_cache(sdk, bucket)
    }

    /// The interceptor that counts every attempt of a `family` client's operations; give it to the
    /// client's config builder (`.interceptor(api.counter(Family::Config))`).
    pub fn counter(self: &Arc<Self>, family: Family) -> CountAttempts {
        CountAttempts {
            api: self.clone(),
            service: family.service(),
        }
    }

    /// Counts a call made outside the counted clients (STS's AssumeRole, inside the SDK's provider).
    pub fn count(&self, operation: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(operation.to_string()).or_default() += 1;
        }
    }

    /// Calls so far by operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().map(|calls| calls.clone()).unwrap_or_default()
    }
}

/// Counts every attempt of its client's operations under `service:Operation` (the operation's name
/// from the SDK's metadata), just before the request is sent: a retry is a call the service receives.
#[derive(Clone)]
pub struct CountAttempts {
    api: Arc<Api>,
    service: &'static str,
}

impl std::fmt::Debug for CountAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountAttempts")
            .field("service", &self.service)
            .finish()
    }
}

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        self.api.count(&format!("{}:{operation}", self.service));
        Ok(())
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

    /// A connector that answers Config's ThrottlingException `throttles` times, then empty pages, and
    /// notes when each request arrived.
    #[derive(Debug, Default, Clone)]
    struct ThrottleThenAnswer {
        throttles: Arc<std::sync::atomic::AtomicU32>,
        arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
    }

    impl aws_smithy_runtime_api::client::http::HttpConnector for ThrottleThenAnswer {
        fn call(
            &self,
            _request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
        ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
            use std::sync::atomic::Ordering;
            if let Ok(mut arrivals) = self.arrivals.lock() {
                arrivals.push(std::time::Instant::now());
            }
            let throttled = self
                .throttles
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
                .is_ok();
            let (status, body) = match throttled {
                true => (
                    400,
                    r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                ),
                false => (200, r#"{"ConfigRules":[]}"#),
            };
            aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(
                aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                    status.try_into().expect("a status code"),
                    aws_smithy_types::body::SdkBody::from(body),
                ),
            ))
        }
    }

    /// A Config client built as the aggregator builds it, on `connector`, retrying after 1 ms.
    fn config_client(api: &Arc<Api>, connector: ThrottleThenAnswer) -> aws_sdk_config::Client {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
            ))
            .http_client(aws_smithy_runtime_api::client::http::http_client_fn(
                move |_, _| aws_smithy_runtime_api::client::http::SharedHttpConnector::new(connector.clone()),
            ))
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build();
        aws_sdk_config::Client::from_conf(
            aws_sdk_config::config::Builder::from(&sdk)
                .identity_cache(api.pace(&sdk, Family::Config))
                .interceptor(api.counter(Family::Config))
                .build(),
        )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_attempt_waits_for_a_token_and_is_counted_retries_included() {
        let api = Arc::new(Api::new(RateLimits {
            config: 20.0,
            ..RateLimits::default()
        }));
        let connector = ThrottleThenAnswer {
            throttles: Arc::new(2.into()),
            ..Default::default()
        };
        let config = config_client(&api, connector.clone());
        config
            .describe_config_rules()
            .send()
            .await
            .expect("answered after two throttles");
        config.describe_config_rules().send().await.expect("answered");
        api.count("sts:AssumeRole");
        assert_eq!(
            api.calls(),
            BTreeMap::from([
                ("config:DescribeConfigRules".to_string(), 4),
                ("sts:AssumeRole".to_string(), 1)
            ])
        );
        // 20 calls/s: the retries (1 ms backoff) waited for their tokens like the first attempts, 50 ms
        // apart (GCRA, no burst; a little less allowed for the clocks' granularity).
        let arrivals = connector.arrivals.lock().expect("arrivals").clone();
        assert_eq!(arrivals.len(), 4);
        for pair in arrivals.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= Duration::from_millis(45), "{gap:?} between attempts");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unlimited_families_keep_the_sdk_cache_and_are_only_counted() {
        let api = Arc::new(Api::default());
        let sdk = aws_config::SdkConfig::builder().build();
        let s3 = format!("{:?}", api.pace(&sdk, Family::S3));
        let config = format!("{:?}", api.pace(&sdk, Family::Config));
        assert!(!s3.contains("PacedIdentityCache"), "{s3}");
        assert!(config.contains("PacedIdentityCache"), "{config}");
    }
}
