// Default names (raw identifiers lose their `r#`) and explicit ones.
use supervisor::supervised;

#[supervised]
async fn default_name() {}

#[supervised]
async fn r#type() {}

#[supervised(name = "api.v2-worker_1")]
async fn explicit_name() {}

#[supervised(name = "ünïcode-async")]
async fn unicode() {}

fn main() {
    let names: Vec<&str> = supervisor::registry().map(|s| s.name()).collect();
    for name in ["default_name", "type", "api.v2-worker_1", "ünïcode-async"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(!names.contains(&"explicit_name"), "{names:?}");
    let _ = (default_name, r#type, explicit_name, unicode);
}
