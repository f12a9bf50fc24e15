use supervisor::{supervised, Context};

#[supervised]
async fn ticker(_ctx: Context) -> i32 {
    0
}

fn main() {}
