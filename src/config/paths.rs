//! How file paths appear in messages: as written, plus where a relative one resolved to, so that a user
//! running from another folder sees which file was meant.

use std::path::Path;

/// `` `path` `` for an absolute path; `` `path` (/resolved/path) `` for a relative one (resolved against
/// the current folder).
pub(crate) fn shown(path: &Path) -> String {
    if path.is_absolute() {
        return format!("`{}`", path.display());
    }
    match std::path::absolute(path) {
        Ok(abs) => format!("`{}` ({})", path.display(), abs.display()),
        Err(_) => format!("`{}`", path.display()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_paths_show_where_they_resolved() {
        assert_eq!(super::shown(std::path::Path::new("/a/b.csv")), "`/a/b.csv`");
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(super::shown(std::path::Path::new("b.csv")), format!("`b.csv` ({})", cwd.join("b.csv").display()));
    }
}
