use supervisor::supervised;

#[supervised(blocking, blocking)]
fn crunch() {}

fn main() {}
