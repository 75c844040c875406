//! Reading an event's fields once its `type` is known: one loop for every kind, driven by the
//! kind's table of fields ([`FieldRead`], made by the catalogue's macro), in place of a serde
//! derive per kind, whose code (a copy per kind of the field matching, the duplicate and
//! missing-field checks and each field type's reading) was most of what the component spent on
//! reading a batch. What is accepted and refused is what the derive accepted and refused: an
//! unknown field, a field twice, a required field missing, a value of the wrong type or out of
//! its type's range.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Error, Expected, MapAccess, Unexpected, Visitor};

use super::{
    CompactionTrigger, ErrorKind, Outcome, ScheduleState, ServerState, TaskState, WorkflowState,
};
use crate::wire::SessionTotals;

/// The most fields one kind has (a kind with more fails to build).
pub(super) const MAX_FIELDS: usize = 16;

/// What a field's value is on the wire.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    Str,
    Strs,
    /// An unsigned integer up to this.
    UInt(u64),
    /// A signed integer in this range.
    Int(i64, i64),
    Float,
    Bool,
    /// One of these names (an enum's cases, in its order).
    Enum(&'static [&'static str]),
    Totals,
}

/// One field of a kind, as it is read.
#[derive(Debug)]
pub(super) struct FieldRead {
    pub(super) name: &'static str,
    pub(super) shape: Shape,
    /// An `Option`: `null` means absent.
    pub(super) nullable: bool,
    /// Neither an `Option` nor `#[serde(default)]`: an event without it is refused.
    pub(super) required: bool,
}

/// A field's value as read, before it goes into the field.
#[derive(Debug, Default)]
pub(super) enum Slot {
    #[default]
    Absent,
    Null,
    Str(String),
    Strs(Vec<String>),
    UInt(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// The case's place in its enum.
    Enum(usize),
    /// Boxed: the other slots are a third of its size.
    Totals(Box<SessionTotals>),
}

/// A field type the catalogue uses: how it is read, and made from what was read.
pub(super) trait ReadField: Sized {
    const SHAPE: Shape;
    /// The value from what was read for it; `Absent` (a field left out) gives the type's
    /// default. `None` only if `slot` is not of [`Self::SHAPE`](ReadField::SHAPE).
    fn from_slot(slot: Slot) -> Option<Self>;
    /// The value [`take`] gives a slot that does not fit (which cannot happen).
    fn fallback() -> Self;
}

macro_rules! read_plain {
    ($($t:ty => $shape:expr, $slot:ident;)*) => {$(
        impl ReadField for $t {
            const SHAPE: Shape = $shape;
            fn from_slot(slot: Slot) -> Option<$t> {
                match slot {
                    Slot::$slot(v) => <$t>::try_from(v).ok(),
                    Slot::Absent => Some(<$t>::default()),
                    _ => None,
                }
            }
            fn fallback() -> $t {
                <$t>::default()
            }
        }
    )*};
}

read_plain! {
    String => Shape::Str, Str;
    Vec<String> => Shape::Strs, Strs;
    u8 => Shape::UInt(u8::MAX as u64), UInt;
    u32 => Shape::UInt(u32::MAX as u64), UInt;
    u64 => Shape::UInt(u64::MAX), UInt;
    i32 => Shape::Int(i32::MIN as i64, i32::MAX as i64), Int;
    f64 => Shape::Float, Float;
    bool => Shape::Bool, Bool;
}

impl ReadField for SessionTotals {
    const SHAPE: Shape = Shape::Totals;
    fn from_slot(slot: Slot) -> Option<SessionTotals> {
        match slot {
            Slot::Totals(totals) => Some(*totals),
            Slot::Absent => Some(SessionTotals::default()),
            _ => None,
        }
    }
    fn fallback() -> SessionTotals {
        SessionTotals::default()
    }
}

impl<T: ReadField> ReadField for Option<T> {
    const SHAPE: Shape = T::SHAPE;
    fn from_slot(slot: Slot) -> Option<Option<T>> {
        match slot {
            Slot::Absent | Slot::Null => Some(None),
            slot => T::from_slot(slot).map(Some),
        }
    }
    fn fallback() -> Option<T> {
        None
    }
}

/// A [`for_each_enum!`](crate::for_each_enum) callback: each enum read by its cases' names.
macro_rules! read_enums {
    ($( $(#[$doc:meta])* $Enum:ident { $( $Variant:ident = $name:literal ),* $(,)? } )*) => {$(
        impl ReadField for $Enum {
            const SHAPE: Shape = Shape::Enum(&[$($name),*]);
            fn from_slot(slot: Slot) -> Option<$Enum> {
                match slot {
                    Slot::Enum(i) => [$($Enum::$Variant),*].get(i).copied(),
                    _ => None,
                }
            }
            fn fallback() -> $Enum {
                [$($Enum::$Variant),*][0]
            }
        }
    )*};
}

crate::for_each_enum!(read_enums);

/// The next value of `slots`, into its field.
///
/// Every slot was read by its field's own [`ReadField::SHAPE`], and a required field left out
/// was refused by [`read_fields`], so each slot fits its field. Were one not to, the field would
/// take its type's default (an enum its first case) rather than the whole event failing here:
/// no error path, and no drop of the fields already made, is repeated for each field.
pub(super) fn take<T: ReadField>(slots: &mut std::slice::IterMut<'_, Slot>) -> T {
    let slot = slots.next().map_or(Slot::Absent, std::mem::take);
    T::from_slot(slot).unwrap_or_else(T::fallback)
}

/// The fields of `map` (the rest of an event's data, after its `type`) by `fields`, in
/// `fields`' order; `names` are the same fields' names.
pub(super) fn read_fields<'de, A: MapAccess<'de>>(
    fields: &'static [FieldRead],
    names: &'static [&'static str],
    mut map: A,
) -> Result<[Slot; MAX_FIELDS], A::Error> {
    let mut slots: [Slot; MAX_FIELDS] = std::array::from_fn(|_| Slot::Absent);
    while let Some(i) = map.next_key_seed(NameIn::Field(names))? {
        if !matches!(slots[i], Slot::Absent) {
            return Err(A::Error::duplicate_field(names[i]));
        }
        slots[i] = map.next_value_seed(ValueOf(&fields[i]))?;
    }
    if let Some(missing) = fields
        .iter()
        .zip(&slots)
        .find(|(field, slot)| field.required && matches!(slot, Slot::Absent))
    {
        return Err(A::Error::missing_field(missing.0.name));
    }
    Ok(slots)
}

/// A name that must be one of `names`: a field's (`Field`) or an enum's case (`Case`), read as
/// its place in `names`.
#[derive(Clone, Copy)]
enum NameIn {
    Field(&'static [&'static str]),
    Case(&'static [&'static str]),
}

