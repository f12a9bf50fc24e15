use supervisor::supervised;

#[supervised(name = "my ticker")]
async fn ticker() {}

fn main() {}
