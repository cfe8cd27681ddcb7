//! Lexing C source for the span finder: comments, literals, directives.
//!
//! [`Lexed`] reads a file once: comments become spaces, the contents of
//! string and character literals become spaces (the quotes stay), and every
//! line is classified as blank, comment-only, code or preprocessor directive
//! (continuation lines of a directive included). A literal that is not
//! closed on its line ends there unless the line ends in `\`, so a stray
//! apostrophe cannot swallow the rest of the file; `#error` and `#warning`
//! lines (free text such as `#error don't`) are not searched for literals.
//! A `//` comment ending in `\` continues on the next line, as in C.
//!
//! **nloc.** A line counts when it is neither blank nor comment-only:
//! code lines and preprocessor lines (including lines of branches the span
//! finder skips) count, a line holding code and a comment counts.

/// Classification of one source line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// Only whitespace.
    Blank,
    /// Only comments (and whitespace).
    Comment,
    /// Some code outside comments.
    Code,
    /// A preprocessor directive or a continuation line of one.
    Directive(Cond),
}

/// What a directive does to conditional compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    /// Not a conditional (`#define`, `#include`, continuation lines).
    Other,
    /// `#if`, `#ifdef`, `#ifndef`.
    If,
    /// `#if 0`.
    IfZero,
    /// `#elif`, `#else` (and `#elifdef`, `#elifndef`).
    Else,
    /// `#endif`.
    Endif,
}

/// A source file after lexing (see the module docs).
#[derive(Debug)]
pub(crate) struct Lexed {
    /// The text with comments and literal contents replaced by spaces.
    code: Vec<u8>,
    /// Byte offset of the start of each line; one extra entry at the end.
    starts: Vec<usize>,
    /// One kind per line.
    pub(crate) kinds: Vec<LineKind>,
    /// `counted[i]`: non-blank, non-comment-only lines among lines `1..=i`.
    counted: Vec<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Block,
    Line,
    Quote(u8),
}

impl Lexed {
    /// Lex `text`.
    pub(crate) fn new(text: &str) -> Lexed {
        let bytes = text.as_bytes();
        let mut code = bytes.to_vec();
        let mut starts = vec![0];
        let mut kinds = Vec::new();
        let mut state = State::Code;
        let mut directive_cont = false;
        let mut pos = 0;
        while pos < bytes.len() {
            let end = bytes[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |n| pos + n);
            let mut line_end = end;
            if line_end > pos && bytes[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            let line = &bytes[pos..line_end];
            let continued = line.last() == Some(&b'\\');
            let first = line.iter().position(|b| !b.is_ascii_whitespace());
            let new_directive =
                !directive_cont && state == State::Code && first.is_some_and(|f| line[f] == b'#');
            let directive = directive_cont || new_directive;
            let (cond, quotes) = if new_directive {
                directive_name(&line[first.unwrap_or(0) + 1..])
            } else {
                (Cond::Other, true)
            };
            let (mut has_code, mut has_comment) =
                (false, matches!(state, State::Block | State::Line));
            let mut j = 0;
            while j < line.len() {
                let c = line[j];
                let next = line.get(j + 1).copied();
                match state {
                    State::Block => {
                        code[pos + j] = b' ';
                        if c == b'*' && next == Some(b'/') {
                            state = State::Code;
                            code[pos + j + 1] = b' ';
                            j += 1;
                        }
                    }
                    State::Line => code[pos + j] = b' ',
                    State::Quote(q) => {
                        if c == q {
                            state = State::Code;
                        } else {
                            code[pos + j] = b' ';
                            if c == b'\\' && j + 1 < line.len() {
                                code[pos + j + 1] = b' ';
                                j += 1;
                            }
                        }
                    }
                    State::Code => {
                        if c == b'/' && next == Some(b'*') {
                            state = State::Block;
                            has_comment = true;
                            code[pos + j] = b' ';
                            code[pos + j + 1] = b' ';
                            j += 1;
                        } else if c == b'/' && next == Some(b'/') {
                            state = State::Line;
                            has_comment = true;
                            code[pos + j] = b' ';
                        } else if (c == b'"' || c == b'\'') && quotes {
                            state = State::Quote(c);
                            has_code = true;
                        } else if !c.is_ascii_whitespace() {
                            has_code = true;
                        }
                    }
                }
                j += 1;
            }
            if !continued && matches!(state, State::Line | State::Quote(_)) {
                state = State::Code;
            }
            kinds.push(if directive {
                LineKind::Directive(cond)
            } else if has_code {
                LineKind::Code
            } else if has_comment {
                LineKind::Comment
            } else {
                LineKind::Blank
            });
            directive_cont = directive && continued;
            pos = end + 1;
            starts.push(pos.min(bytes.len()));
        }
        if starts.len() == kinds.len() + 1 {
            *starts.last_mut().unwrap_or(&mut 0) = bytes.len();
        }
        let mut counted = Vec::with_capacity(kinds.len() + 1);
        counted.push(0);
        for k in &kinds {
            let prev = *counted.last().unwrap_or(&0);
            counted.push(prev + u32::from(!matches!(k, LineKind::Blank | LineKind::Comment)));
        }
        Lexed {
            code,
            starts,
            kinds,
            counted,
        }
    }

    /// Number of lines.
    pub(crate) fn line_count(&self) -> usize {
        self.kinds.len()
    }

    /// Kind of 1-based line `n` (`None` past the end).
    pub(crate) fn kind(&self, n: u32) -> Option<LineKind> {
        self.kinds.get((n as usize).checked_sub(1)?).copied()
    }

    /// Non-blank, non-comment-only lines among lines `start..=end`
    /// (1-based, clamped to the file).
    pub(crate) fn nloc(&self, start: u32, end: u32) -> u32 {
        let n = self.kinds.len();
        let (s, e) = ((start.max(1) as usize).min(n + 1), (end as usize).min(n));
        if e < s {
            return 0;
        }
        self.counted[e] - self.counted[s - 1]
    }

    /// Blanked code of 0-based line `i`, without its newline.
    pub(crate) fn line(&self, i: usize) -> &[u8] {
        let (s, e) = (self.starts[i], self.starts[i + 1]);
        let l = &self.code[s..e];
        let l = l.strip_suffix(b"\n").unwrap_or(l);
        l.strip_suffix(b"\r").unwrap_or(l)
    }
}

/// The conditional kind of a directive (text after `#`) and whether its
/// text may hold string literals.
fn directive_name(rest: &[u8]) -> (Cond, bool) {
    let rest = trim_start(rest);
    let n = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let cond = match &rest[..n] {
        b"if" => {
            let arg = trim_start(&rest[n..]);
            let zero = arg.first() == Some(&b'0') && !arg.get(1).is_some_and(|&b| is_ident(b));
            if zero {
                Cond::IfZero
            } else {
                Cond::If
            }
        }
        b"ifdef" | b"ifndef" => Cond::If,
        b"elif" | b"else" | b"elifdef" | b"elifndef" => Cond::Else,
        b"endif" => Cond::Endif,
        _ => Cond::Other,
    };
    (cond, !matches!(&rest[..n], b"error" | b"warning"))
}

pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let k = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[k..]
}

