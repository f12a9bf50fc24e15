use supervisor::supervised;

#[supervised(every = 30)]
async fn stats() {}

fn main() {}
