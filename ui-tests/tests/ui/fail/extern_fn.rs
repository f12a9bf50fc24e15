use supervisor::supervised;

#[supervised(blocking)]
extern "C" fn crunch() {}

fn main() {}
