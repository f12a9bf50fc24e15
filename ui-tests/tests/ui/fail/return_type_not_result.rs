use supervisor::supervised;

#[supervised]
async fn ticker() -> i32 {
    0
}

fn main() {}
