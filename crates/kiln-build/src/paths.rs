//! Path arithmetic on image paths: `/`-separated, relative to the image root
//! (`""` is the root), never touching the host filesystem.

/// Cleans a path into root-relative form: no leading `/`, no `.`, `..` resolved
/// without climbing above the root (as BuildKit treats context paths).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Joins two root-relative paths.
pub fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{rest}"),
    }
}

/// The parent of a root-relative path (`""` for top-level names and the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// The last component.
pub fn base_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// Every ancestor of `path`, outermost first, not including the root or `path`.
pub fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = parent(path);
    while !current.is_empty() {
        out.push(current.to_string());
        current = parent(current);
    }
    out.reverse();
    out
}

/// Resolves a possibly relative image path against a working directory; the result is absolute.
pub fn absolute(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        format!("/{}", clean(path))
    } else {
        format!("/{}", clean(&format!("{workdir}/{path}")))
    }
}

/// True when the word has shell-glob characters (COPY source wildcards).
pub fn has_wildcard(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans() {
        let cases = [
            ("/a/b/", "a/b"),
            ("./a/./b", "a/b"),
            ("../../x", "x"),
            ("a/../../b", "b"),
            ("/", ""),
            (".", ""),
            ("a//b", "a/b"),
        ];
        for (input, expected) in cases {
            assert_eq!(clean(input), expected, "{input}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(base_name("a/b/c"), "c");
        assert_eq!(ancestors("a/b/c"), vec!["a".to_string(), "a/b".to_string()]);
        assert_eq!(absolute("/app", "x/../y"), "/app/y");
        assert_eq!(absolute("/app", "/etc/"), "/etc");
        assert_eq!(absolute("/", "."), "/");
        assert!(has_wildcard("*.txt") && !has_wildcard("a.txt"));
    }
}
