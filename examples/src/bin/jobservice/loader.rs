//! `loader`: fills the catalogue once at start. The API and the worker
//! start after it has returned `Ok` (`ready = completed`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use supervisor::{supervised, State};

use crate::state::{Catalogue, Config};

/// The catalogue built into the binary, used without `--catalogue`.
const BUILT_IN: &str = include_str!("catalogue.txt");

/// How long fetching the catalogue takes, as if from a remote store.
const FETCH_TIME: Duration = Duration::from_millis(500);

#[supervised(name = "loader", ready = completed, restart = backoff(2, "1s"))]
pub(crate) async fn loader(
    State(config): State<Config>,
    State(catalogue): State<Catalogue>,
) -> anyhow::Result<()> {
    let items = match &config.catalogue {
        Some(path) => read(path).await?,
        None => parse(BUILT_IN)?,
    };
    tokio::time::sleep(FETCH_TIME).await;
    tracing::info!(items = ?items.keys().collect::<Vec<_>>(), "catalogue loaded");
    catalogue.replace(items);
    Ok(())
}

async fn read(path: &Path) -> anyhow::Result<BTreeMap<String, Duration>> {
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("cannot read the catalogue {}", path.display()))?;
    parse(&text).with_context(|| format!("in the catalogue {}", path.display()))
}

/// One item a line, its name and how long making one takes (`resize 300ms`);
/// blank lines and `#` comments are skipped.
fn parse(text: &str) -> anyhow::Result<BTreeMap<String, Duration>> {
    let mut items = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, cost) = line
            .split_once(char::is_whitespace)
            .with_context(|| format!("line {}: expected `NAME DURATION`", number + 1))?;
        let cost = humantime::parse_duration(cost.trim())
            .with_context(|| format!("line {}: the duration of {name}", number + 1))?;
        items.insert(name.to_owned(), cost);
    }
    anyhow::ensure!(!items.is_empty(), "no item at all");
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(catalogue: Option<&Path>) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            catalogue: catalogue.map(Path::to_owned),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fills_the_catalogue_with_the_built_in_items() {
        let catalogue = Catalogue::default();
        loader(State(config(None)), State(catalogue.clone()))
            .await
            .expect("the built-in catalogue loads");
        assert_eq!(
            catalogue.names(),
            ["resize", "thumbnail", "transcode", "watermark"]
        );
        assert_eq!(catalogue.cost("transcode"), Some(Duration::from_secs(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn loads_a_catalogue_file_or_says_what_is_wrong_with_it() {
        let dir = std::env::temp_dir().join(format!("jobservice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.txt");
        std::fs::write(&good, "# ours\nposter 1s\n\nsticker 20ms\n").unwrap();
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "poster 1s\nsticker soon\n").unwrap();

        let catalogue = Catalogue::default();
        loader(State(config(Some(&good))), State(catalogue.clone()))
            .await
            .expect("a good file loads");
        assert_eq!(catalogue.names(), ["poster", "sticker"]);

        let err = loader(State(config(Some(&bad))), State(Catalogue::default()))
            .await
            .expect_err("a bad duration");
        let text = format!("{err:#}");
        assert!(
            text.contains("bad.txt") && text.contains("line 2") && text.contains("sticker"),
            "{text}"
        );

        let missing = dir.join("missing.txt");
        let err = loader(State(config(Some(&missing))), State(Catalogue::default()))
            .await
            .expect_err("no such file");
        assert!(format!("{err:#}").contains("missing.txt"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
