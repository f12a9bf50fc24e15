use supervisor::supervised;

#[supervised(name = "")]
async fn ticker() {}

fn main() {}
