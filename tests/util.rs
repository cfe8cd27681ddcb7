//! Shared helpers: where things are, how to run `hap`, and the awk oracle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference kernel's debug vmlinux (Debian 12, 6.1.0-57-cloud-amd64).
pub const VMLINUX_61: &str = "/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64";

/// The second kernel, for version diffs (Debian 12, 6.12.117+deb12-cloud-amd64).
pub const VMLINUX_612: &str = "/usr/lib/debug/boot/vmlinux-6.12.117+deb12-cloud-amd64";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// `../shared/traces`; a missing directory fails the test (CI must not skip).
pub fn shared_traces() -> PathBuf {
    let p = root().join("..").join("shared").join("traces");
    assert!(
        p.is_dir(),
        "{} is missing: the end-to-end tests need ../shared (see README)",
        p.display()
    );
    p
}

/// The reference vmlinux; missing fails the test with the setup command.
pub fn vmlinux() -> PathBuf {
    let p = PathBuf::from(VMLINUX_61);
    assert!(p.is_file(), "{VMLINUX_61} is missing: run scripts/setup.sh (installs linux-image-6.1.0-57-cloud-amd64-dbg)");
    p
}

/// The symbol cache of this test binary's `hap` runs.
pub fn cache_dir() -> PathBuf {
    std::env::temp_dir().join(format!("hap-test-cache-{}", std::process::id()))
}

/// Run `hap` with `args`; the symbol cache goes to [`cache_dir`].
pub fn hap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hap"))
        .args(args)
        .env("HAP_CACHE_DIR", cache_dir())
        .output()
        .expect("run hap")
}

/// Run `hap`, assert success, return stdout.
pub fn hap_ok(args: &[&str]) -> String {
    let out = hap(args);
    assert!(
        out.status.success(),
        "hap {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// `hap analyze TRACES… --vmlinux (6.1) --json -o OUT EXTRA…`, its JSON parsed.
pub fn analyze_into(traces: &[&Path], out: &Path, extra: &[&str]) -> serde_json::Value {
    let vm = vmlinux();
    let mut args = vec!["analyze"];
    args.extend(traces.iter().map(|t| t.to_str().unwrap()));
    args.extend([
        "--vmlinux",
        vm.to_str().unwrap(),
        "--json",
        "-o",
        out.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    serde_json::from_str(&hap_ok(&args)).expect("json")
}

/// `hap analyze --json` parsed.
pub fn analyze_json(trace: &Path, extra: &[&str]) -> serde_json::Value {
    let vm = vmlinux();
    let mut args = vec![
        "analyze",
        trace.to_str().unwrap(),
        "--vmlinux",
        vm.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&hap_ok(&args)).expect("json")
}

fn shell(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cat_command(path: &Path) -> String {
    let p = path.display();
    match path.extension().and_then(|e| e.to_str()) {
        Some("zst") => format!("zstdcat '{p}'"),
        Some("gz") => format!("zcat '{p}'"),
        _ => format!("cat '{p}'"),
    }
}

/// The independent count: distinct function names of non-idle tasks, by
/// awk and `sort -u`. Handles ftrace text (`name <-parent`) and trace-cmd
/// report (`function: name`) bodies; other events (trace markers) are not functions.
pub fn awk_unique_functions(path: &Path) -> usize {
    let awk = r#"!/^#/ && !/^cpus=/ && NF {
        if (!match($0, /[0-9]+\.[0-9]+: /)) next
        head = substr($0, 1, RSTART - 1); rest = substr($0, RSTART + RLENGTH)
        if (head ~ /-0 +(\[|[0-9])/) next
        split(rest, p, " "); name = p[1]
        if (name == "function:") name = p[2]; else if (name ~ /:$/) next
        print name
    }"#;
    let out = shell(&format!(
        "{} | awk '{awk}' | sort -u | wc -l",
        cat_command(path)
    ));
    out.trim().parse().unwrap()
}

/// Independent count of event lines (a timestamp followed by ": ").
pub fn grep_event_lines(path: &Path) -> usize {
    let out = shell(&format!(
        "{} | grep -v '^#' | grep -cE '[0-9]+\\.[0-9]+: '",
        cat_command(path)
    ));
    out.trim().parse().unwrap()
}

/// The independent count for function_graph text: distinct names of entry
/// lines (`name() {` or `name();`, `name [module]()` for modules) of non-idle
/// tasks, by awk and `sort -u`.
pub fn awk_unique_graph_functions(path: &Path) -> usize {
    let awk = r#"NF >= 3 && !/^#/ && !/<idle>-0/ {
        f = $NF
        if (f ~ /\(\) \{$/ || f ~ /\(\);$/) { gsub(/^ +/, "", f); sub(/\(\).*/, "", f); print f }
    }"#;
    let out = shell(&format!(
        "{} | awk -F'|' '{awk}' | sort -u | wc -l",
        cat_command(path)
    ));
    out.trim().parse().unwrap()
}

/// Independent count of non-idle events whose irq-info flags mark interrupt
/// context (third flag character h, H, s, z or Z).
pub fn grep_irq_events(path: &Path) -> u64 {
    let out = shell(&format!(
        "{} | grep -v '^#' | grep -v -- '-0 *\\[' | grep -cE '\\] [.dDbX][^ ][hHszZ]' || true",
        cat_command(path)
    ));
    out.trim().parse().unwrap()
}
