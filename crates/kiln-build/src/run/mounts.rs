//! `RUN --mount=...` specs: `type=bind|cache|secret|tmpfs` and their options,
//! parsed as BuildKit does (comma-separated `key=value`, booleans valueless).

/// One parsed `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// A read-only (or throw-away read-write) view of a stage, image or context.
    Bind {
        /// Mount point.
        target: String,
        /// Stage, image or named context; `None` is the build context.
        from: Option<String>,
        /// Path inside `from`.
        source: String,
        /// Writable (writes are discarded).
        rw: bool,
    },
    /// A persistent directory kept in the store between builds.
    Cache {
        /// Mount point.
        target: String,
        /// Cache id (default: the target).
        id: String,
        /// `shared`, `private` or `locked`.
        sharing: Sharing,
        /// Owner of a new cache directory.
        uid: u32,
        /// Group of a new cache directory.
        gid: u32,
        /// Mode of a new cache directory.
        mode: u32,
        /// Stage or image whose `source` seeds a new cache.
        from: Option<String>,
        /// Path inside `from`.
        source: String,
        /// Read-only.
        readonly: bool,
    },
    /// A secret file (or environment variable) from `kiln build --secret`.
    Secret {
        /// Secret id.
        id: String,
        /// Mount point (default `/run/secrets/<id>`), unless only `env` is set.
        target: Option<String>,
        /// Expose the secret as this environment variable.
        env: Option<String>,
        /// Fail when the secret was not given.
        required: bool,
        /// File mode.
        mode: u32,
        /// File owner.
        uid: u32,
        /// File group.
        gid: u32,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Mount point.
        target: String,
        /// Size limit in bytes.
        size: Option<u64>,
    },
}

/// Cache mount sharing modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent builds use it together.
    Shared,
    /// One user at a time; others wait (kiln waits instead of making a copy).
    Private,
    /// One user at a time; others wait.
    Locked,
}

impl RunMount {
    /// The mount point.
    pub fn target(&self) -> Option<&str> {
        match self {
            RunMount::Bind { target, .. }
            | RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target, .. } => Some(target),
            RunMount::Secret { target, .. } => target.as_deref(),
        }
    }
}

/// Parses the value of one `--mount` flag (already variable-expanded).
pub fn parse_mount(value: &str) -> Result<RunMount, String> {
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for part in split_csv(value)? {
        let (key, val) = match part.split_once('=') {
            Some((key, val)) => (key.trim().to_ascii_lowercase(), Some(val.to_string())),
            None => (part.trim().to_ascii_lowercase(), None),
        };
        fields.push((key, val));
    }
    let kind = fields
        .iter()
        .find(|(key, _)| key == "type")
        .and_then(|(_, val)| val.clone())
        .unwrap_or_else(|| "bind".to_string());
    let mut target = None;
    let mut source = None;
    let mut from = None;
    let mut readonly = None;
    let mut id = None;
    let mut sharing = Sharing::Shared;
    let mut uid = None;
    let mut gid = None;
    let mut mode = None;
    let mut env = None;
    let mut required = false;
    let mut size = None;
    for (key, val) in &fields {
        let need = || {
            val.clone()
                .ok_or_else(|| format!("--mount option {key} needs a value"))
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => target = Some(need()?),
            "source" | "src" => source = Some(need()?),
            "from" => from = Some(need()?),
            "readonly" | "ro" => readonly = Some(parse_bool(key, val.as_deref())?),
            "readwrite" | "rw" => readonly = Some(!parse_bool(key, val.as_deref())?),
            "id" => id = Some(need()?),
            "sharing" => {
                sharing = match need()?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => {
                        return Err(format!(
                            "invalid --mount sharing={other}: use shared, private or locked"
                        ))
                    }
                }
            }
            "uid" => uid = Some(parse_number(key, &need()?, 10)?),
            "gid" => gid = Some(parse_number(key, &need()?, 10)?),
            "mode" => mode = Some(parse_number(key, &need()?, 8)?),
            "env" => env = Some(need()?),
            "required" => required = parse_bool(key, val.as_deref())?,
            "size" | "tmpfs-size" => size = Some(parse_size(&need()?)?),
            "consistency" => {}
            other => {
                return Err(format!(
                    "--mount option {other:?} is not supported for type={kind}"
                ))
            }
        }
    }
    let reject = |present: bool, option: &str| -> Result<(), String> {
        if present {
            Err(format!(
                "--mount option {option} is not valid for type={kind}"
            ))
        } else {
            Ok(())
        }
    };
    let absolute = |path: String| {
        if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        }
    };
    match kind.as_str() {
        "bind" => {
            reject(id.is_some(), "id")?;
            reject(size.is_some(), "size")?;
            reject(env.is_some(), "env")?;
            let target = target.ok_or("--mount type=bind needs target=")?;
            Ok(RunMount::Bind {
                target: absolute(target),
                from,
                source: source.unwrap_or_else(|| "/".into()),
                rw: readonly == Some(false),
            })
        }
        "cache" => {
            reject(size.is_some(), "size")?;
            reject(env.is_some(), "env")?;
            let target = absolute(target.ok_or("--mount type=cache needs target=")?);
            Ok(RunMount::Cache {
                id: id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| target.clone()),
                target,
                sharing,
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
                mode: mode.unwrap_or(0o755),
                from,
                source: source.unwrap_or_else(|| "/".into()),
                readonly: readonly.unwrap_or(false),
            })
        }
        "secret" => {
            reject(from.is_some(), "from")?;
            reject(size.is_some(), "size")?;
            let id = id
                .or_else(|| {
                    target
                        .as_deref()
                        .map(|target| target.rsplit('/').next().unwrap_or("").to_string())
                })
                .filter(|id| !id.is_empty())
                .ok_or("--mount type=secret needs id= or target=")?;
            let target = match (target, &env) {
                (Some(target), _) => Some(absolute(target)),
                (None, Some(_)) => None,
                (None, None) => Some(format!("/run/secrets/{id}")),
            };
            Ok(RunMount::Secret {
                id,
                target,
                env,
                required,
                mode: mode.unwrap_or(0o400),
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
            })
        }
        "tmpfs" => {
            reject(from.is_some() || source.is_some(), "from/source")?;
            let target = target.ok_or("--mount type=tmpfs needs target=")?;
            Ok(RunMount::Tmpfs {
                target: absolute(target),
                size,
            })
        }
        "ssh" => Err("--mount type=ssh is not supported yet".into()),
        other => Err(format!(
            "--mount type={other} is not supported (use bind, cache, secret or tmpfs)"
        )),
    }
}

