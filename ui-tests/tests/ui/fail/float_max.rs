use supervisor::supervised;

#[supervised(restart = backoff(1.5, "1s"))]
async fn ticker() {}

fn main() {}
