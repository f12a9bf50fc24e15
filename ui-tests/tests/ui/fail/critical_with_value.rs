use supervisor::supervised;

#[supervised(critical = true)]
async fn api() {}

fn main() {}
