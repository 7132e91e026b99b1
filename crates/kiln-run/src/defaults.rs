//! Docker's defaults that both sandboxes apply: the capability set, the
//! masked and read-only paths, and the standard mount points.

/// Docker's default capabilities: `(name, number)`.
pub(crate) const CAPABILITIES: [(&str, u32); 14] = [
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_RAW", 13),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_MKNOD", 27),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_SETFCAP", 31),
];

/// The default capabilities as a bit mask (bit n = capability n).
pub(crate) fn capability_mask() -> u64 {
    CAPABILITIES
        .iter()
        .fold(0, |mask, (_, number)| mask | (1u64 << number))
}

/// Paths hidden from the process (Docker's `maskedPaths`): files get
/// `/dev/null` mounted over them, directories an empty read-only tmpfs.
pub(crate) const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only (Docker's `readonlyPaths`).
pub(crate) const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Device nodes bind-mounted from the host's `/dev`.
pub(crate) const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Mount points at the top of the rootfs that every run uses, in the order
/// they are planned: `/proc`, `/dev`, `/sys`, then the three `/etc` files.
pub(crate) const STANDARD_TARGETS: [&str; 6] = [
    "/proc",
    "/dev",
    "/sys",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/hostname",
];

/// Index of `/etc/hosts` in [`STANDARD_TARGETS`]; the other two follow it.
pub(crate) const FIRST_ETC_TARGET: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_mask_has_one_bit_per_capability() {
        let mask = capability_mask();
        assert_eq!(mask.count_ones() as usize, CAPABILITIES.len());
        assert_eq!(mask & (1 << 21), 0, "CAP_SYS_ADMIN must not be in the set");
        assert_eq!(mask & 1, 1, "CAP_CHOWN is in the set");
    }
}
