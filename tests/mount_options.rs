//! Mounting the way an administrator does: `mount -t fuse.ftpfs`, an fstab line (`mount -T`),
//! `umount`, and a shared (`allow_other`) mount used by another local user. Against a real
//! vsftpd; results are checked on the server's directory on disk.
//!
//! How mount(8) finds `ftpfs`: it runs /sbin/mount.fuse.ftpfs if present, else mount.fuse3,
//! which runs `ftpfs SOURCE MOUNTPOINT -o OPTIONS` through /bin/sh. mount(8) first clears PATH
//! (util-linux sanitizes its environment), so the shell's default PATH applies:
//! /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin. A PATH that includes
//! target/debug is therefore not enough. Instead of installing into a system directory, each
//! test runs its script in a private mount namespace (`unshare -m`) in which a directory holding
//! an `ftpfs` link to the built binary is bind-mounted over /usr/local/bin; nothing outside that
//! namespace sees it, and the namespace (with any mount left in it) ends with the script.

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::mount::{Mount, fresh_mountpoint, ftpfs_binary, is_mounted};
use common::{ServerKind, TestServer, in_ci, temp_dir};

/// Root is needed for mount(8), namespaces and setpriv: skip locally, fail in CI.
fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(!in_ci(), "{test} needs root in CI");
        eprintln!("SKIP {test}: needs root");
    }
    root
}

/// Runs `script` with `sh -e` in a private mount namespace where `ftpfs` is on mount(8)'s PATH;
/// `vars` become environment variables. Returns (success, stdout + stderr).
fn in_namespace_with_ftpfs(script: &str, vars: &[(&str, &OsStr)]) -> (bool, String) {
    let bin = temp_dir("ftpfs-bin");
    std::os::unix::fs::symlink(ftpfs_binary(), bin.path().join("ftpfs")).unwrap();
    let prologue = r#"mount --bind "$FTPFS_BIN" /usr/local/bin
trap 'umount -l "$MNT" 2>/dev/null || true' EXIT
"#;
    let output = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-ec"])
        .arg(format!(
            "{}{prologue}{script}",
            common::mount::DROP_INHERITED_FUSE_MOUNTS
        ))
        .env("FTPFS_BIN", bin.path())
        .env_remove("FTPFS_PASSWORD")
        .envs(vars.iter().copied())
        .output()
        .expect("run unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn mount_t_fuse_ftpfs_and_fstab_mount_and_umount() {
    if !have_root("mount_t_fuse_ftpfs_and_fstab_mount_and_umount") {
        return;
    }
    let Some(server) = TestServer::try_start(ServerKind::Vsftpd) else {
        return;
    };
    server.seed_file("hello.txt", b"hello from the server\n");
    let secrets = temp_dir("ftpfs-pw");
    let password_file = secrets.path().join("ftpfs.pw");
    std::fs::write(&password_file, format!("{}\n", server.password)).unwrap();
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let source = format!("ftp://{}@127.0.0.1:{}/", server.user, server.port);
    let mountpoint = fresh_mountpoint();
    // What an administrator writes: options for mount(8) and systemd next to ours.
    let fstab = secrets.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "# test fstab\n{source} {} fuse.ftpfs password_file={},ro,connections=2,_netdev,\
             noauto,nofail,x-systemd.automount,x-systemd.idle-timeout=60,comment=test 0 0\n",
            mountpoint.display(),
            password_file.display()
        ),
    )
    .unwrap();

    let script = r#"
mount -t fuse.ftpfs "$SRC" "$MNT" -o "password_file=$PW,_netdev,dir_cache_ttl=1,timeout=20"
grep " $MNT fuse.ftpfs " /proc/self/mounts | sed 's/^/mounted: /'
cat "$MNT/hello.txt"
echo "written through mount -t" > "$MNT/new.txt"
umount "$MNT"
if grep -q " $MNT " /proc/self/mounts; then echo "still mounted after umount"; exit 1; fi
echo "unmounted 1"

mount -T "$FSTAB" "$MNT"
grep " $MNT fuse.ftpfs " /proc/self/mounts | sed 's/^/mounted: /'
cat "$MNT/new.txt"
if echo more > "$MNT/other.txt" 2>/dev/null; then echo "ro was ignored"; exit 1; fi
echo "ro refused the write"
umount "$MNT"
if grep -q " $MNT " /proc/self/mounts; then echo "still mounted after umount"; exit 1; fi
echo "unmounted 2"
"#;
    let (ok, output) = in_namespace_with_ftpfs(
        script,
        &[
            ("SRC", source.as_ref()),
            ("MNT", mountpoint.as_os_str()),
            ("PW", password_file.as_os_str()),
            ("FSTAB", fstab.as_os_str()),
        ],
    );
    assert!(ok, "script failed:\n{output}");
    let mounted: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("mounted: "))
        .collect();
    assert_eq!(mounted.len(), 2, "{output}");
    assert!(
        mounted[0].contains(&format!("ftp://127.0.0.1:{}", server.port)),
        "{output}"
    );
    assert!(mounted[1].contains(" ro,"), "fstab's ro: {output}");
    assert!(
        !output.contains(&server.password),
        "password leaked: {output}"
    );
    assert!(output.contains("hello from the server"), "{output}");
    assert!(output.contains("written through mount -t"), "{output}");
    assert!(output.contains("ro refused the write"), "{output}");
    assert!(output.contains("unmounted 1") && output.contains("unmounted 2"));
    assert_eq!(
        std::fs::read(server.path("new.txt")).unwrap(),
        b"written through mount -t\n"
    );
    assert!(!server.path("other.txt").exists());
    assert!(!is_mounted(&mountpoint));
    let _ = std::fs::remove_dir(&mountpoint);
}

/// `sh -c SCRIPT` as user nobody; true when it succeeded.
fn as_nobody(script: &str, dir: &Path) -> bool {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(dir)
        .status()
        .expect("run setpriv")
        .success()
}

#[test]
fn allow_other_keeps_other_users_to_the_permissions_shown() {
    if !have_root("allow_other_keeps_other_users_to_the_permissions_shown") {
        return;
    }
    let Some(server) = TestServer::try_start(ServerKind::Vsftpd) else {
        return;
    };
    let secret = server.seed_file("secret.txt", b"root only\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = server.seed_file("public.txt", b"for everyone\n");
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    let read_secret = r#"cat "$1/secret.txt""#;
    let read_public = r#"cat "$1/public.txt" >/dev/null"#;
    let create = r#"echo x > "$1/by-nobody.txt""#;

    let shared = Mount::with_args(&server, &["-o", "allow_other"]);
    // The positive control: nobody reaches the mount and reads what the mode allows.
    assert!(as_nobody(read_public, shared.dir()), "0644 file unreadable");
    assert!(
        !as_nobody(read_secret, shared.dir()),
        "nobody read a 0600 file"
    );
    assert!(!as_nobody(create, shared.dir()), "nobody created a file");
    shared.unmount();
    assert!(!server.path("by-nobody.txt").exists());

    // The option that names the risk really switches the checks off (what the default prevents).
    let unchecked = Mount::with_args(&server, &["-o", "allow_other_without_permission_checks"]);
    assert!(as_nobody(read_secret, unchecked.dir()));
    unchecked.unmount();
}