impl<'de> DeserializeSeed<'de> for NameIn {
    type Value = usize;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        match self {
            NameIn::Field(_) => d.deserialize_identifier(self),
            NameIn::Case(_) => d.deserialize_str(self),
        }
    }
}

impl Visitor<'_> for NameIn {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            NameIn::Field(_) => "a field name",
            NameIn::Case(_) => "one of a fixed set of names",
        })
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<usize, E> {
        let (NameIn::Field(names) | NameIn::Case(names)) = self;
        names
            .iter()
            .position(|name| *name == v)
            .ok_or_else(|| match self {
                NameIn::Field(_) => E::unknown_field(v, names),
                NameIn::Case(_) => E::unknown_variant(v, names),
            })
    }
}

/// A field's value, by its [`FieldRead`].
struct ValueOf(&'static FieldRead);

impl<'de> DeserializeSeed<'de> for ValueOf {
    type Value = Slot;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
        if self.0.nullable {
            d.deserialize_option(self)
        } else {
            read_shape(self.0.shape, d)
        }
    }
}

/// A field that may be `null`.
impl<'de> Visitor<'de> for ValueOf {
    type Value = Slot;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the value of `{}`, or null", self.0.name)
    }

    fn visit_none<E: Error>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_unit<E: Error>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
        read_shape(self.0.shape, d)
    }
}

fn read_shape<'de, D: serde::Deserializer<'de>>(shape: Shape, d: D) -> Result<Slot, D::Error> {
    Ok(match shape {
        Shape::Str => Slot::Str(String::deserialize(d)?),
        Shape::Strs => Slot::Strs(Vec::deserialize(d)?),
        Shape::UInt(max) => {
            let v = u64::deserialize(d)?;
            if v > max {
                return Err(D::Error::invalid_value(
                    Unexpected::Unsigned(v),
                    &Range(0, max),
                ));
            }
            Slot::UInt(v)
        }
        Shape::Int(min, max) => {
            let v = i64::deserialize(d)?;
            if !(min..=max).contains(&v) {
                return Err(D::Error::invalid_value(
                    Unexpected::Signed(v),
                    &Range(min, max),
                ));
            }
            Slot::Int(v)
        }
        Shape::Float => Slot::Float(f64::deserialize(d)?),
        Shape::Bool => Slot::Bool(bool::deserialize(d)?),
        Shape::Enum(names) => Slot::Enum(NameIn::Case(names).deserialize(d)?),
        Shape::Totals => Slot::Totals(Box::new(SessionTotals::deserialize(d)?)),
    })
}

/// An integer's range, as an error says what was expected.
struct Range<T>(T, T);

impl<T: fmt::Display> Expected for Range<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an integer from {} to {}", self.0, self.1)
    }
}