fn split_csv(value: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for ch in value.chars() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(open), _) if ch == open => quote = None,
            (None, ',') => parts.push(std::mem::take(&mut current)),
            _ => current.push(ch),
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in --mount={value}"));
    }
    parts.push(current);
    Ok(parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .collect())
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!(
            "invalid --mount {key}={other}: expected true or false"
        )),
    }
}

fn parse_number(key: &str, value: &str, radix: u32) -> Result<u32, String> {
    u32::from_str_radix(value, radix).map_err(|_| format!("invalid --mount {key}={value}"))
}

/// `1024`, `64k`, `10m`, `1g` (powers of 1024).
pub fn parse_size(value: &str) -> Result<u64, String> {
    let lower = value.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b');
    let (number, multiplier) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        _ => (trimmed, 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(multiplier))
        .ok_or_else(|| format!("invalid size {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mounts() {
        assert_eq!(
            parse_mount("type=cache,target=/root/.cache,sharing=locked,uid=1000,mode=0700")
                .unwrap(),
            RunMount::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                sharing: Sharing::Locked,
                uid: 1000,
                gid: 0,
                mode: 0o700,
                from: None,
                source: "/".into(),
                readonly: false,
            }
        );
        assert_eq!(
            parse_mount("target=/src,from=build,source=/out,rw").unwrap(),
            RunMount::Bind {
                target: "/src".into(),
                from: Some("build".into()),
                source: "/out".into(),
                rw: true
            }
        );
        assert_eq!(
            parse_mount("type=secret,id=tok,env=TOKEN").unwrap(),
            RunMount::Secret {
                id: "tok".into(),
                target: None,
                env: Some("TOKEN".into()),
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0
            }
        );
        assert_eq!(
            parse_mount("type=secret,id=tok").unwrap().target(),
            Some("/run/secrets/tok")
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,size=64m").unwrap(),
            RunMount::Tmpfs {
                target: "/t".into(),
                size: Some(64 << 20)
            }
        );
    }

    #[test]
    fn rejects_bad_mounts() {
        let cases = [
            ("type=ssh", "ssh"),
            ("type=volume,target=/x", "volume"),
            ("type=cache", "target"),
            ("type=bind,target=/x,id=1", "id"),
            ("type=cache,target=/x,sharing=maybe", "sharing"),
            ("type=cache,target=/x,bogus=1", "bogus"),
            ("type=tmpfs,target=/x,size=lots", "size"),
            ("type=secret", "id"),
        ];
        for (value, needle) in cases {
            let err = parse_mount(value).unwrap_err();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }
}
