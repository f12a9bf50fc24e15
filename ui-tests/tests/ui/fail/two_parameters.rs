use supervisor::{supervised, Context};

#[supervised]
async fn ticker(_ctx: Context, _period: u64) {}

fn main() {}
