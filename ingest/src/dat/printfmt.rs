//! A small interpreter for an event's `print fmt:`, enough to render the
//! bodies of simple events (`print`, `bputs`, most tracepoints with scalar
//! and string fields) the way `trace-cmd report` shows them.
//!
//! Supported arguments: `REC->field`, casts of them (`(void *)REC->ip`),
//! `__get_str(field)`/`__get_rel_str(field)` and integer literals. Supported
//! conversions: `%d %i %u %x %X %o %c %s %p`, with flags, width, precision
//! and `h`/`l`/`z` length modifiers, and `%ps %pS %pf %pF %pB` (symbol
//! names). Anything else makes [`PrintFmt::render`] return `false` and the
//! caller falls back to a `name=value` dump of the fields.

use std::fmt::Write as _;

use super::format::{EventFormat, FieldKind};
use super::kallsyms::{Kallsyms, NO_SYM};
pub(crate) use super::printk::Printk;

/// An argument expression.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Arg {
    /// A field's value (index into the event's fields).
    Field(usize),
    /// A dynamic or array string field (`__get_str`).
    Str(usize),
    /// An integer literal.
    Num(i64),
}

/// One piece of a compiled format string.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Spec(Spec),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: Option<usize>,
    precision: Option<usize>,
    /// Length modifier bits: 8, 16, 32 or 64.
    bits: u32,
    conv: char,
    /// `%p` extension letter (`s`, `S`, `f`, `F`, `B`, ...).
    ext: Option<char>,
}

/// A compiled `print fmt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrintFmt {
    pieces: Vec<Piece>,
    args: Vec<Arg>,
}

/// Lookups a print format may need.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    /// File byte order.
    pub big_endian: bool,
    /// Symbols for `%ps` and friends.
    pub kallsyms: &'a Kallsyms,
    /// printk format strings by address (for `%s` of a kernel string pointer).
    pub printk: &'a Printk,
}

/// Split `s` at top-level commas (outside quotes and parentheses).
fn split_args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut esc, mut start) = (0i32, None::<char>, false, 0usize);
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// Parse the quoted format string(s) at the start of `s`; returns the string
/// (escapes resolved) and the rest.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut rest = s.trim_start();
    let mut any = false;
    while let Some(body) = rest.strip_prefix('"') {
        any = true;
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, o)) => {
                        out.push('\\');
                        out.push(o);
                    }
                    None => return None,
                },
                _ => out.push(c),
            }
        }
        let end = end?;
        rest = body[end + 1..].trim_start();
    }
    any.then_some((out, rest))
}

/// The widest field width or precision a print format may ask for.
const MAX_WIDTH: usize = 4096;

fn parse_pieces(fmt: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        if it.peek() == Some(&'%') {
            it.next();
            text.push('%');
            continue;
        }
        let mut sp = Spec {
            bits: 32,
            ..Spec::default()
        };
        while let Some(&f) = it.peek() {
            match f {
                '-' => sp.left = true,
                '0' => sp.zero = true,
                '+' => sp.plus = true,
                ' ' => sp.space = true,
                '#' => sp.alt = true,
                _ => break,
            }
            it.next();
        }
        let num = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut v: Option<usize> = None;
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                v = Some(v.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                it.next();
            }
            v
        };
        sp.width = num(&mut it);
        if it.peek() == Some(&'.') {
            it.next();
            sp.precision = Some(num(&mut it).unwrap_or(0));
        }
        // A width or precision no kernel format uses would make every event
        // allocate that much (found by fuzzing): show the raw fields instead.
        if sp.width.max(sp.precision).is_some_and(|n| n > MAX_WIDTH) {
            return None;
        }
        loop {
            match it.peek() {
                Some('h') => {
                    sp.bits = if sp.bits == 16 { 8 } else { 16 };
                }
                Some('l') | Some('z') | Some('L') | Some('j') | Some('t') => sp.bits = 64,
                _ => break,
            }
            it.next();
        }
        let conv = it.next()?;
        if !matches!(conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 's' | 'p') {
            return None;
        }
        sp.conv = conv;
        if conv == 'p' {
            if let Some(&e) = it.peek() {
                if e.is_ascii_alphabetic() {
                    sp.ext = Some(e);
                    it.next();
                    // %pI4, %pISpc ...: swallow trailing modifier letters/digits.
                    if !matches!(e, 's' | 'S' | 'f' | 'F' | 'B') {
                        while it.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                            it.next();
                        }
                    }
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Spec(sp));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Some(pieces)
}

