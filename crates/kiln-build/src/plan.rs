//! The planner: global ARGs, the target stage, and which stages it needs.
//!
//! Pure: a parsed Dockerfile and the build options in, a [`Plan`] out.

use std::collections::{BTreeMap, BTreeSet};

use kiln_dockerfile::expand::expand_word;
use kiln_dockerfile::instruction::{CommandKind, Stage, Stages};
use kiln_oci::Platform;

use crate::error::{step_error, BuildError, Result};

/// What to build, in order.
#[derive(Debug)]
pub struct Plan {
    /// Every stage of the Dockerfile.
    pub stages: Vec<Stage>,
    /// Indexes of the stages to build, each after the stages it needs; the target is last.
    pub order: Vec<usize>,
    /// The global ARGs with a value (and the automatic platform args), in declaration order.
    pub meta_env: Vec<(String, String)>,
    /// Global ARG names, declared with or without a value.
    pub meta_declared: BTreeMap<String, Option<String>>,
    /// Build args read by a global ARG.
    pub consumed: BTreeSet<String>,
}

/// The automatic platform args BuildKit defines in the global scope.
pub fn platform_args(platform: &Platform) -> Vec<(String, String)> {
    let variant = platform.variant.clone().unwrap_or_default();
    let mut out = Vec::new();
    for prefix in ["BUILD", "TARGET"] {
        out.push((format!("{prefix}PLATFORM"), platform.to_string()));
        out.push((format!("{prefix}OS"), platform.os.clone()));
        out.push((format!("{prefix}ARCH"), platform.architecture.clone()));
        out.push((format!("{prefix}VARIANT"), variant.clone()));
    }
    out
}

/// Resolves the global ARGs, the target and the stages it depends on.
pub fn plan(
    parsed: Stages,
    build_args: &BTreeMap<String, String>,
    target: Option<&str>,
    platform: &Platform,
    escape: char,
) -> Result<Plan> {
    let mut meta_env = platform_args(platform);
    let mut meta_declared = BTreeMap::new();
    let mut consumed = BTreeSet::new();
    for command in &parsed.meta_args {
        let CommandKind::Arg(decls) = &command.kind else {
            continue;
        };
        for decl in decls {
            let value = if let Some(value) = build_args.get(&decl.name) {
                consumed.insert(decl.name.clone());
                Some(value.clone())
            } else if let Some(default) = &decl.default {
                let expanded = expand_word(default, &meta_env, escape)
                    .map_err(|err| step_error(command.span, err.to_string()))?;
                Some(expanded.value)
            } else {
                None
            };
            meta_declared.insert(decl.name.clone(), value.clone());
            if let Some(value) = value {
                meta_env.retain(|(name, _)| name != &decl.name);
                meta_env.push((decl.name.clone(), value));
            }
        }
    }

    let stages = parsed.stages;
    let target_index = match target {
        None => stages.len() - 1,
        Some(name) => {
            let lower = name.to_ascii_lowercase();
            stages
                .iter()
                .position(|stage| stage.name.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| {
                    BuildError::Usage(format!("target stage {name:?} could not be found"))
                })?
        }
    };

    let mut order = Vec::new();
    let mut visiting = BTreeSet::new();
    visit(
        &stages,
        target_index,
        &meta_env,
        escape,
        &mut visiting,
        &mut order,
    )?;
    Ok(Plan {
        stages,
        order,
        meta_env,
        meta_declared,
        consumed,
    })
}

/// Finds a stage by name (case-insensitive) or, when `allow_index`, by number.
pub fn find_stage(stages: &[Stage], name: &str, before: usize, allow_index: bool) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(found) = stages[..before]
        .iter()
        .position(|stage| stage.name.as_deref() == Some(lower.as_str()))
    {
        return Some(found);
    }
    if allow_index {
        if let Ok(index) = name.parse::<usize>() {
            if index < before {
                return Some(index);
            }
        }
    }
    None
}

