//! The closed registries of component types. `component_registry!` turns a list of
//! `"type" => Variant(ConfigStruct)` into an enum plus the dispatch the loader needs: the list of type
//! names (for did-you-mean), deserialization of one variant's struct straight from its map (so serde
//! errors keep their path, which internally tagged enums lose), and the per-variant JSON Schemas.

/// Generates a component registry enum. See the module docs.
macro_rules! component_registry {
    // With `build(Context) -> Built, Errors`: also the dispatch of `build`, each variant's config
    // compiled by its own `build(&self, &Context) -> Result<_, Errors>` and boxed into `Built`.
    ($(#[$meta:meta])* $name:ident, $kind:literal, build($ctx:ty) -> $built:ty, $errors:ty {
        $($tag:literal => $variant:ident($cfg:ty)),* $(,)?
    }) => {
        $crate::config::registry::component_registry! {
            $(#[$meta])* $name, $kind { $($tag => $variant($cfg)),* }
        }

        impl $name {
            /// Compiles the component (its type's `build()`).
            pub(crate) fn build(&self, ctx: &$ctx) -> Result<$built, $errors> {
                match self {
                    $($name::$variant(c) => {
                        let built: $built = Box::new(c.build(ctx)?);
                        Ok(built)
                    })*
                }
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($tag:literal => $variant:ident($cfg:ty)),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub(crate) enum $name {
            $(
                #[doc = concat!("`type: ", $tag, "`")]
                $variant($cfg),
            )*
        }

        impl $crate::config::registry::Registry for $name {
            const KIND: &'static str = $kind;
            const TYPES: &'static [&'static str] = &[$($tag),*];
            fn from_value(
                type_name: &str,
                value: &serde_json::Value,
            ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>> {
                $name::from_value(type_name, value)
            }
            fn variant_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
                $name::variant_schemas(generator)
            }
            fn fields(type_name: &str) -> Option<Vec<String>> {
                $name::fields(type_name)
            }
            fn schema(type_name: &str) -> Option<serde_json::Value> {
                match type_name {
                    $($tag => Some(schemars::SchemaGenerator::default().into_root_schema_for::<$cfg>().to_value()),)*
                    _ => None,
                }
            }
        }

        impl $name {
            /// The `type:` of this component.
            pub(crate) fn type_name(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $tag,)*
                }
            }

            /// Deserializes the variant named `type_name` from `value` (a map without the common keys).
            /// `None` when the type is unknown.
            pub(crate) fn from_value(
                type_name: &str,
                value: &serde_json::Value,
            ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>> {
                match type_name {
                    $($tag => Some(serde_path_to_error::deserialize(value).map($name::$variant)),)*
                    _ => None,
                }
            }

            /// The keys the config struct of `type_name` accepts (`None` for an unknown type).
            pub(crate) fn fields(type_name: &str) -> Option<Vec<String>> {
                match type_name {
                    $($tag => Some($crate::config::registry::schema_fields::<$cfg>()),)*
                    _ => None,
                }
            }

            /// `(type, schema of its config struct)` for every variant.
            pub(crate) fn variant_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
                vec![$(($tag, generator.subschema_for::<$cfg>()),)*]
            }
        }
    };
}

pub(crate) use component_registry;

/// What the loader needs from a registry enum (implemented by `component_registry!`).
pub(crate) trait Registry: Sized {
    /// "step", "source" or "sink".
    const KIND: &'static str;
    /// Every accepted `type:` value.
    const TYPES: &'static [&'static str];
    /// Deserializes one variant from its map (without the common keys); `None` for an unknown type.
    fn from_value(
        type_name: &str,
        value: &serde_json::Value,
    ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>>;
    /// `(type, schema of its config struct)` for every variant.
    fn variant_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)>;
    /// The keys the config struct of `type_name` accepts.
    fn fields(type_name: &str) -> Option<Vec<String>>;
    /// The JSON Schema of the config struct of `type_name` (with its `$defs`), used to explain values
    /// that serde can only call "none of the accepted shapes".
    fn schema(type_name: &str) -> Option<serde_json::Value>;
}

/// The property names of `T`'s JSON Schema: the keys a config struct accepts.
pub(crate) fn schema_fields<T: schemars::JsonSchema>() -> Vec<String> {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}
