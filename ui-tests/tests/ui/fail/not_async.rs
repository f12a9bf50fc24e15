use supervisor::supervised;

#[supervised]
fn migrate() {}

fn main() {}
