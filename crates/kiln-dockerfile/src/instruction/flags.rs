//! Instruction flags (`--name=value`), checked against what each instruction
//! accepts, as BuildKit's `BFlags` does.

use std::collections::BTreeMap;

use super::error::InstructionErrorKind;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagKind {
    /// `--name`, `--name=true`, `--name=false`; once.
    Bool,
    /// `--name=value`; once.
    String,
    /// `--name=value`; repeatable.
    Strings,
}

/// The flags an instruction takes.
pub(super) type FlagSpecs = &'static [(&'static str, FlagKind)];

/// Flags of one instruction after checking.
#[derive(Debug, Default)]
pub(super) struct Flags {
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Checks `words` (each `--name[=value]`) against `specs`.
    pub(super) fn parse(
        instruction: &str,
        words: &[String],
        specs: FlagSpecs,
    ) -> Result<Flags, InstructionErrorKind> {
        let mut flags = Flags::default();
        for word in words {
            let Some(body) = word.strip_prefix("--") else {
                return Err(InstructionErrorKind::MalformedFlag {
                    instruction: instruction.to_owned(),
                    word: word.clone(),
                });
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(spec_name, kind)) = specs.iter().find(|(spec_name, _)| *spec_name == name)
            else {
                return Err(InstructionErrorKind::UnknownFlag {
                    instruction: instruction.to_owned(),
                    flag: name.to_owned(),
                });
            };
            let values = flags.values.entry(spec_name).or_default();
            if kind != FlagKind::Strings && !values.is_empty() {
                return Err(InstructionErrorKind::DuplicateFlag {
                    flag: name.to_owned(),
                });
            }
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_owned(),
                (FlagKind::Bool, Some("")) | (FlagKind::String | FlagKind::Strings, None) => {
                    return Err(InstructionErrorKind::MissingFlagValue {
                        flag: name.to_owned(),
                    })
                }
                (FlagKind::Bool, Some(value)) => match value.to_ascii_lowercase().as_str() {
                    lower @ ("true" | "false") => lower.to_owned(),
                    _ => {
                        return Err(InstructionErrorKind::InvalidBoolFlag {
                            flag: name.to_owned(),
                            value: value.to_owned(),
                        })
                    }
                },
                (FlagKind::String | FlagKind::Strings, Some(value)) => value.to_owned(),
            };
            values.push(value);
        }
        Ok(flags)
    }

    /// A string flag's value; an empty value counts as not given (BuildKit).
    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .and_then(|values| values.first())
            .filter(|value| !value.is_empty())
            .cloned()
    }

    /// A boolean flag's value, `None` when not given.
    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        self.values
            .get(name)
            .and_then(|values| values.first())
            .map(|value| value == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: FlagSpecs = &[
        ("link", FlagKind::Bool),
        ("from", FlagKind::String),
        ("mount", FlagKind::Strings),
    ];

    fn parse(words: &[&str]) -> Result<Flags, InstructionErrorKind> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Flags::parse("COPY", &words, SPECS)
    }

    #[test]
    fn accepted_forms() {
        let flags = parse(&["--link", "--from=build", "--mount=a", "--mount=b"]).unwrap();
        assert_eq!(flags.bool("link"), Some(true));
        assert_eq!(flags.string("from").as_deref(), Some("build"));
        assert_eq!(flags.strings("mount"), ["a", "b"]);
        let flags = parse(&["--link=FALSE", "--from="]).unwrap();
        assert_eq!(flags.bool("link"), Some(false));
        assert_eq!(flags.string("from"), None);
        assert_eq!(flags.strings("mount"), Vec::<String>::new());
        assert_eq!(parse(&[]).unwrap().bool("link"), None);
    }

    #[test]
    fn rejected_forms_name_the_flag() {
        let cases: [(&[&str], &str); 7] = [
            (&["--nope"], "unknown flag for COPY: --nope"),
            (&["--nope=1"], "unknown flag for COPY: --nope"),
            (
                &["--link=maybe"],
                "expecting boolean value for flag --link, not: maybe",
            ),
            (&["--link="], "missing a value on flag: --link"),
            (&["--from"], "missing a value on flag: --from"),
            (
                &["--from=a", "--from=b"],
                "duplicate flag specified: --from",
            ),
            (&["-x"], "COPY: flag should start with --: -x"),
        ];
        for (words, message) in cases {
            assert_eq!(parse(words).unwrap_err().to_string(), message, "{words:?}");
        }
        assert_eq!(
            parse(&["--link", "--link"]).unwrap_err().to_string(),
            "duplicate flag specified: --link"
        );
    }
}
