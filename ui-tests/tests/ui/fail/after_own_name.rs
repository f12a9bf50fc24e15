use supervisor::supervised;

#[supervised(name = "api", after = ["migrate", "api"])]
async fn serve() {}

fn main() {}
