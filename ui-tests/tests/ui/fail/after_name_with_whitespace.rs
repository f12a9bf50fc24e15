use supervisor::supervised;

#[supervised(name = "api", after = ["data base"])]
async fn api() {}

fn main() {}
