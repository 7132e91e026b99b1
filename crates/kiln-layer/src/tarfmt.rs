//! Byte-level encoding of tar records: ustar headers, and PAX extended headers only where
//! ustar cannot hold a value. No validation of names happens here (tests use it to build
//! hostile archives); [`crate::write_layer`] validates before calling it.

use std::collections::BTreeMap;

/// The size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// Largest value of a 7-digit octal field (mode, uid, gid, device numbers).
const MAX_OCTAL_7: u64 = 0o7777777;
/// Largest value of an 11-digit octal field (size, mtime).
const MAX_OCTAL_11: u64 = 0o77777777777;

/// Tar type flags used by this crate.
pub(crate) mod typeflag {
    /// Regular file.
    pub const FILE: u8 = b'0';
    /// Hard link.
    pub const HARDLINK: u8 = b'1';
    /// Symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// Character device.
    pub const CHAR: u8 = b'3';
    /// Block device.
    pub const BLOCK: u8 = b'4';
    /// Directory.
    pub const DIR: u8 = b'5';
    /// Named pipe.
    pub const FIFO: u8 = b'6';
    /// PAX extended header for the next entry.
    pub const PAX: u8 = b'x';
}

/// Everything that goes into one entry's header(s).
#[derive(Debug, Clone)]
pub(crate) struct RawEntry<'a> {
    /// The full name as stored (directories already end with `/`).
    pub name: &'a [u8],
    /// One of [`typeflag`].
    pub typeflag: u8,
    /// Permission bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Modification time, seconds.
    pub mtime: u64,
    /// Length of the data that follows the header.
    pub size: u64,
    /// Link target of symlinks and hardlinks; empty otherwise.
    pub linkname: &'a [u8],
    /// Device major number.
    pub dev_major: u32,
    /// Device minor number.
    pub dev_minor: u32,
    /// Extended attributes, written as `SCHILY.xattr.<name>`.
    pub xattrs: &'a BTreeMap<String, Vec<u8>>,
}

/// The header bytes of `entry`: an optional PAX header with its padded data, then the ustar header.
pub(crate) fn encode(entry: &RawEntry<'_>) -> Result<Vec<u8>, &'static str> {
    if u64::from(entry.dev_major) > MAX_OCTAL_7 || u64::from(entry.dev_minor) > MAX_OCTAL_7 {
        return Err("device number too large for a ustar header");
    }
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    let split = split_ustar_name(entry.name);
    if split.is_none() {
        pax.push(("path".to_owned(), entry.name.to_vec()));
    }
    if entry.linkname.len() > 100 {
        pax.push(("linkpath".to_owned(), entry.linkname.to_vec()));
    }
    for (key, value, max) in [
        ("size", entry.size, MAX_OCTAL_11),
        ("uid", entry.uid, MAX_OCTAL_7),
        ("gid", entry.gid, MAX_OCTAL_7),
        ("mtime", entry.mtime, MAX_OCTAL_11),
    ] {
        if value > max {
            pax.push((key.to_owned(), value.to_string().into_bytes()));
        }
    }
    for (name, value) in entry.xattrs {
        pax.push((format!("SCHILY.xattr.{name}"), value.clone()));
    }

    let mut out = Vec::with_capacity(BLOCK * 3);
    if !pax.is_empty() {
        let data = pax_records(&pax);
        let pax_name = pax_header_name(entry.name);
        let pax_header = RawEntry {
            name: &pax_name,
            typeflag: typeflag::PAX,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: data.len() as u64,
            linkname: b"",
            dev_major: 0,
            dev_minor: 0,
            xattrs: &BTreeMap::new(),
        };
        let (prefix, name) = split_ustar_name(&pax_name).unwrap_or((b"", truncate(&pax_name)));
        out.extend_from_slice(&ustar_block(&pax_header, prefix, name));
        out.extend_from_slice(&data);
        out.resize(out.len() + padding(data.len() as u64), 0);
    }
    let (prefix, name) = split.unwrap_or((b"", truncate(entry.name)));
    out.extend_from_slice(&ustar_block(entry, prefix, name));
    Ok(out)
}

/// How many zero bytes follow `len` bytes of data to fill the last block.
pub(crate) fn padding(len: u64) -> usize {
    let rest = (len % BLOCK as u64) as usize;
    if rest == 0 {
        0
    } else {
        BLOCK - rest
    }
}

/// The PAX data for `records`: `"<len> <key>=<value>\n"` each, where `<len>` counts itself.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // space, '=', newline
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(len.to_string().as_bytes());
        data.push(b' ');
        data.extend_from_slice(key.as_bytes());
        data.push(b'=');
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    data
}

