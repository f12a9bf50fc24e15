use supervisor::supervised;

#[supervised(restart = backoff(3))]
async fn ticker() {}

fn main() {}
