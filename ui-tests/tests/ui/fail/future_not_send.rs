use std::rc::Rc;
use supervisor::supervised;

#[supervised]
async fn ticker() {
    let counter = Rc::new(1);
    tokio::task::yield_now().await;
    drop(counter);
}

fn main() {}
