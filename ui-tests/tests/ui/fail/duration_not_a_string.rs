use supervisor::supervised;

#[supervised(restart = backoff(3, 1000))]
async fn ticker() {}

fn main() {}
