use supervisor::supervised;

#[supervised(ready = "completed")]
async fn migrate() {}

fn main() {}
