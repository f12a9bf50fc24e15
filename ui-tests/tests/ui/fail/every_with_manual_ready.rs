use supervisor::supervised;

#[supervised(every = "30s", ready = manual)]
async fn stats() {}

fn main() {}
