use supervisor::supervised;

#[supervised(name = 5)]
async fn ticker() {}

fn main() {}
