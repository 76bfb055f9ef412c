//! HTML building blocks: escaping (every text from the log goes through [`esc`]), the page
//! shell, number formats, and the program and diff renderings.

use std::fmt::Write;

use lineage_events::RecordedEvent;
use lineage_events::payload::DecodedPayload;

/// `text` safe inside HTML text and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Shown, not obeyed: a control character or a bidirectional override in a model's text
    // would hide or reorder what an auditor reads.
    for c in lineage_events::visible::shown(text, true).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment (campaign and architecture names are restricted to safe characters by their
/// id types; this keeps a link well-formed whatever they hold).
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The type name of an event, known or not.
pub fn event_type(event: &RecordedEvent) -> &str {
    match &event.payload {
        DecodedPayload::Known(p) => p.type_name(),
        DecodedPayload::Unknown(u) => &u.type_name,
    }
}

/// A number to four significant decimals, or a dash.
pub fn num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(v) => v.to_string(),
        None => "–".to_owned(),
    }
}

/// An integer with thousands separators.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Links to a campaign's pages.
pub struct Links<'a>(pub &'a str);

impl Links<'_> {
    /// The campaign page.
    pub fn campaign(&self) -> String {
        format!("/campaigns/{}", seg(self.0))
    }
    /// An architecture's page.
    pub fn arch(&self, arch: &str) -> String {
        format!("/campaigns/{}/archs/{}", seg(self.0), seg(arch))
    }
    /// An event's page.
    pub fn event(&self, seq: u64) -> String {
        format!("/campaigns/{}/events/{seq}", seg(self.0))
    }
    /// `<a>` to an architecture.
    pub fn arch_a(&self, arch: &str) -> String {
        format!("<a href=\"{}\">{}</a>", self.arch(arch), esc(arch))
    }
    /// `<a>` to an event.
    pub fn event_a(&self, seq: u64) -> String {
        format!("<a href=\"{}\">#{seq}</a>", self.event(seq))
    }
}

/// A whole page: `title`, a breadcrumb trail of `(label, href)`, the body. `live` names the
/// campaign and the position from which the page follows the log.
pub fn page(title: &str, trail: &[(String, String)], body: &str, live: Option<(&str, u64)>) -> String {
    let mut crumbs = String::from("<a href=\"/\">campaigns</a>");
    for (label, href) in trail {
        let _ = write!(crumbs, " › <a href=\"{}\">{}</a>", esc(href), esc(label));
    }
    let live_attrs = live.map_or(String::new(), |(campaign, from)| {
        format!(
            " data-live=\"/campaigns/{}/live?from={from}\" data-sections=\"/campaigns/{}/sections\"",
            seg(campaign),
            seg(campaign)
        )
    });
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · lineage</title><link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\
         <script src=\"/assets/dashboard.js\" defer></script></head>\
         <body{live_attrs}><header><strong>lineage</strong> <nav>{crumbs}</nav>\
         <span id=\"live-status\"></span></header>\
         <div id=\"banner\" class=\"banner\" hidden></div><main>{body}</main></body></html>\n",
        esc(title)
    )
}

/// The body of an error page: one banner line.
pub fn error_body(message: &str) -> String {
    format!("<div class=\"banner\">{}</div>", esc(message))
}

/// Words of the language, for highlighting.
const KEYWORDS: &[&str] = &["mixer", "return", "block"];

/// A program with syntax highlighting: keywords, operation names (a word before `(`),
/// numbers, named arguments and `#` comments; everything else escaped as is.
pub fn program(text: &str) -> String {
    let mut out = String::from("<pre class=\"program\">");
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let (code, comment) = match line.find('#') {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        highlight_code(code, &mut out);
        if !comment.is_empty() {
            let _ = write!(out, "<span class=\"cm\">{}</span>", esc(comment));
        }
    }
    out.push_str("</pre>");
    out
}

fn highlight_code(code: &str, out: &mut String) {
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = (i..chars.len()).find(|&j| !chars[j].is_whitespace());
            let rest = next.map(|j| chars[j]);
            let class = if KEYWORDS.contains(&word.as_str()) {
                Some("kw")
            } else if rest == Some('(') {
                Some("op")
            } else if rest == Some('=')
                && next.and_then(|j| chars.get(j + 1)) != Some(&'=')
                && is_named_argument(&chars[..start])
            {
                Some("arg")
            } else {
                None
            };
            match class {
                Some(class) => {
                    let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(&word));
                }
                None => out.push_str(&esc(&word)),
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            let _ = write!(out, "<span class=\"nm\">{}</span>", esc(&number));
        } else {
            out.push_str(&esc(&c.to_string()));
            i += 1;
        }
    }
}

/// Whether a word followed by `=` is a named argument (inside parentheses) rather than a binding.
fn is_named_argument(before: &[char]) -> bool {
    let mut depth = 0i32;
    for c in before {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

/// A unified diff, lines coloured by their sign.
pub fn diff(text: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in text.lines() {
        let class = match line.chars().next() {
            Some('+') if !line.starts_with("+++") => "add",
            Some('-') if !line.starts_with("---") => "del",
            Some('@') => "hunk",
            _ => "ctx",
        };
        let _ = writeln!(out, "<span class=\"{class}\">{}</span>", esc(line));
    }
    out.push_str("</pre>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_log_cannot_open_a_tag_or_leave_an_attribute() {
        let hostile = "<script>alert(\"x\")</script> & 'q'";
        let escaped = esc(hostile);
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"'));
        assert!(!escaped.contains('\''));
        assert_eq!(escaped, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;");
        let program = program("mixer m { # <script>x</script>\n  return proj(x, d) }");
        assert!(!program.contains("<script>"), "{program}");
        let diff = diff("+ <script>\n- </b>");
        assert!(!diff.contains("<script>") && !diff.contains("</b>"), "{diff}");
    }

    #[test]
    fn a_program_is_highlighted_word_by_word() {
        let html = program("mixer m {\n  o = recur(q, k, v, decay = 0.9)\n  return proj(o, d)\n}");
        assert!(html.contains("<span class=\"kw\">mixer</span>"), "{html}");
        assert!(html.contains("<span class=\"op\">recur</span>"), "{html}");
        assert!(html.contains("<span class=\"arg\">decay</span>"), "{html}");
        assert!(html.contains("<span class=\"nm\">0.9</span>"), "{html}");
        assert!(!html.contains("<span class=\"arg\">o</span>"), "a binding is not an argument: {html}");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("quick-1.a_b"), "quick-1.a_b");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
