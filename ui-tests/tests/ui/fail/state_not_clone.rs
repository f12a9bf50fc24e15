use supervisor::{supervised, Context, State};

// Not `Clone`: each run needs its own copy of the value.
struct Db;

#[supervised]
async fn api(_ctx: Context, State(_db): State<Db>) {}

fn main() {}
