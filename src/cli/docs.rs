//! The manual page and shell completions, generated from the clap definition so they never
//! drift from `--help` (clap_mangen and clap_complete: the clap project's own generators).
//!
//! One page, ftpfs(1): mounting is what users look up, so the page carries the synopsis and
//! options of `ftpfs mount` next to the list of subcommands and the mount(8)/fstab forms.

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// ftpfs(1) in roff.
pub fn man_page() -> Result<Vec<u8>, String> {
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
        top.render_subcommands_section(out)?;
        top.render_extra_section(out)?;
        top.render_version_section(out)
    };
    render(&mut out).map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(out)
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
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
            "fuse.ftpfs",
            "default: 4",
            "verbose",
        ] {
            assert!(page.contains(needle), "{needle} missing");
        }
        assert!(!page.contains("__daemon"));
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
