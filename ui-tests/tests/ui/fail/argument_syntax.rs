use supervisor::supervised;

#[supervised(name: "ticker")]
async fn ticker() {}

fn main() {}
