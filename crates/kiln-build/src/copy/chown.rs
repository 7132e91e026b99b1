//! `--chown=user[:group]`: numeric ids, or names looked up in the image's
//! `/etc/passwd` and `/etc/group`, as Docker does.

/// Resolves `user[:group]` to numeric ids.
///
/// A user alone gives its primary group (for a name) or the same number (for
/// an id). Names need the files; an image without them (scratch) can only use ids.
pub fn resolve_chown(
    value: &str,
    passwd: Option<&[u8]>,
    group: Option<&[u8]>,
) -> Result<(u32, u32), String> {
    let (user, group_name) = match value.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (value, None),
    };
    if user.is_empty() {
        return Err(format!("invalid --chown {value:?}: empty user"));
    }
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => (uid, lookup_user_by_id(passwd, uid).unwrap_or(uid)),
        Err(_) => lookup_user(passwd, user).ok_or_else(|| {
            format!("unable to find user {user}: no matching entries in passwd file")
        })?,
    };
    let gid = match group_name {
        None => primary_gid,
        Some(name) => match name.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup_group(group, name).ok_or_else(|| {
                format!("unable to find group {name}: no matching entries in group file")
            })?,
        },
    };
    Ok((uid, gid))
}

fn lines(file: Option<&[u8]>) -> impl Iterator<Item = Vec<&str>> {
    let text = file
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .unwrap_or("");
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| line.split(':').collect())
}

fn lookup_user(passwd: Option<&[u8]>, name: &str) -> Option<(u32, u32)> {
    lines(passwd)
        .filter(|fields| fields.len() >= 4 && fields[0] == name)
        .find_map(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
}

fn lookup_user_by_id(passwd: Option<&[u8]>, uid: u32) -> Option<u32> {
    lines(passwd)
        .filter(|fields| fields.len() >= 4 && fields[2].parse::<u32>().ok() == Some(uid))
        .find_map(|fields| fields[3].parse().ok())
}

fn lookup_group(group: Option<&[u8]>, name: &str) -> Option<u32> {
    lines(group)
        .filter(|fields| fields.len() >= 3 && fields[0] == name)
        .find_map(|fields| fields[2].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/false\n";
    const GROUP: &[u8] = b"root:x:0:\nstaff:x:50:\nwww:x:34:\n";

    type Case = (&'static str, Result<(u32, u32), &'static str>);

    #[test]
    fn resolves() {
        let cases: &[Case] = &[
            ("10", Ok((10, 10))),
            ("10:20", Ok((10, 20))),
            ("www", Ok((33, 34))),
            ("33", Ok((33, 34))),
            ("www:staff", Ok((33, 50))),
            ("0:staff", Ok((0, 50))),
            ("nobody", Err("unable to find user nobody")),
            ("www:nogroup", Err("unable to find group nogroup")),
            (":5", Err("empty user")),
        ];
        for (value, expected) in cases {
            let got = resolve_chown(value, Some(PASSWD), Some(GROUP));
            match expected {
                Ok(ids) => assert_eq!(got, Ok(*ids), "{value}"),
                Err(text) => assert!(got.unwrap_err().contains(text), "{value}"),
            }
        }
    }

    #[test]
    fn scratch_takes_only_ids() {
        assert_eq!(resolve_chown("1000:1000", None, None), Ok((1000, 1000)));
        assert!(resolve_chown("app", None, None).is_err());
    }
}
