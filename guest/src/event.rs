//! From a WIT event to its wire form, each field under the rule the catalogue
//! (`agent_telemetry_contract::catalogue`) gives it: a name goes through `identifier`, an id
//! through `pseudonym`, an agent through `agent`, a flag list through `flags`; costs must be
//! finite and non-negative and durations are coarsened (a timing channel, see `anonymize`);
//! enums map case for case. Nothing here names a field: the conversion is generated from the
//! catalogue, so a field it declares is converted under its rule or the build fails.

use crate::anonymize::{self, Anonymizer};
use crate::bindings::exports::agent::telemetry::recorder as wit;
use crate::wire::{self, Data};

/// The wire form of `event`, every field under its rule. A session's totals are left at zero:
/// the session tracker, which has seen the session's other events, fills them in.
pub fn to_wire(a: &Anonymizer, event: &wit::Event) -> Data {
    macro_rules! convert {
        ($(
            $(#[$kind_attr:meta])*
            $Kind:ident = $kind:literal {
                $( $(#[$attr:meta])* $field:ident : $ty:ty => $rule:ident $(($ns:literal))? ),* $(,)?
            } $(+ computed { $( $cfield:ident : $cty:ty ),* $(,)? })?
        )*) => {
            match event {
                $( wit::Event::$Kind(record) => Data::$Kind {
                    $( $field: convert!(@rule record, $field, $rule $(($ns))?), )*
                    $($( $cfield: Default::default(), )*)?
                }, )*
            }
        };
        (@rule $r:ident, $field:ident, Name) => { Strings::each(&$r.$field, |v| a.identifier(v)) };
        (@rule $r:ident, $field:ident, Names) => { a.identifiers(&$r.$field) };
        (@rule $r:ident, $field:ident, Pseudonym($ns:literal)) => {
            Strings::each(&$r.$field, |v| a.pseudonym($ns, v))
        };
        (@rule $r:ident, $field:ident, Agent) => { Strings::each(&$r.$field, |v| a.agent(v)) };
        (@rule $r:ident, $field:ident, Flags) => { a.flags(&$r.$field) };
        (@rule $r:ident, $field:ident, Enum) => { ToWire::to_wire(&$r.$field) };
        (@rule $r:ident, $field:ident, Duration) => { Durations::coarse(&$r.$field) };
        (@rule $r:ident, $field:ident, Cost) => { Costs::checked(&$r.$field) };
        (@rule $r:ident, $field:ident, Number) => { $r.$field };
        (@rule $r:ident, $field:ident, Flag) => { $r.$field };
    }
    crate::contract::for_each_event!(convert)
}

/// A string field, required or optional, each string through `f`.
trait Strings {
    fn each(&self, f: impl Fn(&str) -> String) -> Self;
}

impl Strings for String {
    fn each(&self, f: impl Fn(&str) -> String) -> String {
        f(self)
    }
}

impl Strings for Option<String> {
    fn each(&self, f: impl Fn(&str) -> String) -> Option<String> {
        self.as_deref().map(f)
    }
}

/// A duration, required or optional, coarsened.
trait Durations {
    fn coarse(&self) -> Self;
}

impl Durations for u64 {
    fn coarse(&self) -> u64 {
        anonymize::coarse_duration_ms(*self)
    }
}

impl Durations for Option<u64> {
    fn coarse(&self) -> Option<u64> {
        self.map(anonymize::coarse_duration_ms)
    }
}

/// A cost, required or optional in the WIT, dropped on the wire unless finite and not negative.
trait Costs {
    fn checked(&self) -> Option<f64>;
}

impl Costs for f64 {
    fn checked(&self) -> Option<f64> {
        anonymize::cost(*self)
    }
}

impl Costs for Option<f64> {
    fn checked(&self) -> Option<f64> {
        self.and_then(anonymize::cost)
    }
}

/// A WIT enum as the wire's enum of the same cases.
trait ToWire<T> {
    fn to_wire(&self) -> T;
}

impl<W, T: ToWire<W>> ToWire<Option<W>> for Option<T> {
    fn to_wire(&self) -> Option<W> {
        self.as_ref().map(ToWire::to_wire)
    }
}

macro_rules! enums {
    ($( $(#[$doc:meta])* $Enum:ident { $( $Variant:ident = $name:literal ),* $(,)? } )*) => {$(
        impl ToWire<wire::$Enum> for wit::$Enum {
            fn to_wire(&self) -> wire::$Enum {
                match self {
                    $( wit::$Enum::$Variant => wire::$Enum::$Variant, )*
                }
            }
        }
    )*};
}
crate::contract::for_each_enum!(enums);
