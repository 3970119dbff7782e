//! Helpers the GitHub test files share: fixtures, a fixed context, and the two ways to convert.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use spark_integrations::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload};
use spark_integrations::model::Event;
use spark_integrations::providers::github::GithubConverter;

pub(crate) const DELIVERY_ID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

pub(crate) fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0).single().expect("valid time")
}

pub(crate) fn context() -> ConvertContext {
    ConvertContext::new(received_at())
}

pub(crate) use crate::fixture_files as fixtures;

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().expect("a file").to_string_lossy().into_owned()
}

/// The `X-GitHub-Event` of a webhook fixture: its name up to the first dot.
pub(crate) fn webhook_event(path: &Path) -> String {
    file_name(path).split('.').next().expect("a name").to_owned()
}

pub(crate) fn polled(body: &[u8]) -> Result<Conversion, ConvertError> {
    GithubConverter.convert(Payload::Polled { body }, &context())
}

pub(crate) fn webhook(event: &str, body: &[u8]) -> Result<Conversion, ConvertError> {
    let payload = Payload::Webhook {
        event: Some(event),
        delivery_id: Some(DELIVERY_ID),
        body,
    };
    GithubConverter.convert(payload, &context())
}

pub(crate) fn single_event(conversion: Result<Conversion, ConvertError>) -> Event {
    match conversion {
        Ok(Conversion::Converted(mut events)) if events.len() == 1 => events.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

/// The path of a fixture file under `fixtures/`.
pub(crate) fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(relative)
}
