use supervisor::supervised;

#[supervised(restart = always)]
async fn ticker() {}

fn main() {}
