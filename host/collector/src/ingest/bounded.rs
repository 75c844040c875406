//! Reading a JSON body a record at a time. A list of records is walked element by element,
//! each handed on as its raw text (borrowed from the body: nothing is allocated for it), so a
//! record is decoded only once it is known to be within [`super::MAX_RECORD_BYTES`] and the
//! body within [`super::MAX_RECORDS`]. Decoding a whole body at once would not do: a 16 KB
//! gzip of `{"a":0},` repeated decodes into gigabytes of maps before anything can be checked.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Refused;

/// Where a walk keeps the refusal that stopped it: serde's own error would say where in the
/// input it stopped, ours says why.
#[derive(Default)]
pub(crate) struct Stop(Option<Refused>);

impl Stop {
    /// Keeps `refused` and returns the error that unwinds the walk.
    pub(crate) fn set<E: de::Error>(&mut self, refused: Refused) -> E {
        self.0 = Some(refused);
        E::custom("refused")
    }

    /// The refusal kept, else `otherwise` (the body was not of the format).
    pub(crate) fn or(self, otherwise: &str) -> Refused {
        self.0.unwrap_or_else(|| Refused::new(otherwise))
    }
}

/// Walks the JSON object `body` with `visitor`, which says whether it was whole; nothing may
/// follow it.
pub(crate) fn walk<'de, V: Visitor<'de, Value = bool>>(body: &'de [u8], visitor: V) -> bool {
    let mut de = serde_json::Deserializer::from_slice(body);
    matches!((&mut de).deserialize_map(visitor), Ok(true)) && de.end().is_ok()
}

/// A list, walked with `each` called on every element's raw text.
pub(crate) struct Each<'s, F> {
    pub each: F,
    pub stop: &'s mut Stop,
}

impl<'de, F> DeserializeSeed<'de> for Each<'_, F>
where
    F: FnMut(&'de RawValue) -> Result<(), Refused>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for Each<'_, F>
where
    F: FnMut(&'de RawValue) -> Result<(), Refused>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if let Err(refused) = (self.each)(raw) {
                return Err(self.stop.set(refused));
            }
        }
        Ok(())
    }
}

/// Any JSON value whose every string is at most [`super::MAX_TEXT`] bytes, every list at most
/// [`MAX_ITEMS`] long and every object at most [`MAX_ITEMS`] wide: what the native format's
/// events are (names, ids, times, lists of at most 16 names, at most a few tags), checked
/// without building anything, before an event is decoded and stored.
pub(crate) struct Names;

/// The most items of a list or entries of an object in a native event.
pub(crate) const MAX_ITEMS: usize = 64;

impl<'de> de::Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Names)
    }
}

impl<'de> Visitor<'de> for Names {
    type Value = Names;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("names, numbers and short lists")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self, E> {
        if s.len() > super::MAX_TEXT {
            return Err(E::custom("a name is too long"));
        }
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        let mut n = 0;
        while seq.next_element::<Names>()?.is_some() {
            n += 1;
            if n > MAX_ITEMS {
                return Err(de::Error::custom("a list is too long"));
            }
        }
        Ok(self)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut n = 0;
        while let Some((Names, Names)) = map.next_entry::<Names, Names>()? {
            n += 1;
            if n > MAX_ITEMS {
                return Err(de::Error::custom("an object is too wide"));
            }
        }
        Ok(self)
    }
}
