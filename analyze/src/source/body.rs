//! Function bodies in C source text: the span finder.
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
//!   invocation's closing `)`. When another `(` follows, the macro yields
//!   the function's name (`int LZO_SAFE(lzo1x_1_compress)(...) {`) and the
//!   rest is read as a plain definition. Either way the function is flagged
//!   with a macro kind, see [`macro_kind`]; a lower-case "macro" directly
//!   heading a body is the function itself under another spelling (`#define
//!   do_epoll_pwait do_compat_epoll_pwait`) and is flagged `renamed`.
//!
//! **Conditionals.** Preprocessor lines never count braces. Inside the scan
//! only one branch of each `#if`/`#ifdef`/`#ifndef` is read: the first one,
//! except after `#if 0`, where the next branch is read instead. Later
//! `#elif`/`#else` branches are skipped up to the matching `#endif`. An
//! `#else` of a conditional opened *before* the scan started (the function
//! sits in its first branch) skips to that conditional's `#endif`. This is
//! one consistent configuration, so braces balanced per branch stay
//! balanced.

use super::lex::{identifier_list, idents, is_ident, Cond, Lexed, LineKind};

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
        let text = self
            .lx
            .line(self.line.min(self.lx.line_count().saturating_sub(1)));
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
    "__attribute__",
    "__attribute",
    "__section",
    "__aligned",
    "__printf",
    "__scanf",
    "__alloc_size",
    "__must_hold",
    "__acquires",
    "__releases",
    "__diag_push",
    "if",
    "for",
    "while",
    "switch",
    "return",
    "sizeof",
    "typeof",
    "__typeof__",
    "defined",
    "asm",
    "__asm__",
];

/// Functions the tracepoint machinery generates for each event or class.
const TRACE_PREFIXES: &[&str] = &[
    "__traceiter_",
    "trace_event_raw_event_",
    "perf_trace_",
    "trace_raw_output_",
    "__bpf_trace_",
    "trace_event_get_offsets_",
];

/// Kind of a macro-generated function, from the macro and symbol names:
/// `syscall` (`SYSCALL_DEFINEn`, `COMPAT_SYSCALL_DEFINEn`, `COND_SYSCALL`
/// stubs), `trace_event` (`TRACE_EVENT*`, `DEFINE_EVENT*`,
/// `DECLARE_EVENT_CLASS*`, or any wrapper generating `__traceiter_*`,
/// `perf_trace_*`, ... functions), `bpf_call`
/// (`BPF_CALL_n`), `attribute` (a macro with `ATTR` in its name, or a
/// `*_show`/`*_store`/`show_*`/`store_*` symbol), `define` (other
/// `DEFINE_*`/`DECLARE_*` helpers) and `macro` for anything else.
pub(crate) fn macro_kind(macro_name: &str, base: &str) -> &'static str {
    let m = macro_name;
    if ["SYSCALL_DEFINE", "COMPAT_SYSCALL_DEFINE", "COND_SYSCALL"]
        .iter()
        .any(|p| m.starts_with(p))
    {
        "syscall"
    } else if ["TRACE_EVENT", "DEFINE_EVENT", "DECLARE_EVENT_CLASS"]
        .iter()
        .any(|p| m.starts_with(p))
        || TRACE_PREFIXES.iter().any(|p| base.starts_with(p))
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

