//! How file paths appear in messages: as written, plus where a relative one resolved to, so that a user
//! running from another folder sees which file was meant — and the entries of a folder a walk looks at.

use std::path::{Path, PathBuf};

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

/// The entries of `dir` a folder walk looks at — hidden ones (`.weir/`, `.git/`) left out — sorted,
/// each with its file name; none when `dir` cannot be read.
pub(crate) fn visible_entries(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    entries
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            (!name.starts_with('.')).then_some((path, name))
        })
        .collect()
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
