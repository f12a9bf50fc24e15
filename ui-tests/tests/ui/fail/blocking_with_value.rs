use supervisor::supervised;

#[supervised(blocking = true)]
fn crunch() {}

fn main() {}
