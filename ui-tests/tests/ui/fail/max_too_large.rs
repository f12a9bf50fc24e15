use supervisor::supervised;

#[supervised(restart = backoff(4294967296, "1s"))]
async fn ticker() {}

fn main() {}
