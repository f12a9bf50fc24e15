use supervisor::supervised;

#[supervised(blocking)]
async fn crunch() {}

fn main() {}
