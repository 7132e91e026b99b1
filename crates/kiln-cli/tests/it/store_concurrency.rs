//! Many kiln processes on one store: eight concurrent builds (same and
//! different Dockerfiles, COPY-only and RUN on busybox) all succeed, give
//! the digests serial builds give in a fresh store, and leave a store that
//! fsck finds clean; `kiln prune --all -f` looping beside running builds
//! never deletes what they need.

use std::time::{Duration, Instant};

use kiln_testutil::{Kiln, Project};

use crate::common::s;
use crate::run_common::{busybox_archive, BASE};
use crate::store_common::{assert_fsck_clean, build_command, copy_project, finish, kiln, spawn};

/// Loads the busybox image into `kiln`'s store; false when it is unavailable
/// (no busybox-static: the RUN builds are then left out).
fn load_busybox(kiln: &Kiln) -> bool {
    let Some(archive) = busybox_archive() else {
        return false;
    };
    let path = kiln.path("busybox.tar");
    std::fs::write(&path, archive).unwrap();
    kiln.load([s(&path)]);
    true
}

/// A RUN project on busybox: a cache mount, and a file that depends on `seed`.
fn run_project(seed: u64) -> Project {
    let project = Project::empty();
    project.write("input.txt", format!("seed {seed}\n"));
    project.write(
        "Dockerfile",
        format!(
            "FROM {BASE}\nCOPY input.txt /input.txt\n\
             RUN --mount=type=cache,target=/cache cp /input.txt /cache/last && wc -c /input.txt > /size.txt\n\
             RUN echo {seed} > /seed.txt\n"
        ),
    );
    project
}

/// The projects, and which project each of the eight concurrent builds uses.
fn projects(with_run: bool) -> (Vec<Project>, Vec<usize>) {
    let mut projects = vec![
        copy_project(11, 2, 3, 40_000),
        copy_project(12, 3, 2, 30_000),
        copy_project(13, 1, 4, 50_000),
    ];
    let mut plan = vec![0, 0, 1, 1, 2, 2, 0, 1];
    if with_run {
        projects.push(run_project(1));
        projects.push(run_project(2));
        plan = vec![0, 0, 1, 2, 3, 3, 4, 1];
    }
    (projects, plan)
}

#[test]
fn eight_concurrent_builds_match_serial_builds() {
    let shared = kiln();
    let with_run = load_busybox(&shared);
    let (projects, plan) = projects(with_run);

    let children: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(build, &project)| {
            spawn(build_command(
                &shared,
                &format!("b{build}:1"),
                &projects[project],
                &[],
            ))
        })
        .collect();
    let concurrent: Vec<String> = children
        .into_iter()
        .enumerate()
        .map(|(build, child)| finish(child, &format!("concurrent build {build}")))
        .collect();

    let serial_kiln = kiln();
    if with_run {
        load_busybox(&serial_kiln);
    }
    let serial: Vec<String> = projects
        .iter()
        .enumerate()
        .map(|(index, project)| {
            let tag = format!("s{index}:1");
            let child = spawn(build_command(&serial_kiln, &tag, project, &[]));
            finish(child, &format!("serial build {index}"))
        })
        .collect();

    for (build, &project) in plan.iter().enumerate() {
        assert_eq!(
            concurrent[build], serial[project],
            "build {build} (project {project}) differs from the serial build"
        );
        assert_eq!(
            shared.manifest_digest(&format!("b{build}:1")),
            serial_kiln.manifest_digest(&format!("s{project}:1")),
            "manifest of build {build}"
        );
    }
    assert_fsck_clean(&shared, "after concurrent builds");
    let output = assert_fsck_clean(&shared, "again");
    assert!(!output.stdout.contains("garbage:"), "{}", output.stdout);
}

#[test]
fn prune_all_during_builds_keeps_what_they_need() {
    let kiln = kiln();
    let with_run = load_busybox(&kiln);
    let (projects, _) = projects(with_run);
    let children: Vec<_> = projects
        .iter()
        .enumerate()
        .map(|(index, project)| {
            spawn(build_command(
                &kiln,
                &format!("p{index}:1"),
                project,
                &["--no-cache"],
            ))
        })
        .collect();
    // Prune as often as possible while the builds run.
    let started = Instant::now();
    let mut prunes = 0;
    let mut children: Vec<_> = children.into_iter().map(Some).collect();
    while children
        .iter_mut()
        .flatten()
        .any(|child| child.try_wait().unwrap().is_none())
    {
        kiln.run(["prune", "--all", "-f"]).assert_success();
        prunes += 1;
        assert!(started.elapsed() < Duration::from_secs(120), "builds hang");
    }
    assert!(prunes > 0);
    let ids: Vec<String> = children
        .iter_mut()
        .enumerate()
        .map(|(index, child)| finish(child.take().unwrap(), &format!("build {index}")))
        .collect();
    kiln.run(["prune", "--all", "-f"]).assert_success();
    assert_fsck_clean(&kiln, "after builds beside prune");
    // Every image is complete: rebuilding from the cache gives the same IDs.
    for (index, project) in projects.iter().enumerate() {
        let child = spawn(build_command(&kiln, &format!("p{index}:1"), project, &[]));
        assert_eq!(finish(child, "rebuild"), ids[index], "project {index}");
    }
}
