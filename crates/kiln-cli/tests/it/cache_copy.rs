//! Cache keys of COPY (on `FROM scratch`, no RUN needed): every input that
//! must change a key does, and every one that must not (an mtime, an ignored
//! file, an unused or proxy build arg, metadata) does not — each checked by
//! building `testdata/projects/cache-copy`, changing one input, rebuilding,
//! and reading which steps hit and why the others missed.

use std::time::Duration;

use crate::cache_common::{
    assert_steps, build_json, layer_steps, run_case, Case, Change, Expect, Expect::Hit,
    Expect::Miss,
};
use crate::common::kiln;
use kiln_testutil::Project;

/// The fixture: a.txt, b.txt, dir/{one.txt,README.md,sub/two.txt},
/// ignored.log (excluded by .dockerignore).
const FIXTURE: &str = "cache-copy";

/// The usual Dockerfile: one COPY that the changes leave alone, then the one
/// that reads what changes.
const BASIC: &str = "FROM scratch\nCOPY b.txt /b.txt\nCOPY dir /dir\n";

const BOTH_HIT: &[Expect] = &[Hit, Hit];

/// A change to what `COPY dir /dir` of [`BASIC`] reads: the first COPY hits.
fn dir_case(name: &'static str, change: &[Change], reason: &'static str) -> Case {
    Case::new(name, BASIC, change, &[Hit, Miss(reason)])
}

/// One flag of the second COPY changes between the builds.
fn flag_case(
    name: &'static str,
    before: &'static str,
    after: &'static str,
    reason: &'static str,
) -> Case {
    Case::new(
        name,
        before,
        &[Change::Dockerfile(after)],
        &[Hit, Miss(reason)],
    )
}

fn must_miss() -> Vec<Case> {
    vec![
        dir_case(
            "a copied file's content",
            &[Change::Write("dir/one.txt", "ONE\n")],
            "file dir/one.txt changed (content)",
        ),
        dir_case(
            "a copied file's content, same size",
            &[Change::Write("dir/one.txt", "eno\n")],
            "file dir/one.txt changed (content)",
        ),
        dir_case(
            "a copied file's mode",
            &[Change::Chmod("dir/one.txt", 0o600)],
            "file dir/one.txt changed (mode)",
        ),
        dir_case(
            "a new file in a copied directory",
            &[Change::Write("dir/sub/new.txt", "new\n")],
            "file dir/sub/new.txt was added",
        ),
        dir_case(
            "a removed file",
            &[Change::Remove("dir/sub/two.txt")],
            "file dir/sub/two.txt was removed",
        ),
        dir_case(
            "a symlink's target",
            &[Change::Symlink("dir/link", "sub/two.txt")],
            "file dir/link changed (link target)",
        )
        .setup(&[Change::Symlink("dir/link", "one.txt")]),
        flag_case(
            "the destination",
            BASIC,
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY dir /elsewhere\n",
            "the destination changed from \"/dir\" to \"/elsewhere\"",
        ),
        flag_case(
            "--chown",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --chown=1:2 dir /dir\n",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --chown=1:3 dir /dir\n",
            "the owner changed from \"1:2\" to \"1:3\"",
        ),
        flag_case(
            "--chmod",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --chmod=644 dir /dir\n",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --chmod=600 dir /dir\n",
            "chmod changed from \"644\" to \"600\"",
        ),
        flag_case(
            "--link",
            BASIC,
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --link dir /dir\n",
            "link=true",
        ),
        flag_case(
            "--parents",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY dir/sub/two.txt /out/\n",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --parents dir/sub/two.txt /out/\n",
            "parents=true",
        ),
        flag_case(
            "--exclude",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --exclude=*.md dir /dir\n",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY --exclude=sub dir /dir\n",
            "exclude changed from \"*.md\" to \"sub\"",
        ),
        Case::new(
            "COPY --from a stage whose content changed",
            "FROM scratch AS lib\nCOPY a.txt /a.txt\n\
             FROM scratch\nCOPY b.txt /b.txt\nCOPY --from=lib /a.txt /lib.txt\n",
            &[Change::Write("a.txt", "changed\n")],
            &[
                Miss("file a.txt changed (content)"),
                Hit,
                Miss("the --from source changed"),
            ],
        ),
        Case::new(
            "SOURCE_DATE_EPOCH",
            BASIC,
            &[Change::Env(&[("SOURCE_DATE_EPOCH", "200")])],
            &[
                Miss("epoch changed from \"100\" to \"200\""),
                Miss("epoch changed from \"100\" to \"200\"; an earlier step changed too"),
            ],
        )
        .env(&[("SOURCE_DATE_EPOCH", "100")]),
        flag_case(
            "a COPY heredoc's body",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY <<EOF /greeting\nhello\nEOF\n",
            "FROM scratch\nCOPY b.txt /b.txt\nCOPY <<EOF /greeting\nbye\nEOF\n",
            "inline EOF changed",
        ),
        Case::new(
            "a .dockerignore that no longer excludes a file",
            "FROM scratch\nCOPY . /ctx\n",
            &[Change::Write(".dockerignore", "# nothing excluded\n")],
            &[Miss("file ignored.log was added")],
        ),
        Case::new(
            "a changed step misses every later step of its stage",
            "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n",
            &[Change::Write("a.txt", "changed\n")],
            &[
                Miss("file a.txt changed (content)"),
                Miss("an earlier step of this stage (or its base image) changed"),
            ],
        ),
    ]
}

