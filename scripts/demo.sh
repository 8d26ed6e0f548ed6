#!/usr/bin/env bash
# ftpfs in two minutes: builds it, starts a throwaway vsftpd on 127.0.0.1 with a few sample
# files, mounts it, and uses it with everyday tools (ls, cat, cp, sha256sum, mkdir, mv, rm, df).
#
#   sudo scripts/demo.sh
#
# Needs root on Debian 12 (installs vsftpd and fuse3 through scripts/servers/install.sh when
# they are missing, and vsftpd logs in a system user). Everything it creates lives in temp dirs
# and is removed at exit, however the script ends: the mount is unmounted, the server stopped
# by its PID.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_root

heading "1. Build ftpfs (cargo build --release)"
build_release
note "binary: $FTPFS_BIN"

heading "2. Make sure vsftpd and fuse3 are installed"
ensure_servers_installed
note "vsftpd: $(command -v vsftpd), fusermount3: $(command -v fusermount3)"

heading "3. Start vsftpd on 127.0.0.1 with some sample files"
make_temp_dir demo
work_dir="$MADE_TEMP_DIR"
server_root="$work_dir/server-root"
mount_point="$work_dir/mnt"
local_dir="$work_dir/local"
mkdir -p "$server_root/docs/guides" "$server_root/photos/2024" "$mount_point" "$local_dir"
cat >"$server_root/README.txt" <<'TEXT'
Hello from the FTP server!
This file lives on vsftpd; you are reading it through ftpfs, a FUSE filesystem.
TEXT
echo "Getting started: mount, then use any program." >"$server_root/docs/guides/start.txt"
echo "Frequently asked questions." >"$server_root/docs/faq.txt"
printf 'fake jpeg %d\n' 1 >"$server_root/photos/2024/beach.jpg"
printf 'fake jpeg %d\n' 2 >"$server_root/photos/2024/city.jpg"
head -c $((10 << 20)) /dev/urandom >"$server_root/random-10MiB.bin"
start_ftp_server "$server_root" "$work_dir/server-state" vsftpd
# The server writes as this user; files seeded before it started must belong to it too.
chown -R "$FTP_TEST_USER:" "$server_root"
note "vsftpd (pid $SERVER_PID) serves $server_root on 127.0.0.1:$SERVER_PORT"

heading "4. Mount it"
# The README's first command. The password could also come from FTPFS_PASSWORD or ~/.netrc.
on_exit "unmount_quietly '$mount_point'"
show "$FTPFS_BIN" mount "$SERVER_URL/" "$mount_point"
wait_for_mount "$mount_point" 10 || die "mount did not appear"
show findmnt --target "$mount_point" --output TARGET,SOURCE,FSTYPE,OPTIONS

heading "5. List it"
show ls -l "$mount_point"
show ls -lR "$mount_point/docs"

heading "6. Read a file"
show cat "$mount_point/README.txt"

heading "7. Copy a local file in, and see it on the server side"
printf 'written locally at %s\n' "$(date -u +%FT%TZ)" >"$local_dir/notes.txt"
show cp "$local_dir/notes.txt" "$mount_point/notes.txt"
note "server side (the vsftpd root directory, not the mount):"
show ls -l "$server_root/notes.txt"
show cat "$server_root/notes.txt"

heading "8. Copy the 10 MiB binary out and compare checksums"
show cp "$mount_point/random-10MiB.bin" "$local_dir/copy.bin"
show sha256sum "$server_root/random-10MiB.bin" "$local_dir/copy.bin"
original_sum="$(sha256sum <"$server_root/random-10MiB.bin")"
copied_sum="$(sha256sum <"$local_dir/copy.bin")"
if [[ "$original_sum" == "$copied_sum" ]]; then
    note "checksums match"
else
    die "checksums differ"
fi

heading "9. mkdir, mv, rm"
show mkdir "$mount_point/archive"
show mv "$mount_point/notes.txt" "$mount_point/archive/notes-old.txt"
show rm "$mount_point/docs/faq.txt"
show ls -l "$mount_point" "$mount_point/archive" "$mount_point/docs"
note "server side:"
show find "$server_root" -mindepth 1 -not -name "*.bin"

heading "10. df -h"
show df -h "$mount_point"

heading "11. Unmount and stop the server"
show "$FTPFS_BIN" umount "$mount_point"
if is_ftpfs_mounted "$mount_point"; then
    die "still mounted after ftpfs umount"
fi
note "unmounted; the exit trap now stops vsftpd (pid $SERVER_PID) and removes $work_dir"
heading "Done"
