use supervisor::supervised;

#[supervised(restart = backoff(-1, "1s"))]
async fn ticker() {}

fn main() {}
