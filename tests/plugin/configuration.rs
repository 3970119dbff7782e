//! Configuration schemas: every validation error kind, all problems reported at once, and the JSON a UI renders.

use serde_json::json;
use spark_integrations::plugin::{
    Descriptor, Field, FieldError, FieldOption, FieldType, Format, Plugin, Schema, ValidationErrors,
};
use spark_integrations::providers::github::{self, GithubPlugin};
use spark_integrations::providers::slack::{self, SlackPlugin};

/// A schema with one field of each type.
fn every_type() -> Schema {
    Schema::new()
        .field(Field::new("name", FieldType::String, "Name").required())
        .field(
            Field::new("limit", FieldType::Integer, "Limit")
                .options([FieldOption::new("10", "Ten"), FieldOption::new("50", "Fifty")]),
        )
        .field(Field::new("public", FieldType::Boolean, "Public"))
        .field(
            Field::new("repositories", FieldType::StringArray, "Repositories")
                .required()
                .format(Format::OwnerName),
        )
}

fn errors(schema: &Schema, value: serde_json::Value) -> ValidationErrors {
    match schema.validate(&value) {
        Ok(configuration) => panic!("expected errors, got {configuration:?}"),
        Err(errors) => errors,
    }
}

fn only_error(schema: &Schema, value: serde_json::Value) -> FieldError {
    let mut errors = errors(schema, value).into_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

#[test]
fn missing_required_field() {
    let error = only_error(&every_type(), json!({"repositories": ["a/b"]}));
    assert_eq!(error.path(), "name");
    insta::assert_snapshot!(error, @"`name`: required field is missing");
    // `null` counts as missing.
    let error = only_error(&every_type(), json!({"name": null, "repositories": ["a/b"]}));
    assert!(matches!(error, FieldError::Missing { .. }));
}

#[test]
fn empty_required_field() {
    let error = only_error(&every_type(), json!({"name": "x", "repositories": []}));
    insta::assert_snapshot!(error, @"`repositories`: required field is empty");
    let error = only_error(&every_type(), json!({"name": "", "repositories": ["a/b"]}));
    insta::assert_snapshot!(error, @"`name`: required field is empty");
}

#[test]
fn wrong_type() {
    let schema = every_type();
    let error = only_error(&schema, json!({"name": 5, "repositories": ["a/b"]}));
    insta::assert_snapshot!(error, @"`name`: expected a string, found an integer");
    let error = only_error(&schema, json!({"name": "x", "limit": 1.5, "repositories": ["a/b"]}));
    insta::assert_snapshot!(error, @"`limit`: expected an integer, found a number");
    let error = only_error(
        &schema,
        json!({"name": "x", "limit": u64::MAX, "repositories": ["a/b"]}),
    );
    insta::assert_snapshot!(error, @"`limit`: expected an integer, found an integer out of range");
    let error = only_error(&schema, json!({"name": "x", "public": "yes", "repositories": ["a/b"]}));
    insta::assert_snapshot!(error, @"`public`: expected a boolean, found a string");
    let error = only_error(&schema, json!({"name": "x", "repositories": "a/b"}));
    insta::assert_snapshot!(error, @"`repositories`: expected an array of strings, found a string");
}

#[test]
fn wrong_element_type_names_the_index() {
    let error = only_error(
        &every_type(),
        json!({"name": "x", "repositories": ["a/b", "c/d", {"owner": "e"}]}),
    );
    assert_eq!(error.path(), "repositories[2]");
    insta::assert_snapshot!(error, @"`repositories[2]`: expected a string, found an object");
}

#[test]
fn value_outside_options() {
    let error = only_error(
        &every_type(),
        json!({"name": "x", "limit": 20, "repositories": ["a/b"]}),
    );
    insta::assert_snapshot!(error, @"`limit`: `20` is not one of the allowed options");
    let error = only_error(
        &GithubPlugin::new().configuration_schema().clone(),
        json!({
            "repositories": ["octocat/Hello-World"],
            "events": ["PushEvent", "push"],
        }),
    );
    insta::assert_snapshot!(error, @"`events[1]`: `push` is not one of the allowed options");
}

#[test]
fn bad_format() {
    let error = only_error(
        &every_type(),
        json!({"name": "x", "repositories": ["a/b", "c/d", "octocat"]}),
    );
    assert_eq!(error.path(), "repositories[2]");
    insta::assert_snapshot!(error, @"`repositories[2]`: `octocat` is not in the form `owner/name`");
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(500);
    let error = only_error(&every_type(), json!({"name": "x", "repositories": [long]}));
    let FieldError::BadFormat { value, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(value.len(), 103);
    assert!(value.ends_with("..."));
}

#[test]
fn arrays_are_capped_at_a_hundred_unless_the_plugin_says_otherwise() {
    let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("octo/repo-{i}")).collect() };
    let schema = every_type();
    assert!(
        schema
            .validate(&json!({"name": "n", "repositories": names(100)}))
            .is_ok()
    );
    let error = only_error(&schema, json!({"name": "n", "repositories": names(100_000)}));
    insta::assert_snapshot!(error, @"`repositories`: 100000 elements, more than the 100 allowed");
    assert_eq!(error.path(), "repositories");
    let github = GithubPlugin::new();
    let refused = github
        .configuration_schema()
        .validate(&json!({"repositories": names(101), "events": ["PushEvent"]}));
    assert!(matches!(
        refused.unwrap_err().errors(),
        [FieldError::TooMany { len: 101, max: 100, .. }]
    ));
    let wider = Schema::new().field(Field::new("tags", FieldType::StringArray, "Tags").max_items(3));
    assert!(wider.validate(&json!({"tags": ["a", "b", "c"]})).is_ok());
    assert!(wider.validate(&json!({"tags": ["a", "b", "c", "d"]})).is_err());
}

