//! Outside tools (skopeo, umoci, …): skip a test when one is missing, unless
//! `KILN_TEST_REQUIRE_TOOLS=1` asks for a failure instead.

use std::path::Path;

/// Whether `KILN_TEST_REQUIRE_TOOLS=1` is set (CI: a missing tool fails the test).
pub fn tools_required() -> bool {
    std::env::var_os("KILN_TEST_REQUIRE_TOOLS").is_some_and(|value| value == "1")
}

/// Whether an executable named `tool` is on `PATH`.
pub fn on_path(tool: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(tool)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Returns true when `tool` is installed. When it is missing, panics if
/// `KILN_TEST_REQUIRE_TOOLS=1`, else prints "skipping: TOOL not installed" and
/// returns false (the caller returns early).
pub fn require_tool(tool: &str) -> bool {
    if on_path(tool) {
        return true;
    }
    if tools_required() {
        panic!("{tool} is not installed, and KILN_TEST_REQUIRE_TOOLS=1 requires it");
    }
    eprintln!("skipping: {tool} not installed");
    false
}

/// Returns from the calling test when the tool is missing (see [`require_tool`]).
///
/// ```no_run
/// fn test() {
///     kiln_testutil::require_tool!("skopeo");
///     // … use skopeo …
/// }
/// ```
#[macro_export]
macro_rules! require_tool {
    ($($tool:expr),+ $(,)?) => {
        $(
            if !$crate::require_tool($tool) {
                return;
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_shell_and_not_a_made_up_tool() {
        assert!(on_path("sh"));
        assert!(!on_path("kiln-no-such-tool-xyz"));
    }

    #[test]
    fn require_tool_of_present_tool_is_true() {
        assert!(require_tool("sh"));
    }
}
