use supervisor::supervised;

#[supervised(name = "api", after = ["migrate", cache])]
async fn api() {}

fn main() {}
