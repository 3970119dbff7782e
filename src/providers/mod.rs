//! The services this crate ships: each provider module holds its converters, its endpoints and quirks as data,
//! and (as they are built) its webhook verifier, OAuth settings and poller.

pub mod github;
pub mod gitlab;
pub mod slack;
