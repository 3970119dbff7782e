//! Plugins (`src/plugin/`, `src/integration/`): the registry, configuration schemas, integration records, and the
//! contract proven from outside by Tally (`tally.rs`), a whole plugin written against the public API only.

mod tally;

mod configuration;
mod integration_record;
mod outside_plugin;
mod plugin;
