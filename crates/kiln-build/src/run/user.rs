//! Who a RUN runs as: `USER` resolved through the image's `/etc/passwd` and
//! `/etc/group`, with supplementary groups and the home directory.

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUser {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary groups from `/etc/group` memberships.
    pub additional_gids: Vec<u32>,
    /// Home directory from `/etc/passwd` (`/` when unknown).
    pub home: String,
}

fn records(file: Option<&[u8]>) -> Vec<Vec<String>> {
    let text = file.map(String::from_utf8_lossy).unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split(':').map(String::from).collect())
        .collect()
}

/// Resolves `user[:group]` (names or ids; empty means root).
pub fn resolve_user(
    spec: &str,
    passwd: Option<&[u8]>,
    group: Option<&[u8]>,
) -> Result<RunUser, String> {
    let spec = if spec.is_empty() { "0" } else { spec };
    let (user, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let passwd = records(passwd);
    let groups = records(group);
    let entry = passwd.iter().find(|fields| {
        fields.len() >= 4
            && (fields[0] == user || (user.parse::<u32>().is_ok() && fields[2] == user))
    });
    let (uid, primary, name, home) = match (user.parse::<u32>(), entry) {
        (Ok(uid), Some(fields)) => (
            uid,
            fields[3].parse().unwrap_or(0),
            Some(fields[0].clone()),
            fields.get(5).cloned(),
        ),
        (Ok(uid), None) => (uid, 0, None, None),
        (Err(_), Some(fields)) => (
            fields[2]
                .parse()
                .map_err(|_| format!("invalid uid for user {user} in /etc/passwd"))?,
            fields[3]
                .parse()
                .map_err(|_| format!("invalid gid for user {user} in /etc/passwd"))?,
            Some(fields[0].clone()),
            fields.get(5).cloned(),
        ),
        (Err(_), None) => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        }
    };
    let gid = match group_part {
        None => primary,
        Some(group_name) => match group_name.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|fields| fields.len() >= 3 && fields[0] == group_name)
                .and_then(|fields| fields[2].parse().ok())
                .ok_or_else(|| {
                    format!("unable to find group {group_name}: no matching entries in group file")
                })?,
        },
    };
    let mut additional_gids = Vec::new();
    if group_part.is_none() {
        if let Some(name) = &name {
            for fields in &groups {
                let members = fields.get(3).map(String::as_str).unwrap_or("");
                if members.split(',').any(|member| member == name) {
                    if let Ok(id) = fields[2].parse::<u32>() {
                        if id != gid && !additional_gids.contains(&id) {
                            additional_gids.push(id);
                        }
                    }
                }
            }
        }
    }
    Ok(RunUser {
        uid,
        gid,
        additional_gids,
        home: home
            .filter(|home| !home.is_empty())
            .unwrap_or_else(|| "/".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &[u8] = b"root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n";

    #[test]
    fn resolves_users() {
        let app = resolve_user("app", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(
            (
                app.uid,
                app.gid,
                app.additional_gids.clone(),
                app.home.as_str()
            ),
            (1000, 1000, vec![10, 29], "/home/app")
        );
        let root = resolve_user("", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let ids = resolve_user("1000:10", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((ids.uid, ids.gid, ids.additional_gids.len()), (1000, 10, 0));
        let unknown_id = resolve_user("4242", None, None).unwrap();
        assert_eq!(
            (unknown_id.uid, unknown_id.gid, unknown_id.home.as_str()),
            (4242, 0, "/")
        );
        assert!(resolve_user("nobody", Some(PASSWD), Some(GROUP))
            .unwrap_err()
            .contains("nobody"));
        assert!(resolve_user("app:nogroup", Some(PASSWD), Some(GROUP))
            .unwrap_err()
            .contains("nogroup"));
    }
}
