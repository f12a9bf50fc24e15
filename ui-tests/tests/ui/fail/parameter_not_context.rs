use supervisor::supervised;

#[supervised]
async fn ticker(_period: u64) {}

fn main() {}
