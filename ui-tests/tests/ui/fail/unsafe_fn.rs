use supervisor::supervised;

#[supervised]
async unsafe fn ticker() {}

fn main() {}
