//! Variable lists for word expansion: ordered `(name, value)` pairs where a
//! later entry wins, as in an image's `Env` or a stage's declared ARGs.

use kiln_dockerfile::expand::{expand_word, Env};
use kiln_dockerfile::Span;

use crate::error::{step_error, Result};

/// Ordered variables; the last entry with a name wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(pub Vec<(String, String)>);

impl Env for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Vars {
    /// Sets `name`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.retain(|(key, _)| key != name);
        self.0.push((name.to_string(), value.to_string()));
    }

    /// Parses an image config's `Env` (`K=V` strings).
    pub fn from_env_list(env: &[String]) -> Vars {
        let mut vars = Vars::default();
        for entry in env {
            let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            vars.set(key, value);
        }
        vars
    }

    /// Expands one word, mapping errors to the step at `span`.
    pub fn expand(&self, word: &str, escape: char, span: Span) -> Result<String> {
        expand_word(word, self, escape)
            .map(|expanded| expanded.value)
            .map_err(|err| step_error(span, err.to_string()))
    }
}

/// Expands `$name` and `${...}` in a heredoc body while keeping quotes and
/// backslashes as written (BuildKit expands COPY heredoc bodies this way when
/// the delimiter is unquoted). `\$` keeps the dollar literal.
pub fn expand_heredoc_body(body: &str, vars: &Vars, escape: char, span: Span) -> Result<String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len());
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        if ch == escape && chars.get(index + 1) == Some(&'$') {
            out.push(ch);
            out.push('$');
            index += 2;
            continue;
        }
        if ch != '$' {
            out.push(ch);
            index += 1;
            continue;
        }
        let start = index;
        let mut end = index + 1;
        if chars.get(end) == Some(&'{') {
            let mut depth = 0;
            while end < chars.len() {
                match chars[end] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                end += 1;
            }
        } else {
            while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                end += 1;
            }
        }
        if end == start + 1 {
            out.push('$');
            index += 1;
            continue;
        }
        let token: String = chars[start..end].iter().collect();
        out.push_str(&vars.expand(&token, escape, span)?);
        index = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_values_win() {
        let mut vars = Vars::from_env_list(&["A=1".into(), "B=2".into(), "A=3".into()]);
        assert_eq!(vars.get("A"), Some("3"));
        vars.set("B", "x=y");
        assert_eq!(
            vars.0,
            vec![
                ("A".to_string(), "3".to_string()),
                ("B".to_string(), "x=y".to_string())
            ]
        );
    }

    #[test]
    fn heredoc_bodies_keep_quotes() {
        let vars = Vars(vec![("NAME".into(), "kiln".into())]);
        let body = "echo \"hi $NAME\" '${NAME}' \\$NAME $ 5\n";
        let out = expand_heredoc_body(body, &vars, '\\', Span::default()).unwrap();
        assert_eq!(out, "echo \"hi kiln\" 'kiln' \\$NAME $ 5\n");
    }
}
