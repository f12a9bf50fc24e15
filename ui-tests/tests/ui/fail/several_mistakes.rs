use supervisor::{supervised, Context};

#[supervised(nmae = "ticker", restart = backoff(-1, "soon"), name = "")]
fn ticker<T>(_ctx: Context, _period: u64) {}

fn main() {}