/// The name of the PAX header of `name`: `PaxHeaders.0/<base name>`, at most 100 bytes.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    let base = trimmed.rsplit(|&b| b == b'/').next().unwrap_or(trimmed);
    let mut out = b"PaxHeaders.0/".to_vec();
    out.extend_from_slice(base);
    out.truncate(100);
    out
}

fn truncate(name: &[u8]) -> &[u8] {
    &name[..name.len().min(100)]
}

/// Splits `name` into ustar (prefix, name) fields, or `None` when it does not fit.
fn split_ustar_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((b"", name));
    }
    // Longest prefix that fits; the split '/' is not stored, and the name part must be non-empty.
    let limit = name.len().saturating_sub(1).min(156);
    let split = name[..limit].iter().rposition(|&b| b == b'/')?;
    let (prefix, rest) = (&name[..split], &name[split + 1..]);
    (prefix.len() <= 155 && !prefix.is_empty() && !rest.is_empty() && rest.len() <= 100)
        .then_some((prefix, rest))
}

/// One ustar header block. Values that do not fit were moved to PAX and are written as 0.
fn ustar_block(entry: &RawEntry<'_>, prefix: &[u8], name: &[u8]) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[..name.len()].copy_from_slice(name);
    octal(&mut block[100..108], u64::from(entry.mode & 0o7777));
    octal(&mut block[108..116], fit(entry.uid, MAX_OCTAL_7));
    octal(&mut block[116..124], fit(entry.gid, MAX_OCTAL_7));
    octal(&mut block[124..136], fit(entry.size, MAX_OCTAL_11));
    octal(&mut block[136..148], fit(entry.mtime, MAX_OCTAL_11));
    block[156] = entry.typeflag;
    let link = truncate(entry.linkname);
    block[157..157 + link.len()].copy_from_slice(link);
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    // uname (265..297) and gname (297..329) stay empty: numeric ids only.
    octal(&mut block[329..337], u64::from(entry.dev_major));
    octal(&mut block[337..345], u64::from(entry.dev_minor));
    block[345..345 + prefix.len()].copy_from_slice(prefix);
    block[148..156].fill(b' ');
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    octal(&mut block[148..155], sum);
    block[155] = b' ';
    block
}

fn fit(value: u64, max: u64) -> u64 {
    if value > max {
        0
    } else {
        value
    }
}

/// Writes `value` as zero-padded octal digits filling all but the last byte, which is NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let cases: [(&str, &[u8], &str); 3] = [
            ("path", b"abc", "12 path=abc\n"),
            ("uid", b"2097152", "15 uid=2097152\n"),
            ("k", &[b'v'; 3], "8 k=vvv\n"),
        ];
        for (key, value, expected) in cases {
            let data = pax_records(&[(key.to_owned(), value.to_vec())]);
            assert_eq!(String::from_utf8(data).unwrap(), expected);
        }
        // Crossing a power of ten: 99 bytes without the length need a 3-digit length.
        let data = pax_records(&[("k".to_owned(), vec![b'v'; 95])]);
        assert_eq!(&data[..4], b"102 ");
        assert_eq!(data.len(), 102);
    }

    #[test]
    fn ustar_name_split() {
        let short = b"a/b".to_vec();
        assert_eq!(split_ustar_name(&short), Some((&b""[..], &b"a/b"[..])));
        let long = format!("{}/{}", "p".repeat(120), "n".repeat(50)).into_bytes();
        let (prefix, name) = split_ustar_name(&long).unwrap();
        assert_eq!((prefix.len(), name.len()), (120, 50));
        let unsplittable = "x".repeat(101).into_bytes();
        assert_eq!(split_ustar_name(&unsplittable), None);
        let too_long = format!("{}/{}", "p".repeat(200), "n".repeat(50)).into_bytes();
        assert_eq!(split_ustar_name(&too_long), None);
    }

    #[test]
    fn octal_fields_are_zero_padded() {
        let mut field = [0xffu8; 8];
        octal(&mut field, 0o755);
        assert_eq!(&field, b"0000755\0");
    }

    #[test]
    fn header_checksum_is_valid() {
        let xattrs = BTreeMap::new();
        let entry = RawEntry {
            name: b"etc/",
            typeflag: typeflag::DIR,
            mode: 0o755,
            uid: 1,
            gid: 2,
            mtime: 3,
            size: 0,
            linkname: b"",
            dev_major: 0,
            dev_minor: 0,
            xattrs: &xattrs,
        };
        let bytes = encode(&entry).unwrap();
        assert_eq!(bytes.len(), BLOCK);
        assert!(crate::compress::looks_like_tar(&bytes));
        let header = tar::Header::from_byte_slice(&bytes);
        assert_eq!(header.path_bytes().as_ref(), b"etc/");
        assert_eq!(header.uid().unwrap(), 1);
        assert_eq!(header.mtime().unwrap(), 3);
    }
}
