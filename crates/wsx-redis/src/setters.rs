//! The setters of the crate's builders, each of which sets one field and hands the builder
//! back.

/// Writes builder setters, in an `impl` block of the builder: each
/// `name(arg: Type) => field = value;` (with its doc comment) is
/// `pub fn name(mut self, arg: Type) -> Self`, which sets `field` to `value`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident = $value:expr;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$field = $value;
                self
            }
        )+
    };
}
pub(crate) use setters;
