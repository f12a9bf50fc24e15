use supervisor::{supervised, State};

#[supervised(blocking)]
fn stats(_db: State) {}

fn main() {}
