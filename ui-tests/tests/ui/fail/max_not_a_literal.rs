use supervisor::supervised;

const RETRIES: u32 = 3;

#[supervised(restart = backoff(RETRIES, "1s"))]
async fn ticker() {}

fn main() {
    let _ = RETRIES;
}
