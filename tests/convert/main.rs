//! Converters (`src/convert.rs` and each provider's in `src/providers/`) and the enricher (`src/enrich.rs`, Slack's
//! in `src/providers/slack/enrich.rs`): every recorded fixture snapshotted, webhook and Events API paths compared,
//! properties on arbitrary input, Slack names looked up. One test binary, one module per concern.

mod github_common;
mod gitlab_common;
mod json_tree;
mod slack_support;

mod github;
mod github_errors;
mod github_pairs;
mod github_props;
mod gitlab;
mod gitlab_pairs;
mod gitlab_props;
mod properties;
mod slack;
mod slack_enrich;
mod slack_properties;

use std::path::{Path, PathBuf};

/// Every file of `fixtures/<folder>` whose name ends in `.<extension>`, sorted: what each provider's tests read.
pub(crate) fn fixture_files(folder: &str, extension: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("fixture folder {}: {error}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}
