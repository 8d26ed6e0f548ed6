//! A small `~/.netrc` reader (the format of ftp(1), curl and Python's netrc module).
//!
//! Hand-written because the format is tiny: whitespace-separated tokens `machine NAME`,
//! `default`, `login NAME`, `password PW`, `account X` (ignored), and `macdef NAME` whose body
//! runs to the next blank line (skipped). Tokens may be double-quoted with `\"` and `\\` escapes
//! (as curl accepts), and lines starting with `#` are comments.

/// One `machine` (or `default`) block.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct NetrcEntry {
    /// `None` for the `default` block.
    pub machine: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for NetrcEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetrcEntry")
            .field("machine", &self.machine)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

/// The parsed file: entries in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Netrc {
    pub entries: Vec<NetrcEntry>,
}

impl Netrc {
    /// Parse leniently: unknown tokens are skipped, a dangling keyword is ignored.
    pub(crate) fn parse(text: &str) -> Netrc {
        let mut entries: Vec<NetrcEntry> = Vec::new();
        let mut tokens = tokenize(text).into_iter();
        while let Some(token) = tokens.next() {
            match token {
                Token::Word(word) => match word.as_str() {
                    "machine" => {
                        if let Some(name) = tokens.next().and_then(Token::into_word) {
                            entries.push(NetrcEntry {
                                machine: Some(name),
                                ..NetrcEntry::default()
                            });
                        }
                    }
                    "default" => entries.push(NetrcEntry::default()),
                    "login" | "password" | "account" => {
                        let value = tokens.next().and_then(Token::into_word);
                        if let (Some(entry), Some(value)) = (entries.last_mut(), value) {
                            match word.as_str() {
                                "login" => entry.login = Some(value),
                                "password" => entry.password = Some(value),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                },
                Token::Macro => {}
            }
        }
        Netrc { entries }
    }

    /// The block for `host` (case-insensitive), else the `default` block.
    /// With `user` given, a block whose login differs is not a match.
    pub(crate) fn find(&self, host: &str, user: Option<&str>) -> Option<&NetrcEntry> {
        let login_fits = |entry: &&NetrcEntry| match (user, entry.login.as_deref()) {
            (Some(wanted), Some(login)) => wanted == login,
            _ => true,
        };
        self.entries
            .iter()
            .filter(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(host))
            })
            .find(login_fits)
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(|e| e.machine.is_none())
                    .find(login_fits)
            })
    }
}

enum Token {
    Word(String),
    /// A whole `macdef` block, body included.
    Macro,
}

impl Token {
    fn into_word(self) -> Option<String> {
        match self {
            Token::Word(word) => Some(word),
            Token::Macro => None,
        }
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut chars = line.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let mut word = String::new();
            if first == '"' {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    word.push(c);
                }
            }
            if word == "macdef" {
                // The macro body ends at the first empty line; its name is on this line.
                for body in lines.by_ref() {
                    if body.trim().is_empty() {
                        break;
                    }
                }
                tokens.push(Token::Macro);
                break;
            }
            tokens.push(Token::Word(word));
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(machine: Option<&str>, login: Option<&str>, password: Option<&str>) -> NetrcEntry {
        NetrcEntry {
            machine: machine.map(String::from),
            login: login.map(String::from),
            password: password.map(String::from),
        }
    }

    #[test]
    fn parses_machine_blocks_on_one_or_many_lines() {
        let netrc = Netrc::parse(
            "machine a.example login alice password s3cret\n\
             machine b.example\n  login bob\n  password \"with space\"\n",
        );
        assert_eq!(
            netrc.entries,
            vec![
                entry(Some("a.example"), Some("alice"), Some("s3cret")),
                entry(Some("b.example"), Some("bob"), Some("with space")),
            ]
        );
    }

    #[test]
    fn default_block_is_the_fallback() {
        let netrc = Netrc::parse(
            "machine a login alice password one\ndefault login anonymous password me@x\n",
        );
        assert_eq!(
            netrc.find("A", None).and_then(|e| e.password.as_deref()),
            Some("one")
        );
        assert_eq!(
            netrc.find("other", None).and_then(|e| e.login.as_deref()),
            Some("anonymous")
        );
    }

    #[test]
    fn login_must_match_the_requested_user() {
        let netrc =
            Netrc::parse("machine h login alice password a1\nmachine h login bob password b1\n");
        assert_eq!(
            netrc
                .find("h", Some("bob"))
                .and_then(|e| e.password.as_deref()),
            Some("b1")
        );
        assert_eq!(netrc.find("h", Some("carol")), None);
    }

    #[test]
    fn skips_comments_macros_and_account() {
        let netrc = Netrc::parse(
            "# my hosts\nmacdef init\ncd /pub\nbinary\n\nmachine h account acct login u password p\n",
        );
        assert_eq!(netrc.entries, vec![entry(Some("h"), Some("u"), Some("p"))]);
    }

    #[test]
    fn quoted_tokens_take_escapes() {
        let netrc = Netrc::parse(r#"machine h login u password "a\"b\\c d""#);
        assert_eq!(
            netrc.entries.first().and_then(|e| e.password.clone()),
            Some(r#"a"b\c d"#.to_string())
        );
    }

    #[test]
    fn dangling_keyword_is_ignored() {
        let netrc = Netrc::parse("machine h login u password");
        assert_eq!(netrc.entries, vec![entry(Some("h"), Some("u"), None)]);
        assert_eq!(Netrc::parse("password orphan").entries, vec![]);
    }
}
