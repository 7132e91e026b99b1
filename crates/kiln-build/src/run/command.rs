//! The argv of a RUN: exec form as written; shell form through SHELL; heredocs
//! either run as the script (`RUN <<EOF`) or handed to the shell with the
//! command (`RUN python3 <<EOF`), as BuildKit does.

use kiln_dockerfile::instruction::ShellOrExec;
use kiln_dockerfile::Heredoc;

/// What to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv {
    /// The arguments.
    pub args: Vec<String>,
    /// A script to make executable at `/dev/pipes/<name>` (a `#!` heredoc).
    pub script: Option<(String, String)>,
}

/// Builds the argv of a RUN.
pub fn run_argv(command: &ShellOrExec, heredocs: &[Heredoc], shell: &[String]) -> Argv {
    let text = match command {
        ShellOrExec::Exec(args) => {
            return Argv {
                args: args.clone(),
                script: None,
            }
        }
        ShellOrExec::Shell(text) => text,
    };
    let with_shell = |body: String| {
        let mut args = shell.to_vec();
        args.push(body);
        args
    };
    if heredocs.is_empty() {
        return Argv {
            args: with_shell(text.clone()),
            script: None,
        };
    }
    if let [heredoc] = heredocs {
        if is_sole_heredoc(text, &heredoc.name) {
            let body = if heredoc.chomp {
                strip_tabs(&heredoc.content)
            } else {
                heredoc.content.clone()
            };
            if body.starts_with("#!") {
                let path = format!("/dev/pipes/{}", heredoc.name);
                return Argv {
                    args: vec![path],
                    script: Some((heredoc.name.clone(), body)),
                };
            }
            return Argv {
                args: with_shell(body),
                script: None,
            };
        }
    }
    let mut full = text.clone();
    for heredoc in heredocs {
        full.push('\n');
        full.push_str(&heredoc.content);
        if !heredoc.content.is_empty() && !heredoc.content.ends_with('\n') {
            full.push('\n');
        }
        full.push_str(&heredoc.name);
    }
    Argv {
        args: with_shell(full),
        script: None,
    }
}

/// True when the command is nothing but `<<NAME` (quotes and `-` allowed).
fn is_sole_heredoc(text: &str, name: &str) -> bool {
    let Some(rest) = text.trim().strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    rest.trim_matches(|ch| ch == '"' || ch == '\'') == name
}

fn strip_tabs(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

/// BuildKit's history text of a RUN: the argv joined, prefixed with
/// `|N K=V ...` when build args are in effect.
pub fn history_text(args: &[String], build_args: &[(String, String)]) -> String {
    let command = args.join(" ");
    if build_args.is_empty() {
        format!("RUN {command} # buildkit")
    } else {
        let pairs: Vec<String> = build_args
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        format!(
            "RUN |{} {} {command} # buildkit",
            pairs.len(),
            pairs.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heredoc(name: &str, content: &str, chomp: bool) -> Heredoc {
        Heredoc {
            name: name.into(),
            fd: 0,
            expand: true,
            chomp,
            content: content.into(),
        }
    }

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    #[test]
    fn forms() {
        let exec = ShellOrExec::Exec(vec!["echo".into(), "hi".into()]);
        assert_eq!(run_argv(&exec, &[], &sh()).args, vec!["echo", "hi"]);
        let shell = ShellOrExec::Shell("echo $HOME".into());
        assert_eq!(
            run_argv(&shell, &[], &sh()).args,
            vec!["/bin/sh", "-c", "echo $HOME"]
        );
    }

    #[test]
    fn heredocs() {
        let sole = ShellOrExec::Shell("<<EOF".into());
        let argv = run_argv(&sole, &[heredoc("EOF", "echo a\necho b\n", false)], &sh());
        assert_eq!(argv.args, vec!["/bin/sh", "-c", "echo a\necho b\n"]);
        let chomped = run_argv(
            &ShellOrExec::Shell("<<-EOF".into()),
            &[heredoc("EOF", "\techo a\n", true)],
            &sh(),
        );
        assert_eq!(chomped.args[2], "echo a\n");
        let script = run_argv(
            &sole,
            &[heredoc("EOF", "#!/usr/bin/env python3\nprint(1)\n", false)],
            &sh(),
        );
        assert_eq!(script.args, vec!["/dev/pipes/EOF"]);
        assert_eq!(script.script.unwrap().0, "EOF");
        let fed = run_argv(
            &ShellOrExec::Shell("cat <<A > /a && cat <<B > /b".into()),
            &[heredoc("A", "one\n", false), heredoc("B", "two\n", false)],
            &sh(),
        );
        assert_eq!(fed.args[2], "cat <<A > /a && cat <<B > /b\none\nA\ntwo\nB");
    }

    #[test]
    fn history() {
        let args = sh()
            .into_iter()
            .chain(["make".to_string()])
            .collect::<Vec<_>>();
        assert_eq!(history_text(&args, &[]), "RUN /bin/sh -c make # buildkit");
        assert_eq!(
            history_text(&args, &[("V".into(), "1".into())]),
            "RUN |1 V=1 /bin/sh -c make # buildkit"
        );
    }
}
