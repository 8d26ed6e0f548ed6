//! The command line before clap sees it: the mount(8) form and `-o` spellings of long options.
//!
//! - `ftpfs SOURCE MOUNTPOINT [-o OPTIONS]` is what `mount -t fuse.ftpfs` (through mount.fuse3)
//!   and fstab run; it means `ftpfs mount SOURCE MOUNTPOINT ...`. It is recognised by its first
//!   word not being a subcommand.
//! - Every long option of `ftpfs mount` can also be written as an `-o` item, `name=value` or
//!   just `name` for a flag, with `_` for `-` (`-o password_file=/etc/ftpfs.pw,tls`), because
//!   fstab and mount(8) can only pass `-o`. Such items become `--name=value` in place, so the
//!   later of two spellings wins, as for repeated `-o` items. The list of long options comes
//!   from the clap definition itself: an option added there gets its `-o` form for free.
//!
//! Everything else in `-o` is left for `options::parse_mount_options`, which knows the FUSE
//! options, ignores those meant for mount(8) and systemd, and refuses anything else by name.
//! Pure functions over the argument list, so the whole grammar is table-tested.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

use clap::CommandFactory;

use super::Cli;

/// The subcommand the mount(8) form stands for.
const MOUNT: &str = "mount";

/// Rewrite `args` (with the program name first) into what clap parses. The error is one line:
/// an `-o` item names an option that needs a value but has none.
pub(crate) fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let command = Cli::command();
    let subcommands: Vec<&str> = command
        .get_subcommands()
        .flat_map(|s| std::iter::once(s.get_name()).chain(s.get_all_aliases()))
        .chain(["help"])
        .collect();
    let Some(mount) = command.find_subcommand(MOUNT) else {
        return Ok(args);
    };
    // Long option name -> whether it takes a value.
    let longs: HashMap<String, bool> = mount
        .get_arguments()
        .filter_map(|arg| {
            let takes_value = arg.get_action().takes_values();
            arg.get_long().map(|long| (long.to_string(), takes_value))
        })
        .collect();
    expand_with(args, &subcommands, &longs)
}

/// `expand` with the command's vocabulary given, for tests.
pub(crate) fn expand_with(
    args: Vec<OsString>,
    subcommands: &[&str],
    longs: &HashMap<String, bool>,
) -> Result<Vec<OsString>, String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut rest = args.into_iter();
    out.extend(rest.next());
    // Global flags (-v, --verbose, --help, --version) may come before the subcommand.
    let mut first = None;
    for arg in rest.by_ref() {
        if arg.as_encoded_bytes().starts_with(b"-") {
            out.push(arg);
        } else {
            first = Some(arg);
            break;
        }
    }
    let Some(first) = first else {
        return Ok(out);
    };
    let is_mount = match first.to_str() {
        Some(MOUNT) => true,
        Some(name) if subcommands.contains(&name) => false,
        // Anything else is a SOURCE: the mount(8) form.
        _ => {
            out.push(MOUNT.into());
            true
        }
    };
    out.push(first);
    if !is_mount {
        out.extend(rest);
        return Ok(out);
    }
    expand_mount_args(rest, longs, &mut out)?;
    Ok(out)
}

fn expand_mount_args(
    mut rest: impl Iterator<Item = OsString>,
    longs: &HashMap<String, bool>,
    out: &mut Vec<OsString>,
) -> Result<(), String> {
    while let Some(arg) = rest.next() {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            out.push(arg);
            out.extend(rest);
            return Ok(());
        }
        if bytes == b"-o" {
            match rest.next() {
                Some(value) => expand_o_value(&value, longs, out)?,
                None => out.push(arg),
            }
            continue;
        }
        // `-oVALUE` and `-o=VALUE`, both accepted by clap for short options.
        if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("-o")) {
            let value = value.strip_prefix('=').unwrap_or(value);
            expand_o_value(OsStr::new(value), longs, out)?;
            continue;
        }
        // `--name VALUE`: copy the value untouched, even if it looks like `-o`.
        let takes_next = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--"))
            .filter(|name| !name.contains('='))
            .is_some_and(|name| longs.get(name).copied().unwrap_or(false));
        out.push(arg);
        if takes_next {
            out.extend(rest.next());
        }
    }
    Ok(())
}

