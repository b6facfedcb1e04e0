//! Which parts of a record an expression reads. Steps report their reads so that a pipeline that only
//! looks at a few fields of large records can parse only those fields (see
//! `crate::kernel::projection`).

/// The record fields an expression (or a step) reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reads {
    /// It may read anything (the whole record, or a path not known until run time).
    All,
    /// Only these member-name paths from the record's root (and everything beneath each of them).
    Paths(Vec<Vec<String>>),
}

impl Default for Reads {
    fn default() -> Self {
        Reads::Paths(Vec::new())
    }
}

impl Reads {
    /// Nothing.
    pub(crate) fn none() -> Self {
        Reads::default()
    }

    /// Adds what `other` reads.
    pub(crate) fn merge(&mut self, other: Reads) {
        match (&mut *self, other) {
            (Reads::All, _) => {}
            (_, Reads::All) => *self = Reads::All,
            (Reads::Paths(mine), Reads::Paths(theirs)) => {
                for p in theirs {
                    if !mine.contains(&p) {
                        mine.push(p);
                    }
                }
            }
        }
    }

    /// Adds one path (an empty path means the whole record).
    pub(crate) fn add_path(&mut self, path: Vec<String>) {
        if path.is_empty() {
            *self = Reads::All;
        } else {
            self.merge(Reads::Paths(vec![path]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_with_all_is_all_and_paths_deduplicate() {
        let mut r = Reads::none();
        r.add_path(vec!["a".into()]);
        r.merge(Reads::Paths(vec![vec!["a".into()], vec!["b".into(), "c".into()]]));
        assert_eq!(r, Reads::Paths(vec![vec!["a".into()], vec!["b".into(), "c".into()]]));
        r.add_path(Vec::new());
        assert_eq!(r, Reads::All);
    }
}
