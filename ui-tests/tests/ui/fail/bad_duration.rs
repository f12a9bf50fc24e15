use supervisor::supervised;

#[supervised(restart = backoff(3, "1 parsec"))]
async fn ticker() {}

fn main() {}
