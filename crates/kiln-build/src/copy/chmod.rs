//! `--chmod`: octal (`755`, `0644`) or symbolic (`u+x,go-w`, `a=rX`) modes.

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// An absolute mode.
    Octal(u32),
    /// Symbolic clauses applied in order.
    Symbolic(Vec<Clause>),
}

/// One symbolic clause: `who op perms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    op: char,
    perms: u32,
    /// `X`: execute only for directories or files already executable by someone.
    conditional_exec: bool,
}

impl Chmod {
    /// Parses a `--chmod` value.
    pub fn parse(value: &str) -> Result<Chmod, String> {
        if !value.is_empty() && value.chars().all(|ch| ch.is_digit(8)) {
            let mode = u32::from_str_radix(value, 8)
                .map_err(|err| format!("invalid --chmod {value:?}: {err}"))?;
            if mode > 0o7777 {
                return Err(format!("invalid --chmod {value:?}: mode out of range"));
            }
            return Ok(Chmod::Octal(mode));
        }
        let mut clauses = Vec::new();
        for part in value.split(',') {
            clauses.push(
                parse_clause(part)
                    .ok_or_else(|| format!("invalid --chmod {value:?}: bad clause {part:?}"))?,
            );
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// Applies the mode to an entry's permission bits.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(mode) => *mode,
            Chmod::Symbolic(clauses) => clauses
                .iter()
                .fold(mode, |mode, clause| clause.apply(mode, is_dir)),
        }
    }
}

fn parse_clause(part: &str) -> Option<Clause> {
    let op_at = part.find(['+', '-', '='])?;
    let (who_text, rest) = part.split_at(op_at);
    let mut who = 0;
    for ch in who_text.chars() {
        who |= match ch {
            'u' => 0o4700,
            'g' => 0o2070,
            'o' => 0o1007,
            'a' => 0o7777,
            _ => return None,
        };
    }
    if who == 0 {
        who = 0o7777;
    }
    let mut chars = rest.chars();
    let op = chars.next()?;
    let mut perms = 0;
    let mut conditional_exec = false;
    for ch in chars {
        perms |= match ch {
            'r' => 0o444,
            'w' => 0o222,
            'x' => 0o111,
            'X' => {
                conditional_exec = true;
                0
            }
            's' => 0o6000,
            't' => 0o1000,
            _ => return None,
        };
    }
    Some(Clause {
        who,
        op,
        perms,
        conditional_exec,
    })
}

impl Clause {
    fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut perms = self.perms;
        if self.conditional_exec && (is_dir || mode & 0o111 != 0) {
            perms |= 0o111;
        }
        let bits = perms & self.who;
        match self.op {
            '+' => mode | bits,
            '-' => mode & !bits,
            _ => (mode & !(self.who & 0o7777)) | bits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let cases: &[(&str, u32, bool, u32)] = &[
            ("755", 0o600, false, 0o755),
            ("0644", 0o777, false, 0o644),
            ("4755", 0o644, false, 0o4755),
            ("u+x", 0o644, false, 0o744),
            ("go-w", 0o666, false, 0o644),
            ("a=r", 0o755, false, 0o444),
            ("a=rX", 0o600, true, 0o555),
            ("a=rX", 0o600, false, 0o444),
            ("a=rX", 0o700, false, 0o555),
            ("u=rwx,g=rx,o=", 0o000, false, 0o750),
            ("+x", 0o644, false, 0o755),
            ("o+t", 0o777, true, 0o1777),
        ];
        for (text, before, is_dir, after) in cases {
            let chmod = Chmod::parse(text).unwrap();
            assert_eq!(
                chmod.apply(*before, *is_dir),
                *after,
                "{text} on {before:o}"
            );
        }
    }

    #[test]
    fn bad_modes() {
        for text in ["", "99", "17777", "u+q", "z+x", "u"] {
            assert!(Chmod::parse(text).is_err(), "{text}");
        }
    }
}
