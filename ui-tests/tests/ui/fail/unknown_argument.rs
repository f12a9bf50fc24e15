use supervisor::supervised;

#[supervised(nmae = "ticker")]
async fn ticker() {}

fn main() {}
