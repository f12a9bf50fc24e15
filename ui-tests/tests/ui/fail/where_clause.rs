use supervisor::supervised;

#[supervised]
async fn ticker()
where
    u8: Copy,
{
}

fn main() {}
