use supervisor::supervised;

#[supervised(after = ["serve"])]
async fn serve() {}

fn main() {}
