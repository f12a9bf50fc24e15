use supervisor::supervised;

#[supervised(restart = backoff(3, "1000years"))]
async fn ticker() {}

fn main() {}
