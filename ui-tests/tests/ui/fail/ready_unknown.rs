use supervisor::supervised;

#[supervised(ready = manul)]
async fn api() {}

fn main() {}
