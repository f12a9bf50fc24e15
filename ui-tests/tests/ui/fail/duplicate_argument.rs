use supervisor::supervised;

#[supervised(name = "first", restart = never, name = "second")]
async fn ticker() {}

fn main() {}
