//! The manual page and shell completions, generated from the clap definition so they never
//! drift from `--help` (clap_mangen and clap_complete: the clap project's own generators).
//!
//! One page, ftpfs(1): mounting is what users look up, so the page carries the synopsis and
//! options of `ftpfs mount` next to the list of subcommands and the mount(8)/fstab forms. The
//! subcommand list is written here (a few lines of roff) because clap_mangen's own points to one
//! page per subcommand (ftpfs-mount(1), ...), which we do not install.

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// ftpfs(1) in roff.
pub(crate) fn man_page() -> Result<Vec<u8>, String> {
    let mut command = Cli::command();
    // Hands the global options (-v) down to `mount`, whose options the page shows.
    command.build();
    let mount = command
        .find_subcommand("mount")
        .cloned()
        .ok_or("no mount subcommand")?
        .name("ftpfs mount")
        .bin_name("ftpfs mount");
    let top = clap_mangen::Man::new(command.clone());
    let mount_page = clap_mangen::Man::new(mount);
    let mut out = Vec::new();
    let render = |out: &mut Vec<u8>| -> std::io::Result<()> {
        top.render_title(out)?;
        top.render_name_section(out)?;
        mount_page.render_synopsis_section(out)?;
        top.render_description_section(out)?;
        mount_page.render_options_section(out)?;
        out.extend_from_slice(commands_section(&command).as_bytes());
        if let Some(forms) = command.get_after_long_help() {
            let section = format!(
                ".SH \"MOUNT(8) AND FSTAB\"\n{}\n",
                roff_text(&forms.to_string())
            );
            out.extend_from_slice(section.as_bytes());
        }
        top.render_version_section(out)
    };
    render(&mut out).map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(out)
}

/// `.SH COMMANDS`: each visible subcommand with its arguments and its one-line help.
fn commands_section(command: &clap::Command) -> String {
    let mut out = String::from(".SH COMMANDS\n");
    for sub in command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
    {
        let arguments: Vec<String> = sub
            .get_positionals()
            .map(|arg| match arg.get_value_names().and_then(<[_]>::first) {
                Some(name) => name.to_string(),
                None => arg.get_id().as_str().to_uppercase(),
            })
            .collect();
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        out.push_str(&format!(
            ".TP\n\\fBftpfs {}\\fR {}\n{}\n",
            roff_text(sub.get_name()),
            roff_text(&arguments.join(" ")),
            roff_text(&about)
        ));
    }
    out
}

/// Plain text for a roff line: backslashes and hyphens escaped, no line starting with a control
/// character.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

/// The completion script for `shell`.
pub(crate) fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ftpfs", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_the_mount_options_and_forms() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.contains("\n.TH ftpfs 1 "), "{page}");
        for needle in [
            "SYNOPSIS",
            "password\\-file",
            "dir\\-cache\\-ttl",
            "umount",
            "MOUNT(8) AND FSTAB",
            "fuse.ftpfs",
            "default: 8",
            "verbose",
        ] {
            assert!(page.contains(needle), "{needle} missing");
        }
        assert!(!page.contains("__daemon"));
        assert!(
            !page.contains("ftpfs\\-mount(1)"),
            "no pages per subcommand"
        );
        assert!(page.contains("\\fBftpfs umount\\fR MOUNTPOINT"), "{page}");
    }

    #[test]
    fn roff_text_escapes() {
        assert_eq!(roff_text(".x -y a\\b"), "\\&.x \\-y a\\eb");
        assert_eq!(roff_text("plain"), "plain");
    }

    #[test]
    fn completions_for_every_shell_name_the_options() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completions(shell)).unwrap();
            assert!(script.contains("password-file"), "{shell}");
            assert!(script.contains("umount"), "{shell}");
        }
    }
}