/// Strip balanced outer parentheses and leading casts: `((void *)REC->ip)` → `REC->ip`.
fn strip_casts(mut e: &str) -> &str {
    loop {
        let t = e.trim();
        if let Some(inner) = t.strip_prefix('(') {
            // Find the matching close paren of the leading '('.
            let mut depth = 1;
            let mut close = None;
            for (i, c) in inner.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(close) = close else { return t };
            let group = &inner[..close];
            let after = inner[close + 1..].trim();
            if after.is_empty() {
                e = group; // (expr)
                continue;
            }
            let is_type = group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '*');
            if is_type {
                e = after; // (type) expr
                continue;
            }
            return t;
        }
        return t;
    }
}

fn parse_arg(e: &str, ev: &EventFormat) -> Option<Arg> {
    let e = strip_casts(e);
    let idx = |name: &str| ev.fields.iter().position(|f| f.name == name.trim());
    if let Some(name) = e.strip_prefix("REC->") {
        return idx(name).map(Arg::Field);
    }
    for f in ["__get_str(", "__get_rel_str("] {
        if let Some(inner) = e.strip_prefix(f).and_then(|r| r.strip_suffix(')')) {
            return idx(inner).map(Arg::Str);
        }
    }
    let (neg, digits) = match e.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, e),
    };
    let v = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(Arg::Num(if neg { -v } else { v }))
}

