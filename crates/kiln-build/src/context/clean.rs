//! Lexical path cleaning with Go `path.Clean` semantics, used to normalise
//! ignore patterns and the paths matched against them.

/// Returns the shortest path equivalent to `path` by purely lexical rules:
/// repeated `/` become one, `.` elements go, `..` removes the element before it
/// (and is dropped right after the root), a trailing `/` goes, and an empty
/// result is `"."`.
pub(crate) fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_table() {
        let cases = [
            ("", "."),
            (".", "."),
            ("./", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("./a/./b/", "a/b"),
            ("a/../b", "b"),
            ("a/b/../../..", ".."),
            ("../a", "../a"),
            ("../../a/..", "../.."),
            ("/", "/"),
            ("//", "/"),
            ("/../a", "/a"),
            ("/a/b/..", "/a"),
            ("!foo/", "!foo"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_path(input), want, "clean_path({input:?})");
        }
    }
}
