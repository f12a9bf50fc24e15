use supervisor::supervised;

#[supervised(name = "ticker\0")]
async fn ticker() {}

fn main() {}
