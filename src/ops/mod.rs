//! What a run leaves for the operator: the approval of held plans
//! ([`approval`]), the journal of intents ([`journal`]), how a run ended
//! ([`outcome`]), the run report ([`report`]) and the Prometheus metrics
//! ([`metrics`]).

pub mod approval;
pub mod journal;
pub mod metrics;
pub mod outcome;
pub mod report;
