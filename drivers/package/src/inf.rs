//! A small reader for Windows INF files, enough to check a driver package's INF.
//!
//! INF is not INI: a line may have no `=`, values are comma-separated fields that may be
//! quoted (`""` is a quote inside quotes), `;` starts a comment outside quotes, a trailing
//! `\` continues a line, section names and keys are case-insensitive, and `%name%` tokens are
//! replaced from `[Strings]` (`%%` is a literal `%`; numbers such as `%13%` are directory IDs
//! and stay as written).

/// One line of a section: `key = fields` or bare `fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The part before `=`, if any (strings substituted).
    pub key: Option<String>,
    /// The comma-separated fields after `=` (or of the whole line), unquoted and substituted.
    pub fields: Vec<String>,
}

/// A `[section]` and its lines, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name as written.
    pub name: String,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// An `HKR, subkey, value-name, flags, value` line of an AddReg section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hkr {
    /// Registry subkey below the driver key (`Ndi\Params\*NetworkDirect`).
    pub subkey: String,
    /// Value name (empty for the key's default value).
    pub name: String,
    /// Value data (the first field after the flags).
    pub value: String,
}

/// A parsed INF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inf {
    /// Sections in file order (a name may repeat; lookups merge them).
    pub sections: Vec<Section>,
}

/// Splits off a comment and reports whether the line ends in a continuation.
fn strip_comment(line: &str) -> (&str, bool) {
    let mut quoted = false;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let text = line[..end].trim_end();
    match text.strip_suffix('\\') {
        Some(rest) => (rest, true),
        None => (text, false),
    }
}

