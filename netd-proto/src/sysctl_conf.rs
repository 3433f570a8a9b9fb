//! sysctl.conf syntax as procps `sysctl -p` reads it (`parse_setting_line()`):
//! `key = value`, `#`/`;` comments, blanks around `=` trimmed, a leading `-`
//! meaning "ignore a failure on this line". A trailing `# comment` is part of
//! the value, as in procps.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub line: usize,
    pub key: String,
    pub value: String,
    /// The line started with `-`.
    pub ignore_failure: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Setting(Setting),
    /// No `=`: procps prints "FILE(LINE): invalid syntax, continuing...".
    InvalidSyntax(usize),
}

pub fn parse(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.len() < 2 || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (ignore_failure, line) = match line.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((key, value)) = line.split_once('=') else {
            out.push(Line::InvalidSyntax(i + 1));
            continue;
        };
        out.push(Line::Setting(Setting {
            line: i + 1,
            key: key.trim().replace('/', "."),
            value: value.trim().to_string(),
            ignore_failure,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_procps() {
        let text = "# comment\n; also\n\nnet.ipv4.tcp_sack = 0\n  net/ipv4/tcp_rmem=4096 87380 6291456\n-net.ipv4.nope = 1\nbogus line\nnet.ipv4.tcp_fin_timeout = 30 # trailing\n";
        let lines = parse(text);
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            Line::Setting(Setting {
                line: 4,
                key: "net.ipv4.tcp_sack".into(),
                value: "0".into(),
                ignore_failure: false
            })
        );
        let Line::Setting(s) = &lines[1] else {
            panic!()
        };
        assert_eq!(
            (s.key.as_str(), s.value.as_str()),
            ("net.ipv4.tcp_rmem", "4096 87380 6291456")
        );
        let Line::Setting(s) = &lines[2] else {
            panic!()
        };
        assert!(s.ignore_failure);
        assert_eq!(lines[3], Line::InvalidSyntax(7));
        let Line::Setting(s) = &lines[4] else {
            panic!()
        };
        assert_eq!(
            s.value, "30 # trailing",
            "procps keeps a trailing comment in the value"
        );
    }
}