/// Find the span of the function whose name is on 1-based line `decl`
/// (see the module docs). `base` is the symbol's name up to its first `.`.
pub(crate) fn find(lx: &Lexed, decl: u32, base: &str) -> Result<Span, Miss> {
    let kind = lx.kind(decl).ok_or(Miss::NoLine)?;
    if matches!(kind, LineKind::Directive(_)) {
        return Err(Miss::NoName);
    }
    let i = decl as usize - 1;
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
        let (close, _) = cur.close(b'(', b')', false).ok_or(Miss::Unbalanced)?;
        match cur.peek() {
            Some(b'{') => {
                // A lower-case "macro" heading a body is the function
                // itself, spelled under another name.
                let lower = word.iter().any(u8::is_ascii_lowercase);
                let kind = if lower {
                    "renamed"
                } else {
                    macro_kind(&name, base)
                };
                cur.next();
                let (end, _) = cur.close(b'{', b'}', false).ok_or(Miss::Unbalanced)?;
                return Ok(span(end, Some(kind), true));
            }
            // `LZO_SAFE(name)(params) {`: the macro yields the name.
            Some(b'(') => {
                cur.next();
                let found = plain(cur)?;
                return Ok(Span {
                    macro_kind: Some(macro_kind(&name, base)),
                    ..found
                });
            }
            _ => return Ok(span(close, Some(macro_kind(&name, base)), false)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(src: &str, line: u32, name: &str) -> Result<(u32, Option<&'static str>, bool), Miss> {
        find(&Lexed::new(src), line, name).map(|s| (s.end, s.macro_kind, s.body))
    }

    #[test]
    fn kernel_style_declarator_over_lines() {
        let src = "\
static ssize_t
foo(struct file *file,
    char __user *buf)  /* ) { */
{
\tif (x) {
\t\treturn 1;
\t}
\treturn 0;
}
int bar;
";
        assert_eq!(at(src, 2, "foo"), Ok((9, None, true)));
        // Another name at the line: the function spelled under another
        // name (`#define bar foo`).
        assert_eq!(at(src, 2, "bar"), Ok((9, Some("renamed"), true)));
        assert_eq!(at(src, 1, "foo"), Err(Miss::NoName));
        assert_eq!(at(src, 99, "foo"), Err(Miss::NoLine));
    }

    #[test]
    fn old_style_parameter_declarations() {
        let src = "int\nadd(a, b)\n\tint a;\n\tint b;\n{\n\treturn a + b;\n}\n";
        assert_eq!(at(src, 2, "add"), Ok((7, None, true)));
        // A prototype is not a definition.
        let proto = "int add(int a, int b);\nint add(int a, int b) { return a + b; }\n";
        assert_eq!(at(proto, 1, "add"), Err(Miss::Declaration));
        assert_eq!(at(proto, 2, "add"), Ok((2, None, true)));
    }

    #[test]
    fn braces_in_comments_strings_and_chars() {
        let src = r#"void f(void)
{
	/* { { { */
	// }
	char c = '{', d = '\'', e = '}';
	puts("}\"}");
	if (c) { g(); }
}
"#;
        assert_eq!(at(src, 1, "f"), Ok((8, None, true)));
    }

    #[test]
    fn one_line_function_and_attributes() {
        let src = "static inline int one(void) { return 1; }\n\
void two(spinlock_t *l) __acquires(l) __attribute__((cold))\n{\n}\n";
        assert_eq!(at(src, 1, "one"), Ok((1, None, true)));
        assert_eq!(at(src, 2, "two"), Ok((4, None, true)));
    }

    #[test]
    fn ifdef_with_braces_in_both_branches() {
        let src = "\
int f(int x)
{
#ifdef CONFIG_A
\tif (x) {
#else
\tif (!x) {
#endif
\t\tx++;
\t}
#if 0
\t}
#else
\treturn x;
#endif
}
";
        // First branch of #ifdef, the #else of #if 0: 15.
        assert_eq!(at(src, 1, "f"), Ok((15, None, true)));
        // The function sits in the first branch of an outer conditional.
        let outer =
            "#ifdef A\nint g(void) {\n\treturn 1;\n#else\nint g(void) {\n\treturn 0;\n#endif\n}\n";
        assert_eq!(at(outer, 2, "g"), Ok((8, None, true)));
    }

    #[test]
    fn syscall_define_heads_a_body() {
        let src = "\
SYSCALL_DEFINE3(read, unsigned int, fd, char __user *, buf,
\t\tsize_t, count)
{
\treturn ksys_read(fd, buf, count);
}
";
        for sym in ["__x64_sys_read", "__se_sys_read", "__do_sys_read"] {
            assert_eq!(at(src, 1, sym), Ok((5, Some("syscall"), true)));
        }
    }

    #[test]
    fn macros_without_a_body() {
        let src = "\
DECLARE_EVENT_CLASS(sched_wakeup_template,

\tTP_PROTO(struct task_struct *p),

\tTP_ARGS(__perf_task(p)),

\tTP_printk(\"comm=%s\", __print_flags(f, \"|\", { 1, \")\" }))
);

DEFINE_EVENT(sched_wakeup_template, sched_waking,
\t     TP_PROTO(struct task_struct *p),
\t     TP_ARGS(p));

static DEVICE_ATTR_RO(state);
PMU_FORMAT_ATTR(event, \"config:0-7\");
DEFINE_SHOW_ATTRIBUTE(stats);
BPF_CALL_2(bpf_get, int, a, int, b)
{
\treturn a + b;
}
module_param_cb(x, &ops, &x, 0644)
DEFINE_IDTENTRY_RAW(exc_int3)
{
}
static int LZO_SAFE(lzo1x_1_compress)(const unsigned char *in,
\t\tsize_t in_len) __cold
{
\treturn 0;
}
COND_SYSCALL(io_uring_setup);
";
        let ev = Some("trace_event");
        assert_eq!(
            at(src, 1, "trace_event_raw_event_sched_wakeup_template"),
            Ok((8, ev, false))
        );
        assert_eq!(at(src, 10, "perf_trace_sched_waking"), Ok((12, ev, false)));
        assert_eq!(
            at(src, 14, "state_show"),
            Ok((14, Some("attribute"), false))
        );
        assert_eq!(
            at(src, 15, "event_show"),
            Ok((15, Some("attribute"), false))
        );
        assert_eq!(
            at(src, 16, "stats_open"),
            Ok((16, Some("attribute"), false))
        );
        assert_eq!(at(src, 22, "exc_int3"), Ok((24, Some("define"), true)));
        assert_eq!(at(src, 17, "bpf_get"), Ok((20, Some("bpf_call"), true)));
        assert_eq!(at(src, 21, "x_set"), Ok((21, Some("macro"), false)));
        assert_eq!(
            at(src, 25, "lzo1x_1_compress_safe"),
            Ok((29, Some("macro"), true))
        );
        assert_eq!(
            at(src, 30, "__x64_sys_io_uring_setup"),
            Ok((30, Some("syscall"), false))
        );
        assert_eq!(at(src, 2, "x"), Err(Miss::NoName));
        // A wrapper of DEFINE_EVENT (include/trace/events/xen.h).
        assert_eq!(
            macro_kind("DEFINE_XEN_MC_BATCH", "__traceiter_xen_mc_batch"),
            "trace_event"
        );
        assert_eq!(macro_kind("DEFINE_XEN_MC_BATCH", "xen_mc_batch"), "define");
    }

    #[test]
    fn unbalanced_and_odd_input() {
        assert_eq!(
            at("int f(void) {\n\treturn 0;\n", 1, "f"),
            Err(Miss::Unbalanced)
        );
        assert_eq!(at("int f(void\n", 1, "f"), Err(Miss::Unbalanced));
        assert_eq!(at("#define f(x) { x }\n", 1, "f"), Err(Miss::NoName));
        assert_eq!(at("", 1, "f"), Err(Miss::NoLine));
        assert_eq!(at("x", 0, "f"), Err(Miss::NoLine));
        for junk in [
            "{{{{",
            "}}}}",
            "\"",
            "'",
            "/*",
            "f(",
            "f()",
            "f() }",
            "\u{0}f(){",
        ] {
            let _ = at(junk, 1, "f");
        }
    }

    #[test]
    fn random_input_never_panics() {
        let alphabet: &[&str] = &[
            "f",
            "(",
            ")",
            "{",
            "}",
            ";",
            ",",
            "=",
            "\"",
            "'",
            "\\",
            "/*",
            "*/",
            "//",
            "\n",
            "#if 0\n",
            "#ifdef X\n",
            "#else\n",
            "#elif Y\n",
            "#endif\n",
            "#define M \\\n",
            " ",
            "\t",
            "int ",
            "SYSCALL_DEFINE1",
            "\r\n",
            "é",
            "\u{0}",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..500 {
            let mut src = String::new();
            for _ in 0..80 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                src.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let lx = Lexed::new(&src);
            for line in 0..=lx.line_count() as u32 + 1 {
                if let Ok(span) = find(&lx, line, "f") {
                    assert!(
                        span.end >= line && span.end as usize <= lx.line_count(),
                        "{src:?}"
                    );
                }
                assert!(lx.nloc(line, line + 3) <= 4);
            }
        }
    }
}
