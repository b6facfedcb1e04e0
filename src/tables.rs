//! Lookup tables (inline in YAML or CSV files in the pipeline folder), shared by the `lookup` step and the
//! `lookup` template filter.
