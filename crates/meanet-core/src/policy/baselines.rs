//! The baselines MEANet is compared with (docs/method.md): BranchyNet-style entropy exit, edge only,
//! cloud only, main + extension without the cloud; and [`Named`], a policy under another name.

use super::{ExitPolicy, ExtensionRoute, Route, RouteReason};
use crate::numerics::{Measure, Scores};
use crate::partition::ClassPartition;

/// A policy under another name.
#[derive(Debug, Clone, PartialEq)]
pub struct Named<P> {
    /// The name.
    pub name: &'static str,
    /// The policy.
    pub inner: P,
}

impl<P: ExitPolicy> ExitPolicy for Named<P> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason) {
        self.inner.after_main(scores, partition)
    }
    fn after_extension(&self, scores: &Scores) -> (ExtensionRoute, RouteReason) {
        self.inner.after_extension(scores)
    }
}

/// BranchyNet-style entropy early exit without class awareness: main if confident, else cloud.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BranchyNet {
    /// The measure of `threshold`.
    pub measure: Measure,
    /// Exit at the main block when uncertainty `<= threshold`.
    pub threshold: f64,
}

impl ExitPolicy for BranchyNet {
    fn name(&self) -> &'static str {
        "entropy_exit"
    }

    fn after_main(&self, scores: &Scores, _: &ClassPartition) -> (Route, RouteReason) {
        if scores.uncertainty(self.measure) <= self.threshold {
            (Route::ExitMain, RouteReason::BelowThreshold)
        } else {
            (Route::Offload, RouteReason::AboveThreshold)
        }
    }

    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        // Never routes to the extension; answer there if a caller does anyway.
        (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
    }
}

/// Main block only: every sample exits at the main block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EdgeOnly;

impl ExitPolicy for EdgeOnly {
    fn name(&self) -> &'static str {
        "main_only"
    }
    fn after_main(&self, _: &Scores, _: &ClassPartition) -> (Route, RouteReason) {
        (Route::ExitMain, RouteReason::EdgeOnly)
    }
    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
    }
}

/// Cloud only: every sample is offloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloudOnly;

impl ExitPolicy for CloudOnly {
    fn name(&self) -> &'static str {
        "cloud_only"
    }
    fn after_main(&self, _: &Scores, _: &ClassPartition) -> (Route, RouteReason) {
        (Route::Offload, RouteReason::CloudOnly)
    }
    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        (ExtensionRoute::Offload, RouteReason::CloudOnly)
    }
}

/// Main + extension without a cloud: hard-class predictions always answer at the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MainExtension;

impl ExitPolicy for MainExtension {
    fn name(&self) -> &'static str {
        "main_extension"
    }
    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason) {
        if partition.is_hard(scores.class) {
            (Route::RunExtension, RouteReason::HardClass)
        } else {
            (Route::ExitMain, RouteReason::EdgeOnly)
        }
    }
    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
    }
}
