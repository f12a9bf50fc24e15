use supervisor::supervised;

#[supervised(blocking)]
unsafe extern "C" fn crunch(_first: i32, _: ...) {}

fn main() {}