/// Split one `-o` value: long options become `--name[=value]`, the rest stays one `-o`.
fn expand_o_value(
    value: &OsStr,
    longs: &HashMap<String, bool>,
    out: &mut Vec<OsString>,
) -> Result<(), String> {
    let Some(text) = value.to_str() else {
        // Not UTF-8: clap refuses it for -o.
        out.push("-o".into());
        out.push(value.to_owned());
        return Ok(());
    };
    let mut kept = Vec::new();
    for item in text.split(',') {
        let (name, val) = match item.split_once('=') {
            Some((name, val)) => (name, Some(val)),
            None => (item, None),
        };
        let long = name.trim().replace('_', "-");
        let takes_value = match longs.get(&long) {
            Some(takes_value) if !matches!(long.as_str(), "help" | "version") => *takes_value,
            _ => {
                kept.push(item);
                continue;
            }
        };
        out.push(match val {
            Some(val) => format!("--{long}={val}").into(),
            // Else clap would take the next argument as the value.
            None if takes_value => {
                return Err(format!("mount option {name} needs a value ({name}=...)"));
            }
            None => format!("--{long}").into(),
        });
    }
    if !kept.is_empty() {
        out.push("-o".into());
        out.push(kept.join(",").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        expand(args)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn expansion_table() {
        let table: &[(&[&str], &[&str])] = &[
            // The mount(8) form gains its subcommand.
            (
                &["ftpfs", "ftp://h/", "/mnt", "-o", "rw,dev,suid"],
                &["ftpfs", "mount", "ftp://h/", "/mnt", "-o", "rw,dev,suid"],
            ),
            (
                &["ftpfs", "-vv", "h", "/m"],
                &["ftpfs", "-vv", "mount", "h", "/m"],
            ),
            // Subcommands and help stay as they are.
            (&["ftpfs", "umount", "/m"], &["ftpfs", "umount", "/m"]),
            (
                &["ftpfs", "unmount", "-o", "x"],
                &["ftpfs", "unmount", "-o", "x"],
            ),
            (&["ftpfs", "--help"], &["ftpfs", "--help"]),
            (&["ftpfs", "help", "mount"], &["ftpfs", "help", "mount"]),
            // Long options in -o, in place; the rest stays one -o.
            (
                &[
                    "ftpfs",
                    "mount",
                    "h",
                    "/m",
                    "-o",
                    "ro,password_file=/p,tls,uid=3",
                ],
                &[
                    "ftpfs",
                    "mount",
                    "h",
                    "/m",
                    "--password-file=/p",
                    "--tls",
                    "-o",
                    "ro,uid=3",
                ],
            ),
            (
                &["ftpfs", "h", "/m", "-oconnections=2", "-o=timeout=5,ro"],
                &[
                    "ftpfs",
                    "mount",
                    "h",
                    "/m",
                    "--connections=2",
                    "--timeout=5",
                    "-o",
                    "ro",
                ],
            ),
            // Values of options are never taken for -o, nor is anything after --.
            (
                &["ftpfs", "mount", "--password-file", "-o", "h", "/m"],
                &["ftpfs", "mount", "--password-file", "-o", "h", "/m"],
            ),
            (
                &["ftpfs", "mount", "--", "-o", "tls"],
                &["ftpfs", "mount", "--", "-o", "tls"],
            ),
            // -o help is not a way to print help; it stays and is refused as unknown.
            (
                &["ftpfs", "mount", "h", "/m", "-o", "help"],
                &["ftpfs", "mount", "h", "/m", "-o", "help"],
            ),
        ];
        for (input, expected) in table {
            assert_eq!(run(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn long_option_without_its_value_is_refused() {
        let args = ["ftpfs", "h", "/m", "-o", "password_file,ro"].map(OsString::from);
        let error = expand(args.to_vec()).unwrap_err();
        assert_eq!(
            error,
            "mount option password_file needs a value (password_file=...)"
        );
    }
}
