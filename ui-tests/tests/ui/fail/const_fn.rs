use supervisor::supervised;

#[supervised(blocking)]
const fn crunch() {}

fn main() {}
