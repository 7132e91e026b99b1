//! User-namespace id mappings for rootless runs: the caller becomes root,
//! plus the caller's subordinate ranges from `/etc/subuid` and `/etc/subgid`
//! when `newuidmap`/`newgidmap` exist to install them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Where the setuid mapping helpers are looked for.
const HELPER_DIRS: [&str; 5] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/// Subordinate `(start, count)` ranges for uids and gids, with the
/// `newuidmap` and `newgidmap` paths that install them.
type Subordinate = (((u32, u32), (u32, u32)), (PathBuf, PathBuf));

/// One mapping line: `size` ids from `container` map to `host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdRange {
    /// First id inside the namespace.
    pub container: u32,
    /// First id outside it.
    pub host: u32,
    /// Number of ids.
    pub size: u32,
}

/// The uid and gid mappings of a rootless run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdMappings {
    /// uid_map lines.
    pub uids: Vec<IdRange>,
    /// gid_map lines.
    pub gids: Vec<IdRange>,
    /// `newuidmap` and `newgidmap`, when the mappings need them.
    helpers: Option<(PathBuf, PathBuf)>,
}

impl IdMappings {
    /// The mappings for the current (non-root) user: the caller as root, plus
    /// subordinate ranges when both the ranges and the helpers exist.
    pub fn for_current_user() -> Self {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        let name = user_name(uid);
        let sub_uid = read_range("/etc/subuid", name.as_deref(), uid);
        let sub_gid = read_range("/etc/subgid", name.as_deref(), uid);
        let helpers = find_helper("newuidmap").zip(find_helper("newgidmap"));
        Self::build(uid, gid, sub_uid.zip(sub_gid).zip(helpers))
    }

    /// The caller-only mappings for `uid`/`gid`, for tests elsewhere.
    #[cfg(test)]
    pub(crate) fn for_test(uid: u32, gid: u32) -> Self {
        Self::build(uid, gid, None)
    }

    /// The mappings for `uid`/`gid`, with `(subuid, subgid)` ranges and
    /// helper paths when available.
    fn build(uid: u32, gid: u32, extra: Option<Subordinate>) -> Self {
        let own = |host| IdRange {
            container: 0,
            host,
            size: 1,
        };
        let sub = |(start, count)| IdRange {
            container: 1,
            host: start,
            size: count,
        };
        match extra {
            Some(((sub_uid, sub_gid), helpers)) => IdMappings {
                uids: vec![own(uid), sub(sub_uid)],
                gids: vec![own(gid), sub(sub_gid)],
                helpers: Some(helpers),
            },
            None => IdMappings {
                uids: vec![own(uid)],
                gids: vec![own(gid)],
                helpers: None,
            },
        }
    }

    /// Installs the mappings for process `pid`, which has just unshared its
    /// user namespace.
    pub fn apply(&self, pid: u32) -> Result<()> {
        if let Some((newuidmap, newgidmap)) = &self.helpers {
            run_helper(newuidmap, pid, &self.uids)?;
            return run_helper(newgidmap, pid, &self.gids);
        }
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let write = |name: &str, content: String| {
            let path = proc_dir.join(name);
            std::fs::write(&path, content).map_err(|error| Error::io("write", path, error))
        };
        write("uid_map", map_text(&self.uids))?;
        write("setgroups", "deny".to_owned())?;
        write("gid_map", map_text(&self.gids))
    }
}

/// The `uid_map` file format: one `container host size` line per range.
fn map_text(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|range| format!("{} {} {}\n", range.container, range.host, range.size))
        .collect()
}

/// Runs `newuidmap pid container host size...`.
fn run_helper(helper: &Path, pid: u32, ranges: &[IdRange]) -> Result<()> {
    let mut command = Command::new(helper);
    command.arg(pid.to_string());
    for range in ranges {
        command.args([
            range.container.to_string(),
            range.host.to_string(),
            range.size.to_string(),
        ]);
    }
    let action = format!("run {}", helper.display());
    let output = command
        .output()
        .map_err(|error| Error::process(action.clone(), error))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Setup {
        message: format!(
            "{} failed ({}): {}",
            helper.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

/// The first `name:start:count` (or `uid:start:count`) range of `content`.
pub(crate) fn parse_range(content: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let uid = uid.to_string();
    content.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        if owner != uid && Some(owner) != name {
            return None;
        }
        let start = fields.next()?.parse().ok()?;
        let count: u32 = fields.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

fn read_range(path: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let content = std::fs::read_to_string(path).ok()?;
    parse_range(&content, name, uid)
}

/// The login name of `uid` from `/etc/passwd`.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let uid = uid.to_string();
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

fn find_helper(name: &str) -> Option<PathBuf> {
    HELPER_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subordinate_ranges() {
        let content = "alice:100000:65536\n1001:200000:1000\nbob:x:1\ncarol:5:0\n";
        let cases = [
            (Some("alice"), 1000, Some((100_000, 65_536))),
            (Some("dave"), 1001, Some((200_000, 1000))),
            (Some("bob"), 1002, None),
            (Some("carol"), 1003, None),
            (None, 4242, None),
        ];
        for (name, uid, expected) in cases {
            assert_eq!(parse_range(content, name, uid), expected, "{name:?} {uid}");
        }
    }

    #[test]
    fn builds_mappings_with_and_without_helpers() {
        let plain = IdMappings::build(1000, 1000, None);
        assert_eq!(map_text(&plain.uids), "0 1000 1\n");
        assert!(plain.helpers.is_none());
        let helpers = (PathBuf::from("/h/u"), PathBuf::from("/h/g"));
        let full = IdMappings::build(
            1000,
            100,
            Some((((100_000, 65_536), (200_000, 10)), helpers)),
        );
        assert_eq!(map_text(&full.uids), "0 1000 1\n1 100000 65536\n");
        assert_eq!(map_text(&full.gids), "0 100 1\n1 200000 10\n");
    }
}
