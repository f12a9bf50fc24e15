use supervisor::supervised;

#[supervised(name = "api", after = ["migrate"], critical, after = ["cache"])]
async fn api() {}

fn main() {}
