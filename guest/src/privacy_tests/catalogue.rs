//! The published rule is the applied one. For every field the event catalogue declares, an
//! event carrying something forbidden in that field goes through the real conversion, and what
//! comes out is held to the rule the catalogue (and so the privacy table) gives the field. The
//! probe events are generated from the catalogue too, so a new field is probed with no test
//! code of its own; and the hand-written matrix of `fields()` is held to the catalogue's rules.

use crate::anonymize::Anonymizer;
use crate::bindings::exports::agent::telemetry::recorder as wit;
use crate::contract::catalogue::{self, Field, Rule, Value, Visitor};
use crate::event::to_wire;

/// A path with a user's name in it: no name rule lets it through.
const NAME_PROBE: &str = "/home/alice/notes/secret-plan.txt";
/// An e-mail address: never an id or an agent on the wire.
const ID_PROBE: &str = "alice@example.com";
/// A flag with a value: neither is allowlisted.
const FLAG_PROBE: &str = "--token=sk-live-abcdef";
/// A plain name, sent as written inside a list of names.
const PLAIN: &str = "code_review";

/// A value of a WIT field's type that carries the probe for its rule.
trait Probe {
    fn probe(rule: Rule) -> Self;
}

impl Probe for String {
    fn probe(rule: Rule) -> String {
        match rule {
            Rule::Pseudonym(_) | Rule::Agent => ID_PROBE.to_string(),
            _ => NAME_PROBE.to_string(),
        }
    }
}

impl Probe for Vec<String> {
    fn probe(rule: Rule) -> Vec<String> {
        match rule {
            Rule::Flags => vec![FLAG_PROBE.to_string()],
            _ => vec![NAME_PROBE.to_string(), PLAIN.to_string()],
        }
    }
}

impl Probe for bool {
    fn probe(_: Rule) -> bool {
        true
    }
}

impl Probe for f64 {
    /// A cost that may not be sent.
    fn probe(_: Rule) -> f64 {
        -1.5
    }
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl Probe for $t {
            /// 1234: a duration comes out as 1200, a number as itself.
            fn probe(_: Rule) -> $t {
                1234
            }
        }
    )*};
}
numbers!(u32, u64, i32);

impl Probe for u8 {
    fn probe(_: Rule) -> u8 {
        123
    }
}

impl<T: Probe> Probe for Option<T> {
    fn probe(rule: Rule) -> Option<T> {
        Some(T::probe(rule))
    }
}

macro_rules! enums {
    ($( $(#[$doc:meta])* $Enum:ident { $First:ident = $first:literal $(, $Variant:ident = $name:literal)* $(,)? } )*) => {$(
        impl Probe for wit::$Enum {
            fn probe(_: Rule) -> wit::$Enum {
                wit::$Enum::$First
            }
        }
    )*};
}
crate::contract::for_each_enum!(enums);

/// One event of every kind, every field holding its probe.
fn probes() -> Vec<wit::Event> {
    macro_rules! probes {
        ($(
            $(#[$kind_attr:meta])*
            $Kind:ident = $kind:literal {
                $( $(#[$attr:meta])* $field:ident : $ty:ty => $rule:ident $(($ns:literal))? ),* $(,)?
            } $(+ computed { $( $cfield:ident : $cty:ty ),* $(,)? })?
        )*) => {
            vec![$(
                wit::Event::$Kind(wit::$Kind {
                    $( $field: Probe::probe(Rule::$rule $(($ns))?), )*
                }),
            )*]
        };
    }
    crate::contract::for_each_event!(probes)
}

fn anonymizer() -> Anonymizer {
    Anonymizer::new(
        vec![7; 32],
        vec!["planner".into()],
        vec!["debug".into()],
        vec!["alice".into()],
    )
}

/// What each visited field must look like after its rule, or why it does not.
struct Held<'a> {
    a: &'a Anonymizer,
    seen: Vec<&'static str>,
    broken: Vec<String>,
}

impl Visitor for Held<'_> {
    fn field(&mut self, field: &'static Field, value: Value<'_>) {
        self.seen.push(field.name);
        let a = self.a;
        let ok = match (field.rule, value) {
            (Rule::Name, Value::Str(v)) => v.starts_with("other:") && a.is_name_form(v),
            (Rule::Names, Value::Strs(v)) => {
                v.len() == 2 && v[0].starts_with("other:") && v[1] == PLAIN
            }
            (Rule::Pseudonym(kind), Value::Str(v)) => v != ID_PROBE && a.is_pseudonym_form(kind, v),
            (Rule::Agent, Value::Str(v)) => v != ID_PROBE && a.is_agent_form(v),
            (Rule::Flags, Value::Strs(v)) => v.is_empty(),
            (Rule::Enum, Value::Enum(_)) => true,
            (Rule::Number, Value::UInt(n)) => n == 1234 || n == 123,
            (Rule::Number, Value::Int(n)) => n == 1234,
            (Rule::Duration, Value::UInt(ms)) => ms == 1200,
            (Rule::Flag, Value::Bool(b)) => b,
            // A computed field is the component's own: at zero before the session tracker.
            (Rule::Computed, Value::Totals(t)) => *t == Default::default(),
            // A negative cost is never sent, so a cost is never visited here.
            _ => false,
        };
        if !ok {
            self.broken.push(format!(
                "{}.{} ({:?}) came out as {value:?}",
                field.kind, field.name, field.rule
            ));
        }
    }
}

#[test]
fn every_field_is_sent_under_the_rule_the_catalogue_publishes() {
    let a = anonymizer();
    let events = probes();
    assert_eq!(events.len(), catalogue::KINDS.len(), "one probe per kind");
    let mut broken = Vec::new();
    for event in &events {
        let data = to_wire(&a, event);
        let mut held = Held {
            a: &a,
            seen: Vec::new(),
            broken: Vec::new(),
        };
        data.visit(&mut held);
        broken.extend(held.broken);
        // Every field is on the wire but a cost, which the probe makes unsendable.
        let expected: Vec<&str> = catalogue::FIELDS
            .iter()
            .filter(|f| f.kind == data.kind() && f.rule != Rule::Cost)
            .map(|f| f.name)
            .collect();
        assert_eq!(held.seen, expected, "fields of {} on the wire", data.kind());
    }
    assert!(
        broken.is_empty(),
        "fields not under their published rule:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_forbidden_matrix_tests_every_string_field_under_its_published_rule() {
    use super::Rule as Tested;
    let matrix = super::fields();
    for field in catalogue::FIELDS {
        let tested = match field.rule {
            Rule::Name | Rule::Names => Tested::Name,
            Rule::Pseudonym(_) => Tested::Id,
            Rule::Agent => Tested::Agent,
            Rule::Flags => Tested::Flag,
            _ => continue,
        };
        let (record, name) = (field.kind.replace('_', "-"), field.name.replace('_', "-"));
        let row = matrix
            .iter()
            .find(|f| f.record == record && f.field == name);
        assert_eq!(
            row.map(|f| f.rule),
            Some(tested),
            "{record}.{name} is published as {:?}; the forbidden-content matrix must test it so",
            field.rule
        );
    }
}
