// `after`, `ready`, `critical` and `every`, alone and together, in any
// order, with the other arguments and with `State<T>` parameters.
use std::time::Duration;
use supervisor::{supervised, Context, Readiness, RestartPolicy, ServiceSpec, State};

#[derive(Clone)]
struct Db;

#[supervised(name = "migrate", ready = completed)]
async fn migrate(State(_db): State<Db>) -> anyhow::Result<()> {
    Ok(())
}

#[supervised(name = "api", after = ["migrate"], ready = manual, critical,
             restart = backoff(5, "1s"))]
async fn api(ctx: Context, State(_db): State<Db>) -> std::io::Result<()> {
    ctx.cancelled().await;
    Ok(())
}

#[supervised(name = "stats", every = "30s", blocking)]
fn stats(State(_db): State<Db>) {}

#[supervised(critical, every = "1m 30s", ready = completed, after = ["api", "migrate",])]
async fn report() {}

#[supervised(ready = started, after = [])]
async fn plain() {}

fn spec(name: &str) -> &'static ServiceSpec {
    supervisor::registry().find(|s| s.name() == name).unwrap()
}

fn main() {
    let migrate = spec("migrate");
    assert_eq!(migrate.readiness(), Readiness::Completed);
    assert!(migrate.after().is_empty());
    assert!(!migrate.is_critical());
    assert_eq!(migrate.every(), None);

    let api = spec("api");
    assert_eq!(api.after(), ["migrate"]);
    assert_eq!(api.readiness(), Readiness::Manual);
    assert!(api.is_critical());
    assert_eq!(api.every(), None);
    assert_eq!(api.restart().max_restarts(), 5);
    assert!(api.takes_context());

    let stats = spec("stats");
    assert_eq!(stats.every(), Some(Duration::from_secs(30)));
    assert_eq!(stats.readiness(), Readiness::Started);
    assert!(stats.is_blocking());
    assert_eq!(stats.restart(), RestartPolicy::Never);

    let report = spec("report");
    assert_eq!(report.after(), ["api", "migrate"]);
    assert_eq!(report.every(), Some(Duration::from_secs(90)));
    assert_eq!(report.readiness(), Readiness::Completed);
    assert!(report.is_critical());

    let plain = spec("plain");
    assert!(plain.after().is_empty());
    assert_eq!(plain.readiness(), Readiness::Started);
    assert!(!plain.is_critical());

    for name in ["migrate", "api", "stats"] {
        let types: Vec<&str> = spec(name).state_types().collect();
        assert_eq!(types.len(), 1, "{name}: {types:?}");
        assert!(types[0].ends_with("Db"), "{name}: {types:?}");
    }
    let _ = (migrate, api, stats, report, plain);
}
