//! A small subset of Go templates for `--format`, over JSON values: text
//! around `{{ … }}` actions; an action is an argument or a function call.
//!
//! - arguments: `.` (the whole value), `.Field.Sub` (object keys),
//!   `"string"`;
//! - functions: `json ARG`, `join ARG "SEP"`, `index ARG KEY…`, `upper ARG`,
//!   `lower ARG`;
//! - `{{-` / `-}}` trim the white space before / after the action;
//! - `\t` and `\n` written literally in the format become tab and newline,
//!   and spaces around the format are trimmed, as docker's formatter does.
//!
//! Values print as Go's `%v` would print the decoded JSON: arrays as
//! `[a b]`, objects as `map[k:v]`, null as `<nil>`, a missing key as
//! `<no value>`. Pipelines, variables, `if`/`range` and `table` are not
//! supported and are reported as errors.

use anyhow::{bail, Context};
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Action {
        function: Option<String>,
        args: Vec<Arg>,
    },
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.` or `.A.B`: the keys to follow.
    Path(Vec<String>),
    /// A quoted string.
    Literal(String),
}

/// The functions [`Template`] knows.
const FUNCTIONS: &[&str] = &["json", "join", "index", "upper", "lower"];

impl Template {
    /// Parses a `--format` value.
    pub fn parse(format: &str) -> anyhow::Result<Template> {
        let format = format
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = format.as_str();
        let mut trim_next_text = false;
        while let Some(start) = rest.find("{{") {
            let mut text = &rest[..start];
            if trim_next_text {
                text = text.trim_start();
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unclosed action in template {format:?}"))?;
            let mut action = &after[..end];
            if let Some(trimmed) = action.strip_prefix('-') {
                text = text.trim_end();
                action = trimmed;
            }
            trim_next_text = false;
            if let Some(trimmed) = action.strip_suffix('-') {
                trim_next_text = true;
                action = trimmed;
            }
            if !text.is_empty() {
                parts.push(Part::Text(text.to_string()));
            }
            parts.push(parse_action(action.trim())?);
            rest = &after[end + 2..];
        }
        let text = if trim_next_text {
            rest.trim_start()
        } else {
            rest
        };
        if !text.is_empty() {
            parts.push(Part::Text(text.to_string()));
        }
        Ok(Template { parts })
    }

    /// Applies the template to `value`.
    pub fn render(&self, value: &Value) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action { function, args } => {
                    out.push_str(&call(function.as_deref(), args, value)?);
                }
            }
        }
        Ok(out)
    }
}

fn parse_action(action: &str) -> anyhow::Result<Part> {
    let words = split_words(action)?;
    let Some((first, rest)) = words.split_first() else {
        bail!("empty action {{{{{action}}}}} in template");
    };
    if first.starts_with('.') || first.starts_with('"') {
        if !rest.is_empty() {
            bail!("unsupported template action {{{{{action}}}}}: only one argument or a function call");
        }
        return Ok(Part::Action {
            function: None,
            args: vec![parse_arg(first)?],
        });
    }
    if !FUNCTIONS.contains(&first.as_str()) {
        bail!(
            "unsupported template function {first:?} (kiln supports {})",
            FUNCTIONS.join(", ")
        );
    }
    let args = rest
        .iter()
        .map(|word| parse_arg(word))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Part::Action {
        function: Some(first.clone()),
        args,
    })
}

/// Splits an action into words, keeping `"quoted strings"` (with `\"`) whole.
fn split_words(action: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&next) = chars.peek() {
        if next.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if next == '"' {
            word.push(next);
            chars.next();
            let mut closed = false;
            while let Some(current) = chars.next() {
                word.push(current);
                if current == '\\' {
                    if let Some(escaped) = chars.next() {
                        word.push(escaped);
                    }
                } else if current == '"' {
                    closed = true;
                    break;
                }
            }
            if !closed {
                bail!("unterminated string in template action {action:?}");
            }
        } else {
            while let Some(&current) = chars.peek() {
                if current.is_whitespace() {
                    break;
                }
                word.push(current);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

fn parse_arg(word: &str) -> anyhow::Result<Arg> {
    if word.starts_with('"') {
        let text: String = serde_json::from_str(word)
            .with_context(|| format!("invalid string {word} in template"))?;
        return Ok(Arg::Literal(text));
    }
    let Some(path) = word.strip_prefix('.') else {
        bail!("unsupported template argument {word:?}: use .Field or \"text\"");
    };
    if path.is_empty() {
        return Ok(Arg::Path(Vec::new()));
    }
    let keys: Vec<String> = path.split('.').map(str::to_string).collect();
    if keys.iter().any(String::is_empty) {
        bail!("invalid field path {word:?} in template");
    }
    Ok(Arg::Path(keys))
}

/// An evaluated argument: a value, or a key that does not exist.
enum Evaluated {
    Value(Value),
    Missing,
}

fn evaluate(arg: &Arg, root: &Value) -> Evaluated {
    match arg {
        Arg::Literal(text) => Evaluated::Value(Value::String(text.clone())),
        Arg::Path(keys) => {
            let mut current = root;
            for key in keys {
                match current.get(key) {
                    Some(next) => current = next,
                    None => return Evaluated::Missing,
                }
            }
            Evaluated::Value(current.clone())
        }
    }
}

fn call(function: Option<&str>, args: &[Arg], root: &Value) -> anyhow::Result<String> {
    let values: Vec<Evaluated> = args.iter().map(|arg| evaluate(arg, root)).collect();
    let value = |index: usize| -> anyhow::Result<Value> {
        match values.get(index) {
            Some(Evaluated::Value(value)) => Ok(value.clone()),
            Some(Evaluated::Missing) => Ok(Value::Null),
            None => bail!("template function {function:?} needs more arguments"),
        }
    };
    match function {
        None => Ok(match values.first() {
            Some(Evaluated::Value(value)) => go_print(value),
            _ => "<no value>".to_string(),
        }),
        Some("json") => Ok(serde_json::to_string(&value(0)?)?),
        Some("upper") => Ok(go_print(&value(0)?).to_uppercase()),
        Some("lower") => Ok(go_print(&value(0)?).to_lowercase()),
        Some("join") => {
            let separator = go_print(&value(1)?);
            match value(0)? {
                Value::Array(items) => Ok(items
                    .iter()
                    .map(go_print)
                    .collect::<Vec<_>>()
                    .join(&separator)),
                Value::Null => Ok(String::new()),
                other => bail!("join needs a list, got {}", go_print(&other)),
            }
        }
        Some("index") => {
            let mut current = value(0)?;
            for position in 1..values.len() {
                let key = value(position)?;
                current = match (&current, &key) {
                    (Value::Object(map), Value::String(key)) => {
                        map.get(key).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(items), Value::String(key)) => {
                        let position: usize = key.parse().with_context(|| {
                            format!("index of a list needs a number, got {key:?}")
                        })?;
                        items
                            .get(position)
                            .cloned()
                            .with_context(|| format!("index {position} out of range"))?
                    }
                    _ => bail!(
                        "cannot index {} with {}",
                        go_print(&current),
                        go_print(&key)
                    ),
                };
            }
            Ok(go_print(&current))
        }
        Some(other) => bail!("unsupported template function {other:?}"),
    }
}

/// Go's `%v` of a decoded JSON value.
fn go_print(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_print).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| format!("{key}:{}", go_print(value)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "Id": "sha256:abc",
            "RepoTags": ["app:1", "app:latest"],
            "Size": 1234,
            "Config": {
                "Cmd": ["sh", "-c", "echo hi"],
                "Entrypoint": null,
                "Labels": {"b": "2", "a": "1"},
                "Env": ["PATH=/bin"],
            },
        })
    }

    #[test]
    fn renders_like_go_templates() {
        let cases: &[(&str, &str)] = &[
            ("{{.Id}}", "sha256:abc"),
            ("id={{ .Id }} size={{.Size}}", "id=sha256:abc size=1234"),
            ("{{.Config.Cmd}}", "[sh -c echo hi]"),
            ("{{json .Config.Cmd}}", r#"["sh","-c","echo hi"]"#),
            ("{{.Config.Entrypoint}}", "<nil>"),
            ("{{.Config.Missing}}", "<no value>"),
            ("{{.Config.Labels}}", "map[a:1 b:2]"),
            ("{{index .Config.Labels \"b\"}}", "2"),
            ("{{index .RepoTags \"1\"}}", "app:latest"),
            ("{{join .RepoTags \", \"}}", "app:1, app:latest"),
            ("{{upper .Id}}", "SHA256:ABC"),
            ("{{.Id}}\\t{{.Size}}\\n", "sha256:abc\t1234\n"),
            ("a  {{- .Size -}}  b", "a1234b"),
            ("  {{.Size}}  ", "1234"),
            ("plain", "plain"),
            ("{{json .}}", &serde_json::to_string(&sample()).unwrap()),
        ];
        for (format, expected) in cases {
            let template = Template::parse(format).unwrap();
            assert_eq!(template.render(&sample()).unwrap(), *expected, "{format}");
        }
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        for format in [
            "{{.Id",
            "{{}}",
            "{{range .RepoTags}}x{{end}}",
            "{{.Id | json}}",
            "{{$x}}",
            "{{json \"open}}",
            "{{.a..b}}",
        ] {
            assert!(Template::parse(format).is_err(), "{format}");
        }
        let template = Template::parse("{{join .Size \",\"}}").unwrap();
        assert!(template.render(&sample()).is_err());
    }
}
