//! Where the login comes from, in a fixed order so users can predict it:
//! user: the URL, else the `login` of a `~/.netrc` `machine` block for the host, else anonymous;
//! password (for a named user): the URL, `FTPFS_PASSWORD`, `--password-file` (first line),
//! `~/.netrc`, and finally a no-echo prompt when stdin is a terminal.
//!
//! `resolve_login` is pure over `LoginSources` so the precedence is unit-tested; the side effects
//! (environment, files, terminal) are gathered by the small functions below it.

use std::io::{BufRead, Write};

use super::netrc::Netrc;

/// Everything the precedence rule looks at.
pub(crate) struct LoginSources<'a> {
    pub host: &'a str,
    pub url_user: Option<String>,
    pub url_password: Option<String>,
    pub env_password: Option<String>,
    pub file_password: Option<String>,
    pub netrc: Option<Netrc>,
    /// Asks the user; returns `None` when there is no terminal.
    pub prompt: &'a mut dyn FnMut(&str) -> Option<String>,
}

/// The resolved login: `user == None` means anonymous.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

/// Apply the documented order.
pub(crate) fn resolve_login(sources: LoginSources<'_>) -> Login {
    let machine_entry = sources.netrc.as_ref().and_then(|netrc| {
        netrc
            .find(sources.host, None)
            .filter(|entry| entry.machine.is_some())
    });
    let user = match sources.url_user {
        Some(user) => user,
        None => match machine_entry.and_then(|entry| entry.login.clone()) {
            Some(login) => login,
            // Anonymous: nothing to look up or ask for.
            None => {
                return Login {
                    user: None,
                    password: None,
                };
            }
        },
    };
    let from_netrc = || {
        sources
            .netrc
            .as_ref()
            .and_then(|netrc| netrc.find(sources.host, Some(&user)))
            .and_then(|entry| entry.password.clone())
    };
    let password = sources
        .url_password
        .or(sources.env_password)
        .or(sources.file_password)
        .or_else(from_netrc)
        .or_else(|| (sources.prompt)(&format!("Password for {user}@{}: ", sources.host)));
    Login {
        user: Some(user),
        password,
    }
}

/// The first line of `path` without its line ending.
pub(crate) fn read_password_file(path: &std::path::Path) -> Result<String, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `$HOME/.netrc` when it exists and is readable; warns when others can read it.
pub(crate) fn load_netrc() -> Option<Netrc> {
    let path = std::path::Path::new(&std::env::var_os("HOME")?).join(".netrc");
    let text = std::fs::read_to_string(&path).ok()?;
    if let Ok(meta) = std::fs::metadata(&path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "{} is readable by other users; chmod 600 it",
                path.display()
            );
        }
    }
    Some(Netrc::parse(&text))
}

/// Ask on the terminal with echo off; `None` when stdin is not a terminal.
pub(crate) fn prompt_password(prompt: &str) -> Option<String> {
    let stdin = libc::STDIN_FILENO;
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(stdin) } != 1 {
        return None;
    }
    // SAFETY: termios is plain old data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(stdin, &mut saved) } != 0 {
        return None;
    }
    let mut silent = saved;
    silent.c_lflag &= !libc::ECHO;
    silent.c_lflag |= libc::ECHONL;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    // SAFETY: `silent` is a valid termios derived from the current one.
    let echo_off = unsafe { libc::tcsetattr(stdin, libc::TCSANOW, &silent) } == 0;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(stdin, libc::TCSANOW, &saved) };
    }
    match read {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        url_user: Option<&'static str>,
        url_password: Option<&'static str>,
        env: Option<&'static str>,
        file: Option<&'static str>,
        netrc: Option<&'static str>,
        prompt: Option<&'static str>,
    }

    const NONE: Case = Case {
        url_user: None,
        url_password: None,
        env: None,
        file: None,
        netrc: None,
        prompt: None,
    };

    fn resolve(case: Case) -> (Login, bool) {
        let mut asked = false;
        let mut prompt = |_: &str| {
            asked = true;
            case.prompt.map(String::from)
        };
        let login = resolve_login(LoginSources {
            host: "h",
            url_user: case.url_user.map(String::from),
            url_password: case.url_password.map(String::from),
            env_password: case.env.map(String::from),
            file_password: case.file.map(String::from),
            netrc: case.netrc.map(Netrc::parse),
            prompt: &mut prompt,
        });
        (login, asked)
    }

    fn password_of(case: Case) -> Option<String> {
        resolve(case).0.password
    }

    #[test]
    fn precedence_url_env_file_netrc_prompt() {
        let all = Case {
            url_user: Some("u"),
            url_password: Some("url"),
            env: Some("env"),
            file: Some("file"),
            netrc: Some("machine h login u password netrc"),
            prompt: Some("typed"),
        };
        assert_eq!(password_of(all).as_deref(), Some("url"));
        let no_url = Case {
            url_user: Some("u"),
            env: Some("env"),
            file: Some("file"),
            netrc: Some("machine h login u password netrc"),
            prompt: Some("typed"),
            ..NONE
        };
        assert_eq!(password_of(no_url).as_deref(), Some("env"));
        let file = Case {
            url_user: Some("u"),
            file: Some("file"),
            netrc: Some("machine h login u password netrc"),
            ..NONE
        };
        assert_eq!(password_of(file).as_deref(), Some("file"));
        let netrc = Case {
            url_user: Some("u"),
            netrc: Some("machine h login u password netrc"),
            prompt: Some("typed"),
            ..NONE
        };
        assert_eq!(resolve(netrc), (login("u", Some("netrc")), false));
        let prompt = Case {
            url_user: Some("u"),
            netrc: Some("machine h login someone-else password x"),
            prompt: Some("typed"),
            ..NONE
        };
        assert_eq!(resolve(prompt), (login("u", Some("typed")), true));
    }

    fn login(user: &str, password: Option<&str>) -> Login {
        Login {
            user: Some(user.into()),
            password: password.map(String::from),
        }
    }

    #[test]
    fn no_user_is_anonymous_and_never_prompts() {
        let case = Case {
            env: Some("env"),
            prompt: Some("typed"),
            netrc: Some("default login anonymous password guest@"),
            ..NONE
        };
        let (found, asked) = resolve(case);
        assert_eq!(
            found,
            Login {
                user: None,
                password: None
            }
        );
        assert!(!asked);
    }

    #[test]
    fn netrc_machine_supplies_user_when_url_has_none() {
        let case = Case {
            netrc: Some("machine h login alice password pw"),
            ..NONE
        };
        assert_eq!(resolve(case).0, login("alice", Some("pw")));
    }

    #[test]
    fn no_terminal_means_no_password() {
        let case = Case {
            url_user: Some("u"),
            ..NONE
        };
        assert_eq!(resolve(case), (login("u", None), true));
    }
}
