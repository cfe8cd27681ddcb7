//! Function bodies in C source text: a small lexer and the span finder.
//!
//! [`Lexed`] reads a file once: comments become spaces, the contents of
//! string and character literals become spaces (the quotes stay), and every
//! line is classified as blank, comment-only, code or preprocessor directive
//! (continuation lines of a directive included). A literal that is not
//! closed on its line ends there unless the line ends in `\`, so a stray
//! apostrophe (`#error don't`) cannot swallow the rest of the file; `#error`
//! and `#warning` lines are not searched for literals at all.
//!
//! [`find`] locates the function declared at a line (DWARF's `decl_line`:
//! the line holding the function's *name*):
//!
//! * **Plain definition.** The first occurrence on that line of the
//!   symbol's base name (the part before the first `.`: `foo.isra.0` is
//!   `foo`) followed by `(`, possibly on the next line. The parameter list is
//!   matched to its `)`; then attributes (`__acquires(x)`,
//!   `__attribute__((...))`) are skipped up to the first `{`, which opens the
//!   body. A `;`, `,` or `=` first means a declaration, not a definition,
//!   except after an old-style (K&R) identifier list, whose parameter
//!   declarations end in `;`. The body ends at the `}` that brings the brace
//!   depth back to 0.
//! * **Macro-generated.** Otherwise the first identifier on the line that is
//!   followed by `(` (attribute keywords excepted) is taken as a macro
//!   invocation and matched to its `)`. When a `{` follows, the macro heads
//!   a literal body (`SYSCALL_DEFINE3(read, ...) { ... }`, `BPF_CALL_2`) and
//!   the span ends at that body's `}`; otherwise the function has no
//!   literal body (`TRACE_EVENT(...)`, `PMU_FORMAT_ATTR(event, "...")`,
//!   `DEFINE_SHOW_ATTRIBUTE(x)`) and the span ends on the line of the
//!   invocation's closing `)`. Either way the function is flagged with a
//!   macro kind, see [`macro_kind`].
//!
//! **Conditionals.** Preprocessor lines never count braces. Inside the scan
//! only one branch of each `#if`/`#ifdef`/`#ifndef` is read: the first one,
//! except after `#if 0`, where the next branch is read instead. Later
//! `#elif`/`#else` branches are skipped up to the matching `#endif`. An
//! `#else` of a conditional opened *before* the scan started (the function
//! sits in its first branch) skips to that conditional's `#endif`. This is
//! one consistent configuration, so braces balanced per branch stay
//! balanced.

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
    kinds: Vec<LineKind>,
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
            let (mut has_code, mut has_comment) = (false, state == State::Block);
            let mut j = 0;
            while j < line.len() {
                let c = line[j];
                let next = line.get(j + 1).copied();
                match state {
                    State::Block => {
                        if c == b'*' && next == Some(b'/') {
                            state = State::Code;
                            code[pos + j + 1] = b' ';
                            j += 1;
                        }
                        code[pos + j] = b' ';
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
    fn line(&self, i: usize) -> &[u8] {
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

fn trim_start(s: &[u8]) -> &[u8] {
    let k = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[k..]
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reads significant bytes of a [`Lexed`] file from a position on,
/// skipping directive lines and the conditional branches not followed.
struct Cursor<'a> {
    lx: &'a Lexed,
    line: usize,
    col: usize,
    /// Open conditionals: (branch followed now, a branch was followed).
    frames: Vec<(bool, bool)>,
    /// Lines entered so far (runaway guard).
    lines_read: usize,
}

impl<'a> Cursor<'a> {
    fn new(lx: &'a Lexed, line: usize, col: usize) -> Cursor<'a> {
        Cursor {
            lx,
            line,
            col,
            frames: Vec::new(),
            lines_read: 0,
        }
    }

    fn active(&self) -> bool {
        self.frames.iter().all(|f| f.0)
    }

    fn directive(&mut self, cond: Cond) {
        match cond {
            Cond::If => self.frames.push((true, true)),
            Cond::IfZero => self.frames.push((false, false)),
            Cond::Else => match self.frames.last_mut() {
                Some(top) => *top = (!top.1, true),
                None => self.frames.push((false, true)),
            },
            Cond::Endif => {
                self.frames.pop();
            }
            Cond::Other => {}
        }
    }

    /// Next non-whitespace byte and its 0-based line.
    fn next(&mut self) -> Option<(usize, u8)> {
        loop {
            if self.line >= self.lx.line_count() {
                return None;
            }
            let text = self.lx.line(self.line);
            if let LineKind::Directive(cond) = self.lx.kinds[self.line] {
                if self.col == 0 {
                    self.directive(cond);
                }
            } else if self.active() {
                while self.col < text.len() {
                    let c = text[self.col];
                    self.col += 1;
                    if !c.is_ascii_whitespace() {
                        return Some((self.line, c));
                    }
                }
            }
            self.line += 1;
            self.col = 0;
            self.lines_read += 1;
        }
    }

    /// Byte at the cursor without consuming it (whitespace skipped).
    fn peek(&mut self) -> Option<u8> {
        let (_, c) = self.next()?;
        // `next` leaves the cursor just after the byte, on its line.
        self.col -= 1;
        Some(c)
    }

    /// After an opening `open`, consume up to its matching `close`;
    /// returns the 0-based line of the closer and the bytes in between.
    fn close(&mut self, open: u8, close: u8, keep: bool) -> Option<(usize, Vec<u8>)> {
        let mut depth = 1usize;
        let mut inner = Vec::new();
        loop {
            let before = (self.line, self.col);
            let (line, c) = self.next()?;
            if keep && (line, self.col - 1) != before {
                inner.push(b' ');
            }
            if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    return Some((line, inner));
                }
            }
            if keep {
                inner.push(c);
            }
        }
    }

    /// Consume the rest of an identifier whose first byte was just read.
    fn skip_ident(&mut self) {
        let text = self.lx.line(self.line.min(self.lx.line_count().saturating_sub(1)));
        while self.col < text.len() && is_ident(text[self.col]) {
            self.col += 1;
        }
    }
}

/// Why no span was found for a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The declaration line is past the end of the file.
    NoLine,
    /// Neither the name nor a macro invocation is on the line.
    NoName,
    /// A declaration (`;`, `,` or `=` after the declarator), no body.
    Declaration,
    /// The file ends before the body or invocation is closed.
    Unbalanced,
}

/// The span of one function found in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// 1-based line of the closing `}` (or `)` of a body-less macro).
    pub end: u32,
    /// `Some` for macro-generated functions, see [`macro_kind`].
    pub macro_kind: Option<&'static str>,
    /// Whether the span ends with a literal body.
    pub body: bool,
}

/// Identifiers followed by `(` that are not the macro generating a function.
const NOT_MACROS: &[&str] = &[
    "__attribute__", "__attribute", "__section", "__aligned", "__printf", "__scanf",
    "__alloc_size", "__must_hold", "__acquires", "__releases", "__diag_push",
    "if", "for", "while", "switch", "return", "sizeof", "typeof", "__typeof__",
    "defined", "asm", "__asm__",
];

/// Kind of a macro-generated function, from the macro and symbol names:
/// `syscall` (`SYSCALL_DEFINEn`, `COMPAT_SYSCALL_DEFINEn`), `trace_event`
/// (`TRACE_EVENT*`, `DEFINE_EVENT*`, `DECLARE_EVENT_CLASS*`), `bpf_call`
/// (`BPF_CALL_n`), `attribute` (a macro with `ATTR` in its name, or a
/// `*_show`/`*_store`/`show_*`/`store_*` symbol), `define` (other
/// `DEFINE_*`/`DECLARE_*` helpers) and `macro` for anything else.
pub(crate) fn macro_kind(macro_name: &str, base: &str) -> &'static str {
    let m = macro_name;
    if m.starts_with("SYSCALL_DEFINE") || m.starts_with("COMPAT_SYSCALL_DEFINE") {
        "syscall"
    } else if ["TRACE_EVENT", "DEFINE_EVENT", "DECLARE_EVENT_CLASS"]
        .iter()
        .any(|p| m.starts_with(p))
    {
        "trace_event"
    } else if m.starts_with("BPF_CALL") {
        "bpf_call"
    } else if m.contains("ATTR")
        || base.ends_with("_show")
        || base.ends_with("_store")
        || base.starts_with("show_")
        || base.starts_with("store_")
    {
        "attribute"
    } else if m.starts_with("DEFINE_") || m.starts_with("DECLARE_") {
        "define"
    } else {
        "macro"
    }
}

