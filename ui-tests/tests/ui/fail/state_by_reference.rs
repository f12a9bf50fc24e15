use supervisor::{supervised, State};

#[derive(Clone)]
struct Db;

#[supervised]
async fn api(db: &State<Db>) {
    let _ = db;
}

fn main() {}
