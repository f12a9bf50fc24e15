use std::rc::Rc;
use supervisor::{supervised, Context};

#[supervised]
async fn ticker(ctx: Context) {
    let counter = Rc::new(1);
    ctx.cancelled().await;
    drop(counter);
}

fn main() {}
