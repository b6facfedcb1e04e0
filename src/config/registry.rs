//! The closed registries of component types. `component_registry!` turns a list of
//! `"type" => Variant(ConfigStruct)` into an enum plus the dispatch the loader needs: the list of type
//! names (for did-you-mean), deserialization of one variant's struct straight from its map (so serde
//! errors keep their path, which internally tagged enums lose), and the per-variant JSON Schemas.

/// Generates a component registry enum. See the module docs.
macro_rules! component_registry {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($tag:literal => $variant:ident($cfg:ty)),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub enum $name {
            $(
                #[doc = concat!("`type: ", $tag, "`")]
                $variant($cfg),
            )*
        }

        impl $name {
            /// What this registry holds, for messages ("step", "source", "sink").
            pub const KIND: &'static str = $kind;

            /// Every accepted `type:` value.
            pub const TYPES: &'static [&'static str] = &[$($tag),*];

            /// The `type:` of this component.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $tag,)*
                }
            }

            /// Deserializes the variant named `type_name` from `value` (a map without the common keys).
            /// `None` when the type is unknown.
            pub fn from_value(
                type_name: &str,
                value: &serde_json::Value,
            ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>> {
                match type_name {
                    $($tag => Some(serde_path_to_error::deserialize(value).map($name::$variant)),)*
                    _ => None,
                }
            }

            /// `(type, schema of its config struct)` for every variant.
            pub fn variant_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
                vec![$(($tag, generator.root_schema_for::<$cfg>()),)*]
            }
        }
    };
}

pub(crate) use component_registry;
