//! The example host end to end, in one test binary: the host runs in-process on ephemeral 127.0.0.1 ports with a
//! fake of its providers on another loopback port ([`server_support::Host`], shared by every module), on SQLite or
//! a fresh Postgres schema. `server`: GitHub, Slack and Tally through every route, and several hosts on one Postgres
//! database; `gitlab`: GitLab configured by its flags alone; `browser`: the timeline page in headless Chromium.
//! (`tests/crash.rs`, which kills the real binary, is a binary of its own.)

// Tally, the fourth service the library's own tests define from outside, with its scripted fake.
#[path = "../../../../tests/plugin/tally.rs"]
mod outside_plugin;
mod server_support;

mod browser;
mod gitlab;
mod server;
