//! The deployment files of the `production` example (`examples/deploy/`)
//! agree with the program they deploy: its shutdown timeout and health port
//! (`examples::production`), and the protocol the supervisor speaks (a
//! `Type=notify` unit with a watchdog; probes on `/readyz` and `/livez`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use examples::production::{API_PORT, HEALTH_PORT, SHUTDOWN_TIMEOUT};

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

// ---------------------------------------------------------------- systemd

/// The `Key=Value` settings of one `[section]` of a unit file (a key given
/// twice is a test failure: the file should say each thing once).
fn unit_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            continue;
        }
        if current != section {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a setting: {line:?}"));
        let previous = settings.insert(key.trim().to_string(), value.trim().to_string());
        assert!(previous.is_none(), "`{key}` is set twice in [{section}]");
    }
    settings
}

/// A systemd time span as the unit writes it (`30s`, `1min 30s`).
fn span(value: &str) -> Duration {
    humantime::parse_duration(value).unwrap_or_else(|err| panic!("{value:?}: {err}"))
}

#[test]
fn the_systemd_unit_fits_the_program() {
    let unit = read("production.service");
    let service = unit_section(&unit, "Service");
    let setting = |key: &str| -> &str {
        service
            .get(key)
            .unwrap_or_else(|| panic!("[Service] has no {key}=:\n{unit}"))
    };

    // The program tells systemd when it is ready and feeds the watchdog
    // from its main process.
    assert_eq!(setting("Type"), "notify");
    assert_eq!(setting("NotifyAccess"), "main");
    let watchdog = span(setting("WatchdogSec"));
    assert!(
        watchdog >= Duration::from_secs(2),
        "WatchdogSec={watchdog:?}: pinged every half of it, from a loop that also does other work"
    );

    // SIGTERM starts the graceful stop; systemd waits longer than the
    // program's own shutdown timeout before it kills.
    assert_eq!(setting("KillSignal"), "SIGTERM");
    let stop = span(setting("TimeoutStopSec"));
    assert!(
        stop > SHUTDOWN_TIMEOUT,
        "TimeoutStopSec={stop:?} must be above the shutdown timeout {SHUTDOWN_TIMEOUT:?}"
    );

    // Exit code 1 (a service failed or was aborted) and a missed watchdog
    // restart it; exit code 0 after a clean stop does not.
    assert_eq!(setting("Restart"), "on-failure");
    assert!(setting("ExecStart").ends_with("/production"), "{unit}");
}

// ---------------------------------------------------------------- Kubernetes

/// A YAML document flattened to `(path, value)` pairs, paths of keys joined
/// by `.`; an item of a list adds no key of its own (`containers.name`).
/// Enough for the manifest's block style: one `key: value` per line,
/// `- ` for list items, no flow collections or multi-line strings.
fn flatten_yaml(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    // The keys above the current line, with the column each starts at.
    let mut stack: Vec<(usize, String)> = Vec::new();
    for raw in text.lines() {
        let content = raw.split(" #").next().unwrap_or_default().trim_end();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let mut column = content.len() - content.trim_start().len();
        let mut rest = content.trim_start();
        while let Some(item) = rest.strip_prefix("- ") {
            column += 2;
            rest = item;
        }
        let (key, value) = rest
            .split_once(':')
            .unwrap_or_else(|| panic!("not a `key: value` line: {raw:?}"));
        stack.retain(|(at, _)| *at < column);
        let path = stack
            .iter()
            .map(|(_, k)| k.as_str())
            .chain([key.trim()])
            .collect::<Vec<_>>()
            .join(".");
        let value = value.trim();
        if value.is_empty() {
            stack.push((column, key.trim().to_string()));
        } else {
            pairs.push((path, value.trim_matches('"').to_string()));
        }
    }
    pairs
}

/// The values at `path`, in the order they appear.
fn values<'a>(pairs: &'a [(String, String)], path: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_kubernetes_manifest_fits_the_program() {
    let manifest = read("production.yaml");
    let yaml = flatten_yaml(&manifest);
    let one = |path: &str| -> &str {
        match values(&yaml, path)[..] {
            [value] => value,
            ref found => panic!("{path}: expected one value, found {found:?}"),
        }
    };
    assert_eq!(one("kind"), "Deployment");

    // Kubernetes waits this long after SIGTERM before SIGKILL.
    let grace: u64 = one("spec.template.spec.terminationGracePeriodSeconds")
        .parse()
        .expect("a number of seconds");
    assert!(
        Duration::from_secs(grace) > SHUTDOWN_TIMEOUT,
        "terminationGracePeriodSeconds: {grace} must be above the shutdown timeout {SHUTDOWN_TIMEOUT:?}"
    );

    // The named ports are the program's.
    let container = "spec.template.spec.containers";
    let names = values(&yaml, &format!("{container}.ports.name"));
    let numbers = values(&yaml, &format!("{container}.ports.containerPort"));
    let ports: BTreeMap<&str, u16> = names
        .iter()
        .zip(&numbers)
        .map(|(name, port)| (*name, port.parse().expect("a port number")))
        .collect();
    assert_eq!(ports.get("health"), Some(&HEALTH_PORT), "{manifest}");
    assert_eq!(ports.get("api"), Some(&API_PORT), "{manifest}");

    // The probes ask the supervisor's endpoints, on the health port.
    for (probe, path) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/livez"),
        ("startupProbe", "/livez"),
    ] {
        let at = format!("{container}.{probe}.httpGet");
        assert_eq!(one(&format!("{at}.path")), path, "{probe}");
        let port = one(&format!("{at}.port"));
        let number = port
            .parse()
            .ok()
            .or_else(|| ports.get(port).copied())
            .unwrap_or_else(|| panic!("{probe}: port {port:?} is neither a number nor named"));
        assert_eq!(number, HEALTH_PORT, "{probe} asks the health port");
    }
}

#[test]
fn the_yaml_reader_reads_lists_and_nesting() {
    let yaml = flatten_yaml(
        "a:\n  b: 1 # a comment\n  list:\n    - name: x\n      port: 2\n    - name: y\n  c: \"3\"\nd: 4\n",
    );
    let expected = [
        ("a.b", "1"),
        ("a.list.name", "x"),
        ("a.list.port", "2"),
        ("a.list.name", "y"),
        ("a.c", "3"),
        ("d", "4"),
    ];
    let got: Vec<(&str, &str)> = yaml.iter().map(|(p, v)| (p.as_str(), v.as_str())).collect();
    assert_eq!(got, expected);
}
