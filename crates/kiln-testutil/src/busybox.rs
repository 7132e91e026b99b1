//! A busybox base image for RUN tests, built into a test's own store by kiln
//! itself from the host's statically linked busybox (Debian's busybox-static):
//! never pulled from the network.
//!
//! The image (`busybox:test`) holds `/bin/busybox` and a symlink per applet,
//! `/etc/passwd` (root, nobody, `app` 1000:1000 with home `/home/app`),
//! `/etc/group` (`app` also in the supplementary groups `staff` (50) and
//! `audio` (29)), `/tmp` (1777), `/root` and `/home/app` (owned by 1000:1000).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::run_ok;
use crate::kiln::Kiln;
use crate::project::Project;
use crate::tools::tools_required;

/// The tag the busybox image gets in the store.
pub const BUSYBOX_TAG: &str = "busybox:test";

/// Where Debian's busybox-static installs the binary.
pub const BUSYBOX_PATH: &str = "/bin/busybox";

/// `/etc/passwd` of the image.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
app:x:1000:1000:app:/home/app:/bin/sh\n";

/// `/etc/group` of the image: `app` is also in `staff` (50) and `audio` (29).
pub const GROUP: &str = "root:x:0:\n\
audio:x:29:app\n\
staff:x:50:app\n\
app:x:1000:\n\
nogroup:x:65534:\n";

/// The Dockerfile that turns the prepared context into the image.
pub const DOCKERFILE: &str = "FROM scratch\n\
COPY rootfs/ /\n\
COPY --chown=1000:1000 home-app/ /home/app/\n\
CMD [\"sh\"]\n";

/// Whether an ELF image has no program interpreter (`PT_INTERP`): a static
/// executable that runs in an image with no libc. Only 64-bit little-endian
/// ELF is recognised; anything else is "not static".
pub fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let read_u16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let mut offset_bytes = [0u8; 8];
    offset_bytes.copy_from_slice(&bytes[0x20..0x28]);
    let Ok(table) = usize::try_from(u64::from_le_bytes(offset_bytes)) else {
        return false;
    };
    let (entry_size, count) = (read_u16(0x36), read_u16(0x38));
    if entry_size < 4 {
        return false;
    }
    (0..count).all(|index| {
        let at = table + index * entry_size;
        match bytes.get(at..at + 4) {
            Some(kind) => u32::from_le_bytes([kind[0], kind[1], kind[2], kind[3]]) != PT_INTERP,
            None => false,
        }
    })
}

/// The host's static busybox, or `None` (after printing "skipping") when it
/// is missing or dynamically linked. Panics instead when
/// `KILN_TEST_REQUIRE_TOOLS=1`, like [`crate::require_tool`].
pub fn static_busybox() -> Option<PathBuf> {
    let path = Path::new(BUSYBOX_PATH);
    let problem = match std::fs::read(path) {
        Ok(bytes) if is_static_elf(&bytes) => return Some(path.to_owned()),
        Ok(_) => format!("{BUSYBOX_PATH} is not statically linked (install busybox-static)"),
        Err(err) => format!("{BUSYBOX_PATH} is missing (install busybox-static): {err}"),
    };
    if tools_required() {
        panic!("{problem}, and KILN_TEST_REQUIRE_TOOLS=1 requires it");
    }
    eprintln!("skipping: {problem}");
    None
}

/// The applets `busybox --list` names (without `busybox` itself).
pub fn applets(busybox: &Path) -> Vec<String> {
    run_ok(Command::new(busybox).arg("--list"))
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != "busybox" && !name.contains('/'))
        .map(str::to_owned)
        .collect()
}

/// A build context for the busybox image: `rootfs/` (copied to `/`) and
/// `home-app/` (copied to `/home/app`, created by that COPY and so owned by
/// its `--chown`, as in BuildKit).
pub fn busybox_context(busybox: &Path) -> Project {
    let project = Project::empty();
    project.write("Dockerfile", DOCKERFILE);
    let bin = project.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|err| panic!("mkdir {}: {err}", bin.display()));
    std::fs::copy(busybox, bin.join("busybox"))
        .unwrap_or_else(|err| panic!("copy {}: {err}", busybox.display()));
    project.chmod("rootfs/bin/busybox", 0o755);
    for applet in applets(busybox) {
        project.symlink(&format!("rootfs/bin/{applet}"), "busybox");
    }
    project
        .write("rootfs/etc/passwd", PASSWD)
        .write("rootfs/etc/group", GROUP)
        .chmod("rootfs/etc/passwd", 0o644)
        .chmod("rootfs/etc/group", 0o644)
        .mkdir("rootfs/tmp")
        .mkdir("rootfs/root")
        .mkdir("rootfs/home")
        .write("home-app/.profile", "export PS1='app$ '\n");
    for (dir, mode) in [
        ("rootfs", 0o755),
        ("rootfs/bin", 0o755),
        ("rootfs/etc", 0o755),
        ("rootfs/tmp", 0o1777),
        ("rootfs/root", 0o700),
        ("rootfs/home", 0o755),
        ("home-app", 0o755),
    ] {
        let path = project.join(dir);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|err| panic!("chmod {}: {err}", path.display()));
    }
    project
}

/// Builds the busybox image into `kiln`'s store as [`BUSYBOX_TAG`]. Returns
/// false when the test should be skipped (no static busybox; see
/// [`static_busybox`]).
pub fn build_busybox(kiln: &Kiln) -> bool {
    let Some(busybox) = static_busybox() else {
        return false;
    };
    let context = busybox_context(&busybox);
    kiln.build(["-t", BUSYBOX_TAG, context.arg()]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(program_types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
        bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(program_types.len() as u16).to_le_bytes());
        for kind in program_types {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            bytes.extend(header);
        }
        bytes
    }

    #[test]
    fn tells_static_from_dynamic_executables() {
        for (bytes, expected) in [
            (elf(&[6, 1, 1]), true),
            (elf(&[6, 3, 1]), false),
            (elf(&[]), true),
            (b"#!/bin/sh\n".to_vec(), false),
            (elf(&[1])[..66].to_vec(), false),
        ] {
            assert_eq!(is_static_elf(&bytes), expected, "{bytes:?}");
        }
    }

    #[test]
    fn host_busybox_context_has_applets_and_users() {
        let Some(busybox) = static_busybox() else {
            return;
        };
        let context = busybox_context(&busybox);
        let sh = std::fs::read_link(context.join("rootfs/bin/sh")).unwrap();
        assert_eq!(sh, Path::new("busybox"));
        assert!(context.join("rootfs/bin/busybox").is_file());
        let tmp = std::fs::metadata(context.join("rootfs/tmp")).unwrap();
        assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
        let passwd = std::fs::read_to_string(context.join("rootfs/etc/passwd")).unwrap();
        assert!(
            passwd.contains("app:x:1000:1000:app:/home/app:"),
            "{passwd}"
        );
    }
}
