use supervisor::supervised;

#[supervised(name = "api", after = ["migrate", "cache", "migrate"])]
async fn api() {}

fn main() {}
