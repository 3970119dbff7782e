//! Recorded payloads bent out of shape, for the converters' property tests: JSON trees grown from given leaves, every
//! node path of a value, and a value with the node at one path replaced.

use proptest::prelude::*;
use serde_json::Value;

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

/// Every node path of `value` (the root's, the empty path, first), as lists of keys and indexes.
pub(crate) fn paths(value: &Value) -> Vec<Vec<String>> {
    fn walk(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(key.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    prefix.push(index.to_string());
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

/// Replaces the node of `value` at `path` (one of [`paths`]) with `with`.
pub(crate) fn replace(value: &mut Value, path: &[String], with: Value) {
    let mut node = value;
    for step in path {
        node = match node {
            Value::Object(map) => map.get_mut(step).expect("path from this value"),
            Value::Array(items) => items
                .get_mut(step.parse::<usize>().expect("an index"))
                .expect("path from this value"),
            _ => unreachable!("paths only descend into containers"),
        };
    }
    *node = with;
}
