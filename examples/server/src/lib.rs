//! The example integration host, as a library: the binary `spark-host` (`src/main.rs`) parses its flags and serves
//! [`app::router`]; the end-to-end tests (`tests/host/`) run the same router in-process.
//!
//! Everything here is I/O the library leaves to its host: axum serves, ureq calls out, SQLite or PostgreSQL stores,
//! the clock and the operating system's random source are read here.

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod enrich;
pub mod http_client;
pub mod inbox;
pub mod page;
pub mod poller;
pub mod routes;
pub mod routing;
pub mod services;
pub mod store;
