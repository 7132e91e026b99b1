//! Smoke tests of the `kiln debug` developer commands.

use kiln_testutil::Project;

use crate::common::kiln;

#[test]
fn parse_dump_and_json_show_instructions() {
    let kiln = kiln();
    let project = Project::empty();
    project.write("Dockerfile", "FROM scratch AS base\nCOPY a /b\n");
    let dockerfile = project.join("Dockerfile");
    let dump = kiln.run(["debug", "parse-dump", dockerfile.to_str().unwrap()]);
    dump.assert_success();
    assert!(
        dump.stdout.to_lowercase().contains("copy"),
        "{}",
        dump.stdout
    );
    let parsed = kiln.run(["debug", "parse-json", dockerfile.to_str().unwrap()]);
    parsed.assert_success();
    let value: serde_json::Value =
        serde_json::from_str(&parsed.stdout).expect("parse-json prints JSON");
    assert!(value.to_string().contains("scratch"), "{value}");
}

#[test]
fn expand_word_applies_the_environment() {
    let kiln = kiln();
    let output = kiln.run([
        "debug",
        "expand-word",
        "--env",
        "A=hello",
        "--",
        "${A}-${B:-world}",
    ]);
    output.assert_success();
    assert!(output.stdout.contains("hello-world"), "{}", output.stdout);
}
