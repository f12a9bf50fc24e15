use supervisor::{supervised, State};

#[derive(Clone)]
struct Db;

#[supervised]
async fn ticker(State(_db): State<Db>, _period: u64) {}

fn main() {}
