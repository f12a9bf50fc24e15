use supervisor::supervised;

#[supervised(every = "twice a minute")]
async fn stats() {}

fn main() {}
