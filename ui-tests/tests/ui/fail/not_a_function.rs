use supervisor::supervised;

#[supervised]
struct Ticker;

fn main() {}
