use supervisor::supervised;

#[supervised(every = "0s")]
async fn stats() {}

fn main() {}