pub(crate) fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Identifiers of a blanked line with the column after each.
pub(crate) fn idents(line: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < line.len() {
            if is_ident(line[i]) && !line[i].is_ascii_digit() && (i == 0 || !is_ident(line[i - 1]))
            {
                let s = i;
                while i < line.len() && is_ident(line[i]) {
                    i += 1;
                }
                return Some((&line[s..i], i));
            }
            i += 1;
        }
        None
    })
}

/// Whether a parameter list (blanked, between the parentheses) is an
/// old-style identifier list such as `a, b`.
pub(crate) fn identifier_list(params: &[u8]) -> bool {
    let text = String::from_utf8_lossy(params);
    text.trim() != "void"
        && !text.trim().is_empty()
        && text.split(',').all(|p| {
            let p = p.trim();
            !p.is_empty() && p.bytes().all(is_ident) && !p.as_bytes()[0].is_ascii_digit()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_lines_and_blanks_comments() {
        let src = "\
/* header
 * more */
#include <linux/fs.h>   /* x */

int x = 1; // one
\t// only a comment \\
\tstill the comment
#define M(a) \\
\tdo { } while (0)
char *s = \"/* not a comment\";
#error don't stop here
int y;";
        let lx = Lexed::new(src);
        use LineKind::*;
        let kinds: Vec<LineKind> = (1..=12).map(|n| lx.kind(n).unwrap()).collect();
        assert_eq!(
            kinds,
            vec![
                Comment,
                Comment,
                Directive(Cond::Other),
                Blank,
                Code,
                Comment,
                Comment,
                Directive(Cond::Other),
                Directive(Cond::Other),
                Code,
                Directive(Cond::Other),
                Code,
            ]
        );
        assert_eq!(lx.kind(13), None);
        assert_eq!(lx.line(4), b"int x = 1;       ");
        assert_eq!(lx.line(9), b"char *s = \"                \";");
        assert_eq!(lx.nloc(1, 12), 7);
        assert_eq!(lx.nloc(4, 4), 0);
        assert_eq!(lx.nloc(5, 400), 6);
        assert_eq!(lx.nloc(9, 3), 0);
    }

    #[test]
    fn conditionals() {
        let lx = Lexed::new("#if 0\n# if X\n#  ifdef A\n#elif B\n#else /* c */\n#endif\n#if 0x1\n#if 0 // off\n#ifndef Z\n");
        let c: Vec<LineKind> = (1..=9).map(|n| lx.kind(n).unwrap()).collect();
        use Cond::*;
        let want = [IfZero, If, If, Else, Else, Endif, If, IfZero, If];
        assert_eq!(
            c,
            want.iter()
                .map(|&k| LineKind::Directive(k))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn crlf_and_unterminated_literals() {
        let lx = Lexed::new("int a;\r\nchar c = 'x;\r\nint b; /* open");
        assert_eq!(lx.line_count(), 3);
        assert_eq!(lx.line(0), b"int a;");
        assert_eq!(lx.kind(3), Some(LineKind::Code));
        assert_eq!(lx.nloc(1, 3), 3);
        let words: Vec<&[u8]> = idents(b"static int 9x foo_1(a, b)").map(|w| w.0).collect();
        assert_eq!(words, [&b"static"[..], b"int", b"foo_1", b"a", b"b"]);
        assert!(identifier_list(b"a, b") && identifier_list(b" x "));
        assert!(!identifier_list(b"void") && !identifier_list(b"int a") && !identifier_list(b""));
        let empty = Lexed::new("");
        assert_eq!((empty.line_count(), empty.nloc(1, 10)), (0, 0));
        let trailing = Lexed::new("a\n\n");
        assert_eq!(trailing.line_count(), 2);
    }
}
