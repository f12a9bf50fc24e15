use supervisor::{supervised, Context};

#[supervised]
async fn ticker(_ctx: &Context) {}

fn main() {}
