//! `ftpfs umount`: find the mount in /proc/self/mountinfo, then `fusermount3 -u` (or `umount`).
//!
//! Checking mountinfo first gives a clear "not mounted" instead of fusermount's mtab message,
//! and refuses to unmount something that is not an ftpfs mount. The path is resolved without
//! touching the mounted directory itself, because a dead FUSE mount fails every stat with
//! ENOTCONN and is exactly what users want to unmount.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::MountError;

/// The filesystem type our mounts show in mountinfo.
pub(crate) const FS_TYPE: &str = "fuse.ftpfs";

/// One line of /proc/self/mountinfo, reduced to what we need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountInfo {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

/// Parse mountinfo text (proc(5)): field 5 is the mount point, then after the `-` separator
/// come the type and the source. Octal escapes (`\040` for space) are decoded.
pub(crate) fn parse_mountinfo(text: &[u8]) -> Vec<MountInfo> {
    let mut mounts = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
        let Some(separator) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        let (Some(mount_point), Some(fs_type), Some(source)) = (
            fields.get(4),
            fields.get(separator + 1),
            fields.get(separator + 2),
        ) else {
            continue;
        };
        mounts.push(MountInfo {
            mount_point: PathBuf::from(OsString::from_vec(unescape_octal(mount_point))),
            fs_type: String::from_utf8_lossy(&unescape_octal(fs_type)).into_owned(),
            source: String::from_utf8_lossy(&unescape_octal(source)).into_owned(),
        });
    }
    mounts
}

fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| b == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// An absolute, symlink-free path for `path` that does not stat `path` itself.
pub(crate) fn resolve_without_touching(path: &Path) -> Result<PathBuf, MountError> {
    let absolute = std::path::absolute(path)
        .map_err(|e| MountError::new(format!("{}: {e}", path.display())))?;
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = parent
                .canonicalize()
                .map_err(|e| MountError::new(format!("{}: {e}", parent.display())))?;
            Ok(parent.join(name))
        }
        _ => Ok(absolute),
    }
}

/// The topmost mount on `target` (an absolute, resolved path), if any.
fn find_mount(target: &Path) -> Result<Option<MountInfo>, MountError> {
    let mountinfo = std::fs::read("/proc/self/mountinfo")
        .map_err(|e| MountError::new(format!("cannot read /proc/self/mountinfo: {e}")))?;
    Ok(parse_mountinfo(&mountinfo)
        .into_iter()
        .rev()
        .find(|m| m.mount_point == target))
}

/// Whether an ftpfs mount is still on `path` (false when that cannot be determined).
pub(crate) fn is_mounted(path: &Path) -> bool {
    resolve_without_touching(path)
        .and_then(|target| find_mount(&target))
        .is_ok_and(|mount| mount.is_some_and(|m| m.fs_type == FS_TYPE))
}

/// Unmount an ftpfs mount; the serving process notices and exits.
pub(crate) fn unmount(path: &Path) -> Result<(), MountError> {
    let target = resolve_without_touching(path)?;
    let Some(mount) = find_mount(&target)? else {
        return Err(MountError::new(format!(
            "{} is not mounted",
            target.display()
        )));
    };
    if mount.fs_type != FS_TYPE {
        return Err(MountError::new(format!(
            "{} is not an ftpfs mount (it is {} from {})",
            target.display(),
            mount.fs_type,
            mount.source
        )));
    }
    let output = match Command::new("fusermount3")
        .arg("-u")
        .arg("--")
        .arg(&target)
        .output()
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::debug!("fusermount3 not found, using umount");
            Command::new("umount").arg("--").arg(&target).output()
        }
        other => other,
    }
    .map_err(|e| MountError::new(format!("cannot run fusermount3 or umount: {e}")))?;
    if output.status.success() {
        log::info!("unmounted {}", target.display());
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr.lines().next().unwrap_or("").trim();
    Err(MountError::new(format!(
        "cannot unmount {}: {}",
        target.display(),
        if reason.is_empty() {
            "unmount failed"
        } else {
            reason
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines_with_escapes_and_optional_fields() {
        let text = b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
            99 22 0:50 / /mnt/my\\040dir rw,nosuid,nodev - fuse.ftpfs ftp://h:2121 rw,user_id=0\n\
            garbage\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[1].mount_point, PathBuf::from("/mnt/my dir"));
        assert_eq!(mounts[1].fs_type, FS_TYPE);
        assert_eq!(mounts[1].source, "ftp://h:2121");
        assert_eq!(mounts[0].fs_type, "ext4");
    }

    #[test]
    fn resolving_does_not_need_the_leaf_to_exist() {
        let resolved = resolve_without_touching(Path::new("/tmp/../tmp/surely-missing")).unwrap();
        assert_eq!(
            resolved,
            Path::new("/tmp")
                .canonicalize()
                .unwrap()
                .join("surely-missing")
        );
    }
}