#[test]
fn unknown_field() {
    let error = only_error(
        &every_type(),
        json!({"name": "x", "repositories": ["a/b"], "colour": "red"}),
    );
    insta::assert_snapshot!(error, @"`colour`: unknown field");
}

#[test]
fn not_an_object() {
    let error = only_error(&every_type(), json!(["name"]));
    assert_eq!(error.path(), "");
    insta::assert_snapshot!(error, @"the configuration must be a JSON object, found an array");
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = errors(
        &GithubPlugin::new().configuration_schema().clone(),
        json!({
            "repositories": ["octocat/Hello-World", 7, "not a repository"],
            "events": "PushEvent",
            "token": "ghp_x",
        }),
    );
    let paths: Vec<_> = errors.errors().iter().map(FieldError::path).collect();
    assert_eq!(paths, ["repositories[1]", "repositories[2]", "events", "token"]);
    insta::assert_snapshot!(errors, @"invalid configuration (4 problems): `repositories[1]`: expected a string, found an integer; `repositories[2]`: `not a repository` is not in the form `owner/name`; `events`: expected an array of strings, found a string; `token`: unknown field");
}

#[test]
fn a_valid_configuration_keeps_known_fields_and_drops_nulls() {
    let configuration = every_type()
        .validate(&json!({"name": "x", "limit": 50, "public": null, "repositories": ["a/b", "c/d"]}))
        .expect("valid");
    assert_eq!(configuration.string("name"), Some("x"));
    assert_eq!(configuration.integer("limit"), Some(50));
    assert_eq!(configuration.boolean("public"), None);
    assert_eq!(
        configuration.strings("repositories").collect::<Vec<_>>(),
        ["a/b", "c/d"]
    );
    assert_eq!(
        configuration.into_value(),
        json!({"name": "x", "limit": 50, "repositories": ["a/b", "c/d"]})
    );
}

#[test]
fn the_github_schema_offers_exactly_the_converted_events_api_types() {
    let plugin = GithubPlugin::new();
    let events = plugin.configuration_schema().get("events").expect("events field");
    let values: Vec<_> = events.options.iter().map(|option| option.value.as_str()).collect();
    assert_eq!(values, github::EVENTS_API_TYPES);
    assert!(events.required);
    let all = json!({"repositories": ["octocat/Hello-World"], "events": github::EVENTS_API_TYPES});
    assert!(plugin.configuration_schema().validate(&all).is_ok());
}

#[test]
fn the_slack_schema_offers_exactly_the_converted_event_types() {
    let plugin = SlackPlugin::new();
    let events = plugin.configuration_schema().get("events").expect("events field");
    let values: Vec<_> = events.options.iter().map(|option| option.value.as_str()).collect();
    assert_eq!(values, slack::EVENT_TYPES);
    let error = only_error(plugin.configuration_schema(), json!({}));
    insta::assert_snapshot!(error, @"`events`: required field is missing");
}

#[test]
fn github_descriptor_json() {
    insta::assert_json_snapshot!("github_descriptor", Descriptor::of(&GithubPlugin::new()));
}

#[test]
fn slack_descriptor_json() {
    insta::assert_json_snapshot!("slack_descriptor", Descriptor::of(&SlackPlugin::new()));
}

mod properties {
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use spark_integrations::plugin::Plugin;
    use spark_integrations::providers::github::GithubPlugin;

    /// Any JSON value, biased towards the GitHub schema's field names and values so that both arms are exercised.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just("octocat/Hello-World".to_owned()),
                Just("PushEvent".to_owned()),
                ".{0,12}".prop_map(String::from),
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            let key = prop_oneof![Just("repositories".to_owned()), Just("events".to_owned()), "[a-z]{1,6}"];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..4).prop_map(|pairs| Value::Object(Map::from_iter(pairs))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Validation never panics; a valid configuration validates again to itself; every problem names a path
        /// that is a schema field, an element of one, or a key of the input.
        #[test]
        fn validation_is_total_and_names_real_paths(value in json()) {
            let plugin = GithubPlugin::new();
            let schema = plugin.configuration_schema();
            match schema.validate(&value) {
                Ok(configuration) => {
                    let again = schema.validate(&configuration.clone().into_value());
                    prop_assert_eq!(again.ok(), Some(configuration));
                }
                Err(errors) => {
                    prop_assert!(!errors.errors().is_empty());
                    for error in &errors {
                        let path = error.path();
                        let field = path.split('[').next().unwrap_or(path);
                        let known = schema.get(field).is_some();
                        let in_input = value.as_object().is_some_and(|object| object.contains_key(path));
                        prop_assert!(path.is_empty() || known || in_input, "{path}");
                    }
                }
            }
        }
    }
}
