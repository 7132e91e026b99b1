//! Golden files: compare text with a committed file, or rewrite the file
//! when `KILN_BLESS=1` is set.

use std::path::Path;

/// Whether `KILN_BLESS=1` is set.
pub fn blessing() -> bool {
    std::env::var_os("KILN_BLESS").is_some_and(|value| value == "1")
}

/// Asserts that the file at `path` holds `actual`; with `KILN_BLESS=1`,
/// writes `actual` there instead (creating parent directories).
pub fn assert_golden(path: &Path, actual: &str) {
    if blessing() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|err| panic!("mkdir {}: {err}", parent.display()));
        }
        std::fs::write(path, actual)
            .unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|err| {
        panic!(
            "cannot read golden {} ({err}); run with KILN_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (KILN_BLESS=1 rewrites it)\n--- expected ---\n{expected}\n--- actual ---\n{actual}",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_golden_passes_and_mismatch_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.txt");
        std::fs::write(&path, "one\n").unwrap();
        assert_golden(&path, "one\n");
        if !blessing() {
            let result = std::panic::catch_unwind(|| assert_golden(&path, "two\n"));
            assert!(result.is_err());
        }
    }
}
