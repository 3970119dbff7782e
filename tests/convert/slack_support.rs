//! Helpers shared by the Slack test files: the converter with a fixed context, the fixture list, and the JSON
//! rendering of a conversion that the snapshots hold.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload};
use spark_integrations::providers::slack::SlackConverter;

/// The time every test conversion was "received": far from any fixture's own time, so a fallback shows.
pub(crate) fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).single().expect("valid date")
}

/// Converts `body` as a Slack webhook body.
pub(crate) fn convert(body: &[u8]) -> Result<Conversion, ConvertError> {
    let payload = Payload::Webhook {
        event: None,
        delivery_id: None,
        body,
    };
    SlackConverter.convert(
        payload,
        &ConvertContext::new(received_at()).with_integration("slack-test"),
    )
}

/// Every `.json` file in `fixtures/slack/`, sorted.
pub(crate) fn fixture_paths() -> Vec<PathBuf> {
    crate::fixture_files("slack", "json")
}

/// The conversion as the JSON a reviewer reads: its status and the events, skip reason, challenge or error.
pub(crate) fn render(result: &Result<Conversion, ConvertError>) -> Value {
    match result {
        Ok(Conversion::Converted(events)) => json!({ "status": "converted", "events": events }),
        Ok(Conversion::Skipped(reason)) => json!({ "status": "skipped", "reason": reason.to_string() }),
        Ok(Conversion::Challenge(challenge)) => json!({ "status": "challenge", "challenge": challenge }),
        Ok(other) => json!({ "status": "other", "debug": format!("{other:?}") }),
        Err(error) => json!({ "status": "error", "error": error.to_string() }),
    }
}
