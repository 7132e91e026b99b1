//! Golden tests of the parser, from `testdata/` at the repository root:
//! `dockerfile/<case>/{Dockerfile,ast.txt,ast.json}` (the parse dump and the
//! `ast.json` form) and `dockerfile-invalid/<case>/{Dockerfile,error.txt}`
//! (`LINE:COL: message`). `KILN_BLESS=1` rewrites the expected files.

use std::fs;
use std::path::{Path, PathBuf};

fn testdata(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(folder)
}

fn bless() -> bool {
    std::env::var_os("KILN_BLESS").is_some_and(|value| value == "1")
}

fn cases(folder: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(testdata(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Dockerfile").is_file())
        .collect();
    cases.sort();
    cases
}

/// Compares `got` with the file, or rewrites it when blessing; returns a
/// failure description.
fn check(path: &Path, got: &str) -> Option<String> {
    if bless() {
        fs::write(path, got).unwrap();
        return None;
    }
    let want = fs::read_to_string(path).unwrap_or_default();
    (want != got).then(|| format!("{}:\n--- want\n{want}\n--- got\n{got}", path.display()))
}

#[test]
fn valid_dockerfiles() {
    let cases = cases("dockerfile");
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = fs::read(case.join("Dockerfile")).unwrap();
        let parsed = match kiln_dockerfile::parse(&text) {
            Ok(parsed) => parsed,
            Err(err) => {
                failures.push(format!("{}: {err}", case.display()));
                continue;
            }
        };
        failures.extend(check(&case.join("ast.txt"), &parsed.dump()));
        let json = serde_json::to_string_pretty(&parsed.to_json()).unwrap() + "\n";
        failures.extend(check(&case.join("ast.json"), &json));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_dockerfiles() {
    let cases = cases("dockerfile-invalid");
    assert!(cases.len() >= 8, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = fs::read(case.join("Dockerfile")).unwrap();
        let rendered = match kiln_dockerfile::parse(&text) {
            Ok(_) => {
                failures.push(format!("{}: parsed, want an error", case.display()));
                continue;
            }
            Err(err) => match err.span {
                Some(span) => format!("{}:{}: {}\n", span.start_line, span.start_col, err.message),
                None => format!("{}\n", err.message),
            },
        };
        failures.extend(check(&case.join("error.txt"), &rendered));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