impl PrintFmt {
    /// Compile the `print fmt:` text of `ev`. `None` if it uses something unsupported.
    pub fn compile(ev: &EventFormat) -> Option<PrintFmt> {
        let text = ev.print_fmt.as_deref()?;
        let (fmt, rest) = parse_quoted(text)?;
        let pieces = parse_pieces(&fmt)?;
        let rest = rest.trim();
        let args: Vec<Arg> = if rest.is_empty() {
            Vec::new()
        } else {
            let rest = rest.strip_prefix(',')?;
            split_args(rest)
                .into_iter()
                .map(|a| parse_arg(a, ev))
                .collect::<Option<_>>()?
        };
        let specs = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Spec(_)))
            .count();
        if specs != args.len() {
            return None;
        }
        Some(PrintFmt { pieces, args })
    }

    /// Render the body of a record (`data` is the payload) into `out`.
    /// Returns false (with `out` in an unspecified state) if a value cannot be shown.
    pub fn render(&self, ev: &EventFormat, data: &[u8], cx: &Ctx<'_>, out: &mut String) -> bool {
        let mut args = self.args.iter();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Spec(sp) => {
                    let Some(arg) = args.next() else { return false };
                    if !render_one(sp, arg, ev, data, cx, out) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

fn pad(out: &mut String, sp: &Spec, body: &str, sign_prefix_len: usize) {
    let w = sp.width.unwrap_or(0);
    let len = body.chars().count();
    if len >= w {
        out.push_str(body);
    } else if sp.left {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', w - len));
    } else if sp.zero && sp.conv != 's' && sp.conv != 'c' && sp.precision.is_none() {
        out.push_str(&body[..sign_prefix_len]);
        out.extend(std::iter::repeat_n('0', w - len));
        out.push_str(&body[sign_prefix_len..]);
    } else {
        out.extend(std::iter::repeat_n(' ', w - len));
        out.push_str(body);
    }
}

fn value(arg: &Arg, ev: &EventFormat, data: &[u8], big: bool) -> Option<(u64, bool)> {
    match arg {
        Arg::Num(n) => Some((*n as u64, true)),
        Arg::Field(i) | Arg::Str(i) => {
            let f = &ev.fields[*i];
            if f.kind != FieldKind::Scalar {
                return None;
            }
            if f.signed {
                f.int(data, big).map(|v| (v as u64, true))
            } else {
                f.uint(data, big).map(|v| (v, false))
            }
        }
    }
}

fn render_one(
    sp: &Spec,
    arg: &Arg,
    ev: &EventFormat,
    data: &[u8],
    cx: &Ctx<'_>,
    out: &mut String,
) -> bool {
    let big = cx.big_endian;
    match sp.conv {
        's' => {
            let text: String = match arg {
                Arg::Field(i) | Arg::Str(i) => {
                    let f = &ev.fields[*i];
                    if f.kind == FieldKind::Scalar {
                        // A pointer to a constant kernel string.
                        let Some(addr) = f.uint(data, big) else {
                            return false;
                        };
                        match cx.printk.get(addr) {
                            Some(s) => s.to_string(),
                            None => format!("{addr:x}"),
                        }
                    } else {
                        let Some(b) = f.str_bytes(data, big) else {
                            return false;
                        };
                        String::from_utf8_lossy(b).into_owned()
                    }
                }
                Arg::Num(n) => n.to_string(),
            };
            let t: String = match sp.precision {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            };
            pad(out, sp, &t, 0);
            true
        }
        'p' => {
            let Some((v, _)) = value(arg, ev, data, big) else {
                return false;
            };
            let mut body = String::new();
            let sym = matches!(sp.ext, Some('s' | 'S' | 'f' | 'F' | 'B'));
            let i = if sym { cx.kallsyms.lookup(v) } else { NO_SYM };
            if i != NO_SYM {
                body.push_str(cx.kallsyms.name(i).unwrap_or(""));
                if sp.ext == Some('F') {
                    let start = cx.kallsyms.addr(i).unwrap_or(v);
                    let _ = write!(body, "+0x{:x}", v.wrapping_sub(start));
                }
            } else if v == 0 {
                body.push_str("(nil)");
            } else {
                let _ = write!(body, "0x{v:x}");
            }
            pad(out, sp, &body, 0);
            true
        }
        'c' => {
            let Some((v, _)) = value(arg, ev, data, big) else {
                return false;
            };
            let c = char::from(v as u8);
            pad(out, sp, &c.to_string(), 0);
            true
        }
        conv => {
            let Some((raw, signed_src)) = value(arg, ev, data, big) else {
                return false;
            };
            let mask = if sp.bits >= 64 {
                u64::MAX
            } else {
                (1u64 << sp.bits) - 1
            };
            let mut body = String::new();
            let mut prefix = 0;
            match conv {
                'd' | 'i' => {
                    let v: i64 = match sp.bits {
                        8 => raw as i8 as i64,
                        16 => raw as i16 as i64,
                        32 => raw as i32 as i64,
                        _ => raw as i64,
                    };
                    let _ = signed_src;
                    if v < 0 {
                        body.push('-');
                    } else if sp.plus {
                        body.push('+');
                    } else if sp.space {
                        body.push(' ');
                    }
                    prefix = body.len();
                    let digits = v.unsigned_abs().to_string();
                    push_precision(&mut body, &digits, sp.precision);
                }
                'u' => push_precision(&mut body, &(raw & mask).to_string(), sp.precision),
                'x' | 'X' | 'o' => {
                    let v = raw & mask;
                    let digits = match conv {
                        'x' => format!("{v:x}"),
                        'X' => format!("{v:X}"),
                        _ => format!("{v:o}"),
                    };
                    if sp.alt && v != 0 {
                        body.push_str(match conv {
                            'x' => "0x",
                            'X' => "0X",
                            _ => "0",
                        });
                        prefix = body.len();
                    }
                    push_precision(&mut body, &digits, sp.precision);
                }
                _ => return false,
            }
            pad(out, sp, &body, prefix);
            true
        }
    }
}

fn push_precision(body: &mut String, digits: &str, precision: Option<usize>) {
    if let Some(p) = precision {
        if digits == "0" && p == 0 {
            return;
        }
        for _ in digits.len()..p {
            body.push('0');
        }
    }
    body.push_str(digits);
}

/// Fallback body: `name=value` for every non-common field.
pub(crate) fn raw_fields(ev: &EventFormat, data: &[u8], big: bool, out: &mut String) {
    let mut first = true;
    for f in ev.fields.iter().filter(|f| !f.common) {
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(&f.name);
        out.push('=');
        if f.is_string() {
            if let Some(b) = f.str_bytes(data, big) {
                out.push_str(&String::from_utf8_lossy(b));
            }
        } else if f.kind == FieldKind::Scalar {
            let v = if f.signed {
                f.int(data, big).map(|v| v.to_string())
            } else {
                f.uint(data, big).map(|v| v.to_string())
            };
            out.push_str(v.as_deref().unwrap_or("?"));
        } else if let Some(b) = f.bytes(data, big) {
            out.push('{');
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "0x{x:x}");
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dat::format::parse_format;

    fn ev(fields: &str, fmt: &str) -> EventFormat {
        let text = format!(
            "name: t\nID: 9\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n{fields}\nprint fmt: {fmt}\n"
        );
        parse_format(&text, "s").unwrap()
    }

    fn render(e: &EventFormat, data: &[u8]) -> Option<String> {
        let ks =
            Kallsyms::parse(b"ffffffff81000000 T tracing_mark_write\nffffffff81000100 T next\n");
        let pk = Printk::parse(b"0xffffffff82000000 : \"hello\\n\"\n");
        let cx = Ctx {
            big_endian: false,
            kallsyms: &ks,
            printk: &pk,
        };
        let pf = PrintFmt::compile(e)?;
        let mut s = String::new();
        pf.render(e, data, &cx, &mut s).then_some(s)
    }

    #[test]
    fn print_event_body() {
        let e = ev(
            "\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:1;",
            "\"%ps: %s\", (void *)REC->ip, REC->buf",
        );
        let mut d = vec![0u8; 16];
        d[8..16].copy_from_slice(&0xffff_ffff_8100_0010u64.to_le_bytes());
        d.extend_from_slice(b"LAB-PHASE 1 start\n\0\0");
        assert_eq!(
            render(&e, &d).unwrap(),
            "tracing_mark_write: LAB-PHASE 1 start\n"
        );
    }

    #[test]
    fn numbers_and_widths() {
        let e = ev(
            "\tfield:int a;\toffset:4;\tsize:4;\tsigned:1;\n\tfield:unsigned int b;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:unsigned long c;\toffset:16;\tsize:8;\tsigned:0;",
            "\"a=%d b=%05u c=%#lx [%-4d] %%\", REC->a, REC->b, REC->c, 7",
        );
        let mut d = vec![0u8; 24];
        d[4..8].copy_from_slice(&(-3i32).to_le_bytes());
        d[8..12].copy_from_slice(&42u32.to_le_bytes());
        d[16..24].copy_from_slice(&0xbeefu64.to_le_bytes());
        assert_eq!(render(&e, &d).unwrap(), "a=-3 b=00042 c=0xbeef [7   ] %");
    }

    /// fuzz/artifacts crash-5492a25d: `%99999999999999999999d` made every
    /// rendering allocate usize::MAX bytes; such a format is not compiled.
    #[test]
    fn absurd_widths_are_not_compiled() {
        for fmt in ["\"%99999999999999999999d\", REC->a", "\"%.5000u\", REC->a"] {
            let e = ev("\tfield:int a;\toffset:4;\tsize:4;\tsigned:1;", fmt);
            assert!(PrintFmt::compile(&e).is_none(), "{fmt}");
        }
        let e = ev(
            "\tfield:int a;\toffset:4;\tsize:4;\tsigned:1;",
            "\"%4096d\", REC->a",
        );
        assert_eq!(render(&e, &[0; 8]).unwrap().len(), 4096);
    }

    #[test]
    fn unsupported_falls_back() {
        let e = ev(
            "\tfield:u16 x;\toffset:2;\tsize:2;\tsigned:0;\n\tfield:u32 y;\toffset:4;\tsize:4;\tsigned:0;",
            "\"%llu\", (((u64)(REC)->x << 32) | (REC)->y)",
        );
        assert!(render(&e, &[0u8; 8]).is_none());
        let mut s = String::new();
        raw_fields(&e, &[0, 0, 5, 0, 6, 0, 0, 0], false, &mut s);
        assert_eq!(s, "x=5 y=6");
        // a printk string by address
        let e = ev(
            "\tfield:unsigned long str;\toffset:8;\tsize:8;\tsigned:0;",
            "\"%s\", REC->str",
        );
        let mut d = vec![0u8; 16];
        d[8..].copy_from_slice(&0xffff_ffff_8200_0000u64.to_le_bytes());
        assert_eq!(render(&e, &d).unwrap(), "hello");
    }
}
