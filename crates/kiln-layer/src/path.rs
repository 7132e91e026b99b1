//! Lexical cleaning of archive entry names and link targets.

/// Splits an archive name into clean components: leading `/`, empty and `.` components are
/// dropped and `..` removes the previous component. Returns `None` when `..` would climb above
/// the root. An empty result means the root itself.
pub(crate) fn clean_components(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut components: Vec<&[u8]> = Vec::new();
    for component in name.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                components.pop()?;
            }
            other => components.push(other),
        }
    }
    Some(components)
}

/// [`clean_components`] joined with `/` as a (lossily decoded) string; `""` is the root.
pub(crate) fn clean_string(name: &[u8]) -> Option<String> {
    let components = clean_components(name)?;
    let joined = components.join(&b'/');
    Some(String::from_utf8_lossy(&joined).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_table() {
        let cases: [(&str, Option<&str>); 11] = [
            ("etc/passwd", Some("etc/passwd")),
            ("./etc/passwd", Some("etc/passwd")),
            ("/etc/passwd", Some("etc/passwd")),
            ("etc/", Some("etc")),
            ("./", Some("")),
            ("/", Some("")),
            ("a//b/./c", Some("a/b/c")),
            ("a/../b", Some("b")),
            ("../escape", None),
            ("a/../../b", None),
            ("/../x", None),
        ];
        for (name, expected) in cases {
            assert_eq!(
                clean_string(name.as_bytes()).as_deref(),
                expected,
                "{name:?}"
            );
        }
    }
}
