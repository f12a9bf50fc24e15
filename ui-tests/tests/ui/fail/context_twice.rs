use supervisor::{supervised, Context, State};

#[derive(Clone)]
struct Db;

#[supervised]
async fn ticker(_ctx: Context, State(_db): State<Db>, _again: supervisor::Context) {}

fn main() {}
