//! Tests of word expansion: BuildKit's own vectors (read from the shared
//! conformance corpus when it is present) and kiln's cases.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The corpus folder, or `None` (with a note) when this checkout lacks it.
fn conformance_file(relative: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance")
        .join(relative);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(_) => {
            eprintln!("skipping: conformance file {} not found", path.display());
            None
        }
    }
}

/// Runs an `envVarTest`-format file; returns the number of rows checked.
fn run_env_var_test(text: &str) -> usize {
    let env = env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(fields.len(), 3, "malformed row: {line}");
        let (platform, input, expected) = (fields[0], fields[1], fields[2]);
        if platform == "W" {
            continue;
        }
        checked += 1;
        match (expand_word(input, &env, '\\'), expected) {
            (Err(_), "error") => {}
            (Ok(out), _) if out.value == expected => {}
            (got, _) => failures.push(format!("{input:?}: expected {expected:?}, got {got:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn buildkit_env_var_test() {
    if let Some(text) = conformance_file("buildkit-parser/shell/envVarTest") {
        assert!(run_env_var_test(&text) > 200);
    }
}

#[test]
fn envvartest_extra() {
    if let Some(text) = conformance_file("expansion/envVarTest-extra") {
        assert!(run_env_var_test(&text) > 0);
    }
}

#[test]
fn buildkit_words_test() {
    let Some(text) = conformance_file("buildkit-parser/shell/wordsTest") else {
        return;
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            let (key, value) = assignment.split_once('=').unwrap();
            env.push((key.to_string(), value.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "malformed row: {line}");
        let input = fields[0].trim();
        let expected: Vec<&str> = fields[1].trim_start().split(',').collect();
        let got = expand_words(input, &env, '\\');
        if expected == ["error"] {
            assert!(got.is_err(), "{input:?}: expected an error, got {got:?}");
        } else {
            assert_eq!(got.unwrap(), expected, "{input:?}");
        }
        checked += 1;
    }
    assert!(checked >= 20);
}

#[test]
fn expands_words() {
    let env = env(&[
        ("v", "/usr/local/bin"),
        ("e", ""),
        ("s", "a b"),
        ("f", "file.tar.gz"),
    ]);
    let cases = [
        ("$v", "/usr/local/bin"),
        ("${v}x", "/usr/local/binx"),
        ("${e-d}", ""),
        ("${e:-d}", "d"),
        ("${u-d}", "d"),
        ("${e+x}", "x"),
        ("${e:+x}", ""),
        ("${u+x}", ""),
        ("${e?}", ""),
        ("${v#*/}", "usr/local/bin"),
        ("${v##*/}", "bin"),
        ("${v%/*}", "/usr/local"),
        ("${v%%/*}", ""),
        ("${f%.*}", "file.tar"),
        ("${f%%.*}", "file"),
        ("${f#*.}", "tar.gz"),
        ("${f##*.}", "gz"),
        ("${v/\\//:}", ":usr/local/bin"),
        ("${v//\\//:}", ":usr:local:bin"),
        ("${v//o/0}", "/usr/l0cal/bin"),
        ("${v/#/x}", "/usr/local/bin"),
        ("${f/?/X}", "Xile.tar.gz"),
        ("${u/a/b}", ""),
        ("${v#\\*}", "/usr/local/bin"),
        ("${s:-'x y'}", "a b"),
        ("${u:-'x y'}", "x y"),
        ("${u:-\"$s\"}", "a b"),
        ("a\\ b", "a b"),
        ("\"a\\\"b\"", "a\"b"),
        ("'a\\'", "a\\"),
        ("$", "$"),
        ("a$", "a$"),
        ("$-x", "x"),
        ("\\$v", "$v"),
        ("${v%\\}}", "/usr/local/bin"),
    ];
    for (input, expected) in cases {
        let got = expand_word(input, &env, '\\').map(|out| out.value);
        assert_eq!(got, Ok(expected.to_string()), "{input:?}");
    }
}

#[test]
fn errors_carry_buildkit_messages() {
    let env = env(&[("e", "")]);
    let cases = [
        ("${u?}", "u: is not allowed to be unset"),
        ("${e:?}", "e: is not allowed to be empty"),
        ("${u:?need it}", "u: need it"),
        ("${u?need $e it}", "u: need  it"),
        ("${v:1}", "unsupported modifier (:1) in substitution"),
        ("${#v}", "unsupported modifier (v) in substitution"),
        ("${v^^}", "unsupported modifier (^) in substitution"),
        ("${!v}", "unsupported modifier (v) in substitution"),
        ("${v:=x}", "unsupported modifier (:=) in substitution"),
        ("${v:#x}", "unsupported modifier (:#) in substitution"),
        ("${v:%x}", "unsupported modifier (:%) in substitution"),
        ("${}", "syntax error: bad substitution"),
        ("${", "syntax error: missing '}'"),
        ("${v", "syntax error: missing '}'"),
        ("${v:-x", "syntax error: missing '}'"),
        ("${v:-'x}", "syntax error: missing '}'"),
        ("${v/x", "syntax error: missing '/' in ${}"),
        ("${v/x/y", "syntax error: missing '}'"),
        (
            "${v#\\a}",
            "invalid pattern (\\a) in substitution: invalid escape '\\a'",
        ),
        (
            "'x",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"x",
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            "\"x\\",
            "unexpected end of statement while looking for matching double-quote",
        ),
        ("${x:-${u?inner}}", "u: inner"),
    ];
    for (input, message) in cases {
        let err = expand_word(input, &env, '\\').unwrap_err();
        assert_eq!(err.to_string(), message, "{input:?}");
    }
}

#[test]
fn backtick_escape() {
    let env = env(&[("v", "x")]);
    let cases = [
        ("`$v", "$v"),
        ("\\$v", "\\x"),
        ("a` b", "a b"),
        ("\"`\"`$v\"", "\"$v"),
        ("\"\\n\"", "\\n"),
        ("${v/x/`}}", "`}"),
        ("C:\\dir", "C:\\dir"),
    ];
    for (input, expected) in cases {
        let got = expand_word(input, &env, '`').map(|out| out.value);
        assert_eq!(got, Ok(expected.to_string()), "{input:?}");
    }
}

#[test]
fn used_vars_lists_found_names_only() {
    let env = env(&[("a", "1"), ("b", ""), ("c", "3")]);
    let cases: [(&str, &[&str]); 6] = [
        ("$a$missing", &["a"]),
        ("${b:-$c}", &["b", "c"]),
        ("${a:+${c}}", &["a", "c"]),
        ("'$a'\"$c\"", &["c"]),
        ("\\$a", &[]),
        ("${a#${b}}", &["a", "b"]),
    ];
    for (input, expected) in cases {
        let out = expand_word(input, &env, '\\').unwrap();
        let want: std::collections::BTreeSet<String> =
            expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(out.used_vars, want, "{input:?}");
    }
}

#[test]
fn splits_fields() {
    let env = env(&[("s", " a  b "), ("e", "")]);
    let cases: [(&str, &[&str]); 8] = [
        ("x$s", &["x", "a", "b"]),
        ("\"$s\"", &[" a  b "]),
        ("a\\ b c", &["a b", "c"]),
        ("$e", &[]),
        ("\"\"", &[]),
        ("'a b' c", &["a b", "c"]),
        ("${u:-1 2}", &["1", "2"]),
        ("  a\t b  ", &["a", "b"]),
    ];
    for (input, expected) in cases {
        assert_eq!(
            expand_words(input, &env, '\\').unwrap(),
            expected,
            "{input:?}"
        );
    }
}

#[test]
fn any_env_impl_works() {
    let map = BTreeMap::from([("k".to_string(), "v".to_string())]);
    assert_eq!(expand_word("$k", &map, '\\').unwrap().value, "v");
    let hash: std::collections::HashMap<String, String> = map.clone().into_iter().collect();
    assert_eq!(expand_word("${k}", &hash, '\\').unwrap().value, "v");
}