fn must_hit() -> Vec<Case> {
    vec![
        Case::new(
            "touching a copied file (mtime only)",
            BASIC,
            &[Change::Touch("dir/one.txt"), Change::Touch("b.txt")],
            BOTH_HIT,
        ),
        Case::new(
            "rewriting a copied file with the same bytes",
            BASIC,
            &[Change::Write("dir/one.txt", "one\n")],
            BOTH_HIT,
        ),
        Case::new(
            "a file excluded by .dockerignore",
            "FROM scratch\nCOPY . /ctx\n",
            &[Change::Write("ignored.log", "changed, and longer\n")],
            &[Hit],
        ),
        Case::new(
            "a file no step copies",
            BASIC,
            &[Change::Write("a.txt", "changed\n")],
            BOTH_HIT,
        ),
        Case::new(
            "an undeclared build arg",
            BASIC,
            &[Change::Args(&["--build-arg", "UNUSED=2"])],
            BOTH_HIT,
        )
        .args(&["--build-arg", "UNUSED=1"]),
        Case::new(
            "a declared build arg that no COPY reads",
            "FROM scratch\nARG V\nCOPY b.txt /b.txt\nCOPY dir /dir\n",
            &[Change::Args(&["--build-arg", "V=2"])],
            BOTH_HIT,
        )
        .args(&["--build-arg", "V=1"]),
        Case::new(
            "a proxy build arg",
            BASIC,
            &[Change::Args(&["--build-arg", "HTTP_PROXY=http://proxy:3128"])],
            BOTH_HIT,
        ),
        Case::new(
            "an ENV before a COPY",
            "FROM scratch\nENV X=1\nCOPY b.txt /b.txt\nCOPY dir /dir\n",
            &[Change::Dockerfile(
                "FROM scratch\nENV X=2\nCOPY b.txt /b.txt\nCOPY dir /dir\n",
            )],
            BOTH_HIT,
        ),
        Case::new(
            "a Dockerfile comment",
            "FROM scratch\n# one\nCOPY b.txt /b.txt\nCOPY dir /dir\n",
            &[Change::Dockerfile(
                "FROM scratch\n# two\nCOPY b.txt /b.txt\nCOPY dir /dir\n",
            )],
            BOTH_HIT,
        ),
        Case::new(
            "LABEL, EXPOSE and CMD",
            "FROM scratch\nLABEL a=1\nCOPY b.txt /b.txt\nEXPOSE 80\nCOPY dir /dir\nCMD [\"a\"]\n",
            &[Change::Dockerfile(
                "FROM scratch\nLABEL a=2\nCOPY b.txt /b.txt\nEXPOSE 8080\nCOPY dir /dir\nCMD [\"b\"]\n",
            )],
            BOTH_HIT,
        ),
        Case::new(
            "SOURCE_DATE_EPOCH set to the same value",
            BASIC,
            &[Change::Touch("dir/one.txt")],
            BOTH_HIT,
        )
        .env(&[("SOURCE_DATE_EPOCH", "100")]),
    ]
}

#[test]
fn inputs_that_must_miss() {
    for case in must_miss() {
        run_case(&kiln(), FIXTURE, &case, &[]);
    }
}

#[test]
fn inputs_that_must_hit() {
    for case in must_hit() {
        run_case(&kiln(), FIXTURE, &case, &[]);
    }
}

#[test]
fn a_rebuild_in_another_store_misses_and_a_second_context_copy_hits() {
    // Keys depend on content, not on where the context lives: a copy of the
    // project at another path hits the records of the first.
    let kiln = kiln();
    let first = Project::copy(FIXTURE);
    first.write("Dockerfile", BASIC);
    build_json(&kiln, first.path(), &[], &[]);
    let second = Project::copy(FIXTURE);
    second.write("Dockerfile", BASIC);
    let output = build_json(&kiln, second.path(), &[], &[]);
    let cached: Vec<bool> = layer_steps(&output)
        .into_iter()
        .map(|(_, cached, _)| cached)
        .collect();
    assert_eq!(cached, [true, true], "{}", output.streams());
    let other = crate::common::kiln();
    let output = build_json(&other, second.path(), &[], &[]);
    let cached: Vec<bool> = layer_steps(&output)
        .into_iter()
        .map(|(_, cached, _)| cached)
        .collect();
    assert_eq!(cached, [false, false], "{}", output.streams());
}

#[test]
fn a_named_context_enters_by_content() {
    let kiln = kiln();
    let named = Project::copy(FIXTURE);
    let project = Project::copy(FIXTURE);
    project.write(
        "Dockerfile",
        "FROM scratch\nCOPY b.txt /b.txt\nCOPY --from=extra dir/one.txt /one.txt\n",
    );
    let spec = format!("extra={}", named.arg());
    let args = ["--build-context", spec.as_str()];
    build_json(&kiln, project.path(), &args, &[]);
    crate::cache_common::shift_mtime(&named.join("dir/one.txt"), Duration::from_secs(60));
    named.write("dir/sub/two.txt", "not copied\n");
    let output = build_json(&kiln, project.path(), &args, &[]);
    assert_steps(&output, BOTH_HIT, "named context touched");
    named.write("dir/one.txt", "changed\n");
    let output = build_json(&kiln, project.path(), &args, &[]);
    assert_steps(
        &output,
        &[Hit, Miss("file dir/one.txt changed (content)")],
        "named context changed",
    );
}
