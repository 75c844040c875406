//! One event of every kind of `wit/telemetry.wit`, as data: `tests/events/every-kind.json`.
//! The tests that want an event of each kind read it: the golden files and the privacy tests
//! of the component and the every-event and hostile fixture agents through this crate; the
//! Node script (tests/node), and for their session's events the Python and JavaScript agents,
//! in their own languages. A new kind is added to the WIT and to that file.
//!
//! The file is a JSON array. Each event is an object with one key, the name of its case of
//! the WIT's `event` variant (`tool-call`), whose value is the case's record: every field by
//! the name the WIT gives it (`session-id`), `null` for an option that is `none`, an enum by
//! the name of its case (`permission-denied`). Every kind is there once, in the order the
//! golden files record them; the tests of this crate hold the file to the WIT.
//!
//! [`from_wit_json`] reads such a value into a Rust binding of the WIT whose types derive
//! `serde::Deserialize` (wit-bindgen's `additional_derives`), matching each name as the
//! binding spells it: a field in snake_case (`session_id`), a case in UpperCamelCase
//! (`PermissionDenied`, `ToolCall`).

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde_json::{Error, Value};

/// The file, as written.
pub const EVERY_KIND: &str = include_str!("../every-kind.json");

/// The file's events, as JSON.
pub fn every_kind_json() -> Vec<Value> {
    serde_json::from_str(EVERY_KIND).expect("every-kind.json is a JSON array")
}

/// The file's events, read into `T` (a binding's `Event`).
pub fn every_kind<T: DeserializeOwned>() -> Vec<T> {
    every_kind_json().into_iter().map(read).collect()
}

/// The file's event of kind `kind` (`tool-call`), as JSON.
pub fn kind_json(kind: &str) -> Value {
    every_kind_json()
        .into_iter()
        .find(|event| kind_of(event) == kind)
        .unwrap_or_else(|| panic!("every-kind.json has no `{kind}`"))
}

/// An event's kind: the one key of its object (`""` for a value that is not an event).
pub fn kind_of(event: &Value) -> &str {
    event
        .as_object()
        .and_then(|case| case.keys().next())
        .map_or("", String::as_str)
}

/// `event` read into `T`; panics with the event and the reason if it does not fit.
pub fn read<T: DeserializeOwned>(event: Value) -> T {
    from_wit_json(event.clone()).unwrap_or_else(|e| panic!("{event}: {e}"))
}

/// A value spelled as the WIT spells it (see the crate's doc), read into `T`. A record must
/// write every field, and no other: a field the WIT gains fails here until the file has it.
pub fn from_wit_json<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(Wit(value))
}

/// A JSON value in the WIT's names, deserialized under the binding's names. Only records,
/// enums, variants, options and lists need it; anything else is read as JSON is.
struct Wit(Value);

impl<'de> IntoDeserializer<'de, Error> for Wit {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Wit {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            value => visitor.visit_some(Wit(value)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Value::Array(items) = self.0 else {
            return Err(expected("a list", &self.0));
        };
        let mut items = SeqDeserializer::new(items.into_iter().map(Wit));
        let value = visitor.visit_seq(&mut items)?;
        items.end()?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Object(record) = self.0 else {
            return Err(expected("a record", &self.0));
        };
        if let Some(unknown) = record.keys().find(|k| !fields.contains(&snake(k).as_str())) {
            return Err(de::Error::unknown_field(unknown, fields));
        }
        if let Some(missing) = fields.iter().find(|f| !record.contains_key(&kebab(f))) {
            return Err(de::Error::missing_field(missing));
        }
        let mut fields = MapDeserializer::new(record.into_iter().map(|(k, v)| (snake(&k), Wit(v))));
        let value = visitor.visit_map(&mut fields)?;
        fields.end()?;
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // An enum's case, or a variant's case with no payload: `"permission-denied"`.
            Value::String(case) => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(camel(&case)))
            }
            // A variant's case with its payload: `{"tool-call": {...}}`.
            Value::Object(case) if case.len() == 1 => {
                let case = case.into_iter().map(|(k, v)| (camel(&k), Wit(v)));
                visitor.visit_enum(MapAccessDeserializer::new(MapDeserializer::new(case)))
            }
            other => Err(expected("a case's name, or an object of one case", &other)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct map identifier
        ignored_any
    }
}

fn expected(what: &str, found: &Value) -> Error {
    de::Error::custom(format!("expected {what}, found {found}"))
}

/// `session-id` → `session_id`.
fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// `session_id` → `session-id`.
fn kebab(name: &str) -> String {
    name.replace('_', "-")
}

/// `permission-denied` → `PermissionDenied`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