/// Identifiers of a blanked line with the column after each.
fn idents(line: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < line.len() {
            if is_ident(line[i]) && !line[i].is_ascii_digit() && (i == 0 || !is_ident(line[i - 1])) {
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
fn identifier_list(params: &[u8]) -> bool {
    let text = String::from_utf8_lossy(params);
    text.trim() != "void"
        && !text.trim().is_empty()
        && text.split(',').all(|p| {
            let p = p.trim();
            !p.is_empty() && p.bytes().all(is_ident) && !p.as_bytes()[0].is_ascii_digit()
        })
}

/// Find the span of the function whose name is on 1-based line `decl`
/// (see the module docs). `base` is the symbol's name up to its first `.`.
pub(crate) fn find(lx: &Lexed, decl: u32, base: &str) -> Result<Span, Miss> {
    let i = (decl as usize).checked_sub(1).ok_or(Miss::NoLine)?;
    if i >= lx.line_count() {
        return Err(Miss::NoLine);
    }
    let line = lx.line(i);
    for (word, col) in idents(line) {
        if word != base.as_bytes() {
            continue;
        }
        let mut cur = Cursor::new(lx, i, col);
        if cur.peek() == Some(b'(') {
            cur.next();
            return plain(cur);
        }
    }
    for (word, col) in idents(line) {
        let name = String::from_utf8_lossy(word);
        if NOT_MACROS.contains(&name.as_ref()) {
            continue;
        }
        let mut cur = Cursor::new(lx, i, col);
        if cur.peek() != Some(b'(') {
            continue;
        }
        cur.next();
        let kind = Some(macro_kind(&name, base));
        let (close, _) = cur.close(b'(', b')', false).ok_or(Miss::Unbalanced)?;
        if cur.peek() == Some(b'{') {
            cur.next();
            let (end, _) = cur.close(b'{', b'}', false).ok_or(Miss::Unbalanced)?;
            return Ok(span(end, kind, true));
        }
        return Ok(span(close, kind, false));
    }
    Err(Miss::NoName)
}

fn span(line: usize, macro_kind: Option<&'static str>, body: bool) -> Span {
    Span {
        end: u32::try_from(line + 1).unwrap_or(u32::MAX),
        macro_kind,
        body,
    }
}

/// A plain definition, the cursor just past the `(` of its parameter list.
fn plain(mut cur: Cursor<'_>) -> Result<Span, Miss> {
    let (_, params) = cur.close(b'(', b')', true).ok_or(Miss::Unbalanced)?;
    let knr = identifier_list(&params);
    let mut tokens = 0;
    while let Some((_, c)) = cur.next() {
        tokens += 1;
        if tokens > 200 || cur.lines_read > 60 {
            break;
        }
        match c {
            b'{' => {
                let (end, _) = cur.close(b'{', b'}', false).ok_or(Miss::Unbalanced)?;
                return Ok(span(end, None, true));
            }
            b';' if knr => {}
            b';' | b',' | b'=' | b'}' => return Err(Miss::Declaration),
            b'(' => {
                cur.close(b'(', b')', false).ok_or(Miss::Unbalanced)?;
            }
            c if is_ident(c) => cur.skip_ident(),
            _ => {}
        }
    }
    Err(Miss::Unbalanced)
}
