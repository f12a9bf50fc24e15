use supervisor::supervised;

#[supervised]
async fn ticker<T: Default>() {}

fn main() {}
