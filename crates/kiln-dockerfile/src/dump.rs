//! BuildKit's parse dump and the corpus `ast.json` for a [`crate::Dockerfile`].
//!
//! The dump is exactly BuildKit's `root.Dump() + "\n"`: one `(keyword ...)`
//! line per instruction, strings quoted as Go's `strconv.Quote` does.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::ast::{Dockerfile, Instruction};

impl Dockerfile {
    /// BuildKit's parse dump (`root.Dump() + "\n"`).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for instruction in &self.instructions {
            out.push('(');
            out.push_str(&instruction.dump());
            out.push_str(")\n");
        }
        let mut out = out.trim().to_owned();
        out.push('\n');
        out
    }

    /// The parse result in the corpus `ast.json` schema.
    pub fn to_json(&self) -> Value {
        json!({
            "escape_token": self.escape.to_string(),
            "start_line": self.instructions.first().map_or(0, |first| first.span.start_line),
            "end_line": self.instructions.last().map_or(0, |last| last.span.end_line),
            "warnings": self.warnings,
            "instructions": self.instructions.iter().map(|instruction| instruction.to_json(true)).collect::<Vec<_>>(),
        })
    }
}

impl Instruction {
    /// One instruction in BuildKit's dump form, without the parentheses.
    pub fn dump(&self) -> String {
        let mut out = self.keyword.clone();
        if !self.flags.is_empty() {
            let quoted: Vec<String> = self.flags.iter().map(|flag| go_quote(flag)).collect();
            let _ = write!(out, " [{}]", quoted.join(" "));
        }
        if let Some(sub) = &self.sub {
            let _ = write!(out, " ({})", sub.dump());
        }
        for arg in &self.args {
            out.push(' ');
            out.push_str(&go_quote(arg));
        }
        out.trim().to_owned()
    }

    /// The instruction as an `ast.json` object. BuildKit gives the ONBUILD
    /// child no line numbers, so `top_level == false` prints 0 for them.
    fn to_json(&self, top_level: bool) -> Value {
        let (start_line, end_line) = if top_level {
            (self.span.start_line, self.span.end_line)
        } else {
            (0, 0)
        };
        let mut object = serde_json::Map::new();
        object.insert("cmd".into(), json!(self.keyword));
        object.insert("flags".into(), json!(self.flags));
        object.insert("args".into(), json!(self.args));
        object.insert("json".into(), json!(self.json));
        object.insert("start_line".into(), json!(start_line));
        object.insert("end_line".into(), json!(end_line));
        if !self.heredocs.is_empty() {
            object.insert("heredocs".into(), json!(self.heredocs));
        }
        if let Some(sub) = &self.sub {
            object.insert("sub".into(), sub.to_json(false));
        }
        object.insert("original".into(), json!(self.original));
        Value::Object(object)
    }
}

/// Quotes `text` as Go's `strconv.Quote` does.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ if is_go_printable(ch) => out.push(ch),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            _ if ch < ' ' || ch == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", u32::from(ch));
            }
            _ if u32::from(ch) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", u32::from(ch));
            }
        }
    }
    out.push('"');
    out
}

/// Non-printable ranges outside ASCII, as Go's `unicode.IsPrint` sees them:
/// spaces other than U+0020 (Z*), format characters (Cf), private use (Co)
/// and noncharacters/large unassigned blocks (Cn). An approximation: Go's
/// full tables also exclude scattered unassigned code points.
const NON_PRINTABLE: &[(u32, u32)] = &[
    (0x0080, 0x00A0),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2064),
    (0x2065, 0x206F),
    (0x3000, 0x3000),
    (0xD800, 0xF8FF),
    (0xFDD0, 0xFDEF),
    (0xFEFF, 0xFEFF),
    (0xFFF0, 0xFFFB),
    (0xFFFE, 0xFFFF),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0x2FFFE, 0x2FFFF),
    (0x3FFFE, 0x3FFFF),
    (0x40000, 0xE00FF),
    (0xE01F0, 0x10FFFF),
];

/// Go's `unicode.IsPrint` (letters, marks, numbers, punctuation, symbols and
/// U+0020), approximated outside ASCII by [`NON_PRINTABLE`].
fn is_go_printable(ch: char) -> bool {
    let code = u32::from(ch);
    if code < 0x80 {
        return (0x20..0x7F).contains(&code);
    }
    !NON_PRINTABLE
        .iter()
        .any(|&(low, high)| (low..=high).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_table() {
        let cases = [
            ("abc", r#""abc""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\x07\x08\x0c\n\r\t\x0b", r#""\a\b\f\n\r\t\v""#),
            ("\0\x1b\x7f", r#""\x00\x1b\x7f""#),
            ("é ☃ 😀 ♥", "\"é ☃ 😀 ♥\""),
            (
                "\u{a0}\u{ad}\u{200b}\u{feff}",
                r#""\u00a0\u00ad\u200b\ufeff""#,
            ),
            ("\u{85}", r#""\u0085""#),
            ("\u{e000}", r#""\ue000""#),
            ("\u{f0000}", r#""\U000f0000""#),
            ("", r#""""#),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "{input:?}");
        }
    }
}
