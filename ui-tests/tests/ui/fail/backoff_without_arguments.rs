use supervisor::supervised;

#[supervised(restart = backoff)]
async fn ticker() {}

fn main() {}
