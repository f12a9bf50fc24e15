use supervisor::supervised;

#[supervised]
async fn ticker() -> Result<i32, String> {
    Ok(0)
}

fn main() {}
