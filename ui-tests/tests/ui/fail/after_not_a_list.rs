use supervisor::supervised;

#[supervised(name = "api", after = "migrate")]
async fn api() {}

fn main() {}
