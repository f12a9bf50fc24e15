use supervisor::supervised;

#[supervised(restart(never))]
async fn ticker() {}

fn main() {}
