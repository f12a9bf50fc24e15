use supervisor::supervised;

#[supervised(restart = backoff("3", "1s"))]
async fn ticker() {}

fn main() {}
