//! Helpers the GitLab test files share: fixtures, a fixed context, the two ways to convert, rendering.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload};
use spark_integrations::model::Event;
use spark_integrations::providers::gitlab::{GitlabConverter, Instance};

pub(crate) const DELIVERY_ID: &str = "9e2f4a3c-7b1d-4f0e-8c5a-2d6b9e1f0a37";

pub(crate) fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0).single().expect("valid time")
}

pub(crate) fn context() -> ConvertContext {
    ConvertContext::new(received_at())
}

/// The converter of gitlab.com.
pub(crate) fn converter() -> GitlabConverter {
    GitlabConverter::new(Instance::gitlab_com())
}

/// Every `.json` file of `fixtures/gitlab/<folder>`, sorted.
pub(crate) fn fixtures(folder: &str) -> Vec<PathBuf> {
    crate::fixture_files(&format!("gitlab/{folder}"), "json")
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().expect("a file").to_string_lossy().into_owned()
}

/// The `X-Gitlab-Event` of a webhook fixture, from its name up to the first dot: `merge_request_hook` ->
/// `Merge Request Hook`.
pub(crate) fn webhook_event(path: &Path) -> String {
    let kind = file_name(path).split('.').next().expect("a name").to_owned();
    kind.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn polled(body: &[u8]) -> Result<Conversion, ConvertError> {
    converter().convert(Payload::Polled { body }, &context())
}

pub(crate) fn webhook(event: &str, body: &[u8]) -> Result<Conversion, ConvertError> {
    let payload = Payload::Webhook {
        event: Some(event),
        delivery_id: Some(DELIVERY_ID),
        body,
    };
    converter().convert(payload, &context())
}

pub(crate) fn single_event(conversion: Result<Conversion, ConvertError>) -> Event {
    match conversion {
        Ok(Conversion::Converted(mut events)) if events.len() == 1 => events.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

pub(crate) fn render(conversion: &Result<Conversion, ConvertError>) -> Value {
    match conversion {
        Ok(Conversion::Converted(events)) => json!({ "status": "converted", "events": events }),
        Ok(Conversion::Skipped(reason)) => json!({ "status": "skipped", "reason": reason.to_string() }),
        Ok(other) => json!({ "status": "other", "debug": format!("{other:?}") }),
        Err(error) => json!({ "status": "error", "error": error.to_string() }),
    }
}

pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).expect("readable fixture")).expect("JSON fixture")
}