/// The stages `stage` reads from: its base and `COPY --from` sources.
fn dependencies(
    stages: &[Stage],
    index: usize,
    meta_env: &[(String, String)],
    escape: char,
) -> Result<Vec<usize>> {
    let stage = &stages[index];
    let mut deps = Vec::new();
    let base = expand_word(&stage.base, &meta_env, escape)
        .map_err(|err| step_error(stage.span, err.to_string()))?
        .value;
    if let Some(found) = find_stage(stages, &base, index, false) {
        deps.push(found);
    }
    for command in &stage.commands {
        if let CommandKind::Run(run) = &command.kind {
            for value in &run.mounts {
                let value = expand_word(value, &meta_env, escape)
                    .map(|expanded| expanded.value)
                    .unwrap_or_else(|_| value.clone());
                let from = match crate::run::mounts::parse_mount(&value) {
                    Ok(crate::run::mounts::RunMount::Bind { from, .. })
                    | Ok(crate::run::mounts::RunMount::Cache { from, .. }) => from,
                    _ => None,
                };
                if let Some(found) = from.and_then(|from| find_stage(stages, &from, index, true)) {
                    deps.push(found);
                }
            }
        }
        if let CommandKind::Copy(copy) = &command.kind {
            if let Some(from) = &copy.from {
                let from = expand_word(from, &meta_env, escape)
                    .map(|expanded| expanded.value)
                    .unwrap_or_else(|_| from.clone());
                if let Some(found) = find_stage(stages, &from, index, true) {
                    deps.push(found);
                } else if from.parse::<usize>().is_ok() {
                    return Err(step_error(
                        command.span,
                        format!("COPY --from={from} refers to a stage that is not defined before this one"),
                    ));
                }
            }
        }
    }
    Ok(deps)
}

fn visit(
    stages: &[Stage],
    index: usize,
    meta_env: &[(String, String)],
    escape: char,
    visiting: &mut BTreeSet<usize>,
    order: &mut Vec<usize>,
) -> Result<()> {
    if order.contains(&index) {
        return Ok(());
    }
    if !visiting.insert(index) {
        return Err(step_error(
            stages[index].span,
            "circular dependency between stages",
        ));
    }
    for dep in dependencies(stages, index, meta_env, escape)? {
        visit(stages, dep, meta_env, escape, visiting, order)?;
    }
    visiting.remove(&index);
    order.push(index);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages_of(text: &str) -> Stages {
        let file = kiln_dockerfile::parse(text.as_bytes()).unwrap();
        kiln_dockerfile::instruction::to_stages(&file).unwrap()
    }

    fn host() -> Platform {
        Platform::parse("linux/amd64").unwrap()
    }

    #[test]
    fn builds_only_what_the_target_needs() {
        let text = "FROM scratch AS a\nFROM scratch AS b\nCOPY --from=a /x /x\nFROM scratch AS c\nFROM b AS d\n";
        let plan = plan(stages_of(text), &BTreeMap::new(), Some("d"), &host(), '\\').unwrap();
        assert_eq!(plan.order, vec![0, 1, 3]);
        let plan2 = super::plan(stages_of(text), &BTreeMap::new(), None, &host(), '\\').unwrap();
        assert_eq!(plan2.order, vec![0, 1, 3]);
        let plan3 =
            super::plan(stages_of(text), &BTreeMap::new(), Some("C"), &host(), '\\').unwrap();
        assert_eq!(plan3.order, vec![2]);
    }

    #[test]
    fn unknown_target_is_an_error() {
        let err = plan(
            stages_of("FROM scratch\n"),
            &BTreeMap::new(),
            Some("nope"),
            &host(),
            '\\',
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn global_args_take_build_args_and_defaults() {
        let text = "ARG A=one\nARG B=${A}-two\nARG C\nFROM scratch\n";
        let mut args = BTreeMap::new();
        args.insert("A".to_string(), "uno".to_string());
        let plan = plan(stages_of(text), &args, None, &host(), '\\').unwrap();
        let get = |name: &str| {
            plan.meta_env
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("A").as_deref(), Some("uno"));
        assert_eq!(get("B").as_deref(), Some("uno-two"));
        assert_eq!(get("C"), None);
        assert_eq!(get("TARGETARCH").as_deref(), Some("amd64"));
        assert!(plan.consumed.contains("A"));
        assert_eq!(plan.meta_declared.get("C"), Some(&None));
    }

    #[test]
    fn run_mount_from_counts_as_a_dependency() {
        let text = "FROM scratch AS tools\nFROM scratch AS unused\nFROM scratch\nRUN --mount=type=bind,from=tools,target=/t true\n";
        let plan = plan(stages_of(text), &BTreeMap::new(), None, &host(), '\\').unwrap();
        assert_eq!(plan.order, vec![0, 2]);
    }

    #[test]
    fn copy_from_index_counts_as_a_dependency() {
        let text = "FROM scratch\nFROM scratch\nFROM scratch\nCOPY --from=1 /a /a\n";
        let plan = plan(stages_of(text), &BTreeMap::new(), None, &host(), '\\').unwrap();
        assert_eq!(plan.order, vec![1, 2]);
    }
}