/// Splits at unquoted `sep`, keeping quotes (fields are unquoted later).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Removes quotes (`""` inside quotes is one quote) and trims unquoted whitespace.
fn unquote(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '"' {
            if quoted && chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                quoted = !quoted;
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Inf {
    /// Parses INF text; `[Strings]` tokens are substituted everywhere.
    pub fn parse(text: &str) -> Result<Inf, String> {
        let mut sections: Vec<Section> = Vec::new();
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            let (body, continued) = strip_comment(raw);
            pending.push_str(body);
            if continued {
                continue;
            }
            let line = core::mem::take(&mut pending);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("line {}: unterminated section name", n + 1))?;
                sections.push(Section {
                    name: name.trim().to_string(),
                    lines: Vec::new(),
                });
                continue;
            }
            let section = sections
                .last_mut()
                .ok_or_else(|| format!("line {}: text before the first section", n + 1))?;
            let eq = split_unquoted(line, '=');
            let (key, rest) = match eq.as_slice() {
                [only] => (None, *only),
                [key, ..] => (Some(unquote(key)), &line[key.len() + 1..]),
                [] => (None, line),
            };
            section.lines.push(Line {
                key,
                fields: split_unquoted(rest, ',').into_iter().map(unquote).collect(),
            });
        }
        let mut inf = Inf { sections };
        inf.substitute()?;
        Ok(inf)
    }

    fn substitute(&mut self) -> Result<(), String> {
        let strings: Vec<(String, String)> = self
            .lines("Strings")
            .into_iter()
            .filter_map(|l| Some((l.key.clone()?, l.fields.first()?.clone())))
            .collect();
        let subst = |s: &str| -> Result<String, String> {
            let mut out = String::new();
            let mut parts = s.split('%');
            out.push_str(parts.next().unwrap_or_default());
            while let Some(token) = parts.next() {
                let Some(rest) = parts.next() else {
                    return Err(format!("unbalanced % in {s:?}"));
                };
                if token.is_empty() {
                    out.push('%');
                } else if token.chars().all(|c| c.is_ascii_digit()) {
                    out.push_str(&format!("%{token}%"));
                } else {
                    let value = strings
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(token))
                        .ok_or_else(|| format!("no string %{token}%"))?;
                    out.push_str(&value.1);
                }
                out.push_str(rest);
            }
            Ok(out)
        };
        for section in &mut self.sections {
            if section.name.eq_ignore_ascii_case("Strings") {
                continue;
            }
            for line in &mut section.lines {
                if let Some(key) = &line.key {
                    line.key = Some(subst(key)?);
                }
                for field in &mut line.fields {
                    *field = subst(field)?;
                }
            }
        }
        Ok(())
    }

    /// Whether a section called `name` exists (case-insensitive).
    pub fn has_section(&self, name: &str) -> bool {
        self.sections
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Every line of every section called `name` (case-insensitive).
    pub fn lines(&self, name: &str) -> Vec<&Line> {
        self.sections
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(name))
            .flat_map(|s| s.lines.iter())
            .collect()
    }

    /// The fields of every `key = ...` line of a section (case-insensitive key).
    pub fn values(&self, section: &str, key: &str) -> Vec<&[String]> {
        self.lines(section)
            .into_iter()
            .filter(|l| {
                l.key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
            .map(|l| l.fields.as_slice())
            .collect()
    }

    /// The single value of `key` in `section`: its first field, when the key occurs once.
    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        match self.values(section, key).as_slice() {
            [fields] => fields.first().map(String::as_str),
            _ => None,
        }
    }

    /// The `HKR` lines of a section.
    pub fn hkr(&self, section: &str) -> Vec<Hkr> {
        self.lines(section)
            .into_iter()
            .filter(|l| l.key.is_none())
            .filter_map(|l| match l.fields.as_slice() {
                [root, subkey, name, _flags, value, ..] if root.eq_ignore_ascii_case("HKR") => {
                    Some(Hkr {
                        subkey: subkey.clone(),
                        name: name.clone(),
                        value: value.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
; a comment
[Version]
Signature = "$WINDOWS NT$" ; trailing comment
Class     = Net

[Install.NTamd64]
AddReg = a.reg, \
         b.reg
*IfType = 6

[a.reg]
HKR, Ndi\Interfaces, UpperRange, 0, "ndis5"
HKR, Ndi\Params\*NetworkDirect\enum, "1", 0, %Enabled%
HKR, , BusType, 0, "5"

[Strings]
Enabled = "Enabled; really ""on"""
"#;

    #[test]
    fn reads_keys_quotes_comments_and_continuations() {
        let inf = Inf::parse(SAMPLE).expect("parses");
        assert_eq!(inf.value("version", "signature"), Some("$WINDOWS NT$"));
        assert_eq!(inf.value("Version", "Class"), Some("Net"));
        assert_eq!(
            inf.values("Install.NTamd64", "AddReg"),
            vec![&["a.reg".to_string(), "b.reg".to_string()][..]]
        );
        assert_eq!(inf.value("Install.NTamd64", "*IfType"), Some("6"));
        assert_eq!(inf.value("Version", "Missing"), None);
    }

    #[test]
    fn reads_hkr_lines_with_strings_substituted() {
        let inf = Inf::parse(SAMPLE).expect("parses");
        let hkr = inf.hkr("a.reg");
        assert_eq!(hkr.len(), 3);
        assert_eq!(hkr[0].subkey, "Ndi\\Interfaces");
        assert_eq!(hkr[0].value, "ndis5");
        assert_eq!(hkr[1].name, "1");
        assert_eq!(hkr[1].value, "Enabled; really \"on\"");
        assert_eq!(
            (hkr[2].subkey.as_str(), hkr[2].name.as_str()),
            ("", "BusType")
        );
    }

    #[test]
    fn rejects_unknown_strings_and_keeps_directory_ids() {
        assert!(Inf::parse("[A]\nx = %Nope%\n").is_err());
        let inf = Inf::parse("[A]\nx = %13%\\d.sys, 100%%\n").expect("parses");
        assert_eq!(
            inf.values("A", "x"),
            vec![&["%13%\\d.sys".to_string(), "100%".to_string()][..]]
        );
        assert!(Inf::parse("x = 1\n").is_err());
    }
}
