//! Recorded payloads bent out of shape, for the converters' property tests: JSON trees grown from given leaves, every
//! node path of a value, a value with the node at one path deleted or replaced, and a fixture bent that way at a
//! picked place, as the payload a converter takes.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use spark_integrations::convert::Payload;

/// One step down a JSON value: an object's key or an array's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    /// The key, for a step into an object.
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Self::Key(key) => Some(key),
            Self::Index(_) => None,
        }
    }
}

/// The scalar leaves every provider's arbitrary JSON is made of: `null`, booleans, integers of both signs, finite
/// floats and short strings, equally likely. Providers add their own leaves beside it, weighted so that each of these
/// six stays as likely as each of theirs: `prop_oneof![6 => scalars(), 1 => ...]`.
pub(crate) fn scalars() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
    .boxed()
}

/// Arrays and objects up to three levels deep around `leaf`.
pub(crate) fn tree(leaf: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every node path of `value`, the root's (the empty path) first.
pub(crate) fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(prefix.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(Step::Key(key.clone()));
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    prefix.push(Step::Index(index));
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// Deletes the node of `root` at `path` (one of [`paths`]) when `replacement` is `None`, or replaces it. Deleting
/// the root leaves `null`.
pub(crate) fn mutate(root: &mut Value, path: &[Step], replacement: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        *root = replacement.unwrap_or(Value::Null);
        return;
    };
    let mut node = root;
    for step in parents {
        node = match (node, step) {
            (Value::Object(map), Step::Key(key)) => map.get_mut(key).expect("a path from this value"),
            (Value::Array(items), Step::Index(index)) => &mut items[*index],
            _ => unreachable!("paths only descend into containers"),
        };
    }
    match (node, last, replacement) {
        (Value::Object(map), Step::Key(key), None) => {
            map.remove(key);
        }
        (Value::Object(map), Step::Key(key), Some(value)) => {
            map.insert(key.clone(), value);
        }
        (Value::Array(items), Step::Index(index), None) => {
            items.remove(*index);
        }
        (Value::Array(items), Step::Index(index), Some(value)) => items[*index] = value,
        _ => unreachable!("paths only descend into containers"),
    }
}

/// The fixture of `fixtures` that `pick` picks, with the node at the path `place` picks replaced by `with`, as bytes,
/// beside its webhook event name (`None` for a polled item).
pub(crate) fn bent(
    fixtures: &[(Option<String>, Value)],
    pick: Index,
    place: Index,
    with: Value,
) -> (Option<&str>, Vec<u8>) {
    let (event, body) = &fixtures[pick.index(fixtures.len())];
    let mut body = body.clone();
    let found = paths(&body);
    mutate(&mut body, &found[place.index(found.len())], Some(with));
    (event.as_deref(), body.to_string().into_bytes())
}

/// `body` as a converter takes it: a polled item without an event name, else a webhook delivery of `event`.
pub(crate) fn payload<'a>(event: Option<&'a str>, body: &'a [u8]) -> Payload<'a> {
    match event {
        None => Payload::Polled { body },
        Some(event) => Payload::Webhook {
            event: Some(event),
            delivery_id: Some("d"),
            body,
        },
    }
}
