//! A client-side rate limit that holds every attempt of an SDK client, the SDK's retries included.
//!
//! The wait for a token sits in the client's identity cache: a wrapper around the SDK's own, which the
//! SDK calls once per attempt, right before it signs the request (aws-smithy-runtime's `try_attempt`).
//! It is the one asynchronous, per-attempt step before signing that a client takes from outside: a wait
//! in the HTTP connector would come after signing (a wait of more than five minutes sends an expired
//! SigV4 signature, and the SDK's stalled-stream protection fails a request whose body is not read
//! within its grace period), and a client takes no retry strategy of ours (`runtime_plugin` is
//! crate-private in the generated clients). So a retry of a throttled request waits for its token like
//! a first try — throttling is when the quota is contended, the worst time for unpaced calls.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::identity::{
    IdentityFuture, ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;
use governor::DefaultDirectRateLimiter;

/// A token bucket shared by the clients it holds.
pub type Bucket = Arc<DefaultDirectRateLimiter>;

/// The identity cache for a client on `sdk` whose every attempt waits for a token of `bucket`:
/// `.identity_cache(awsbase::pace::identity_cache(&sdk, bucket))` on the client's config builder.
pub fn identity_cache(sdk: &SdkConfig, bucket: Bucket) -> SharedIdentityCache {
    SharedIdentityCache::new(PacedIdentityCache {
        inner: sdk_identity_cache(sdk),
        bucket,
    })
}

/// The identity cache a client on `sdk` has without a pace: `sdk`'s, or the SDK's default (lazy).
pub fn sdk_identity_cache(sdk: &SdkConfig) -> SharedIdentityCache {
    sdk.identity_cache()
        .unwrap_or_else(|| IdentityCache::lazy().build())
}

struct PacedIdentityCache {
    inner: SharedIdentityCache,
    bucket: Bucket,
}

impl std::fmt::Debug for PacedIdentityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacedIdentityCache")
            .field("inner", &self.inner)
            .finish()
    }
}

impl ResolveCachedIdentity for PacedIdentityCache {
    fn resolve_cached_identity<'a>(
        &'a self,
        resolver: SharedIdentityResolver,
        runtime_components: &'a RuntimeComponents,
        config_bag: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        IdentityFuture::new(async move {
            self.bucket.until_ready().await;
            self.inner
                .resolve_cached_identity(resolver, runtime_components, config_bag)
                .await
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }
}
