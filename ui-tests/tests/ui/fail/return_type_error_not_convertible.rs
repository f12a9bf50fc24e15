use supervisor::supervised;

#[supervised(blocking)]
fn crunch() -> Result<(), i32> {
    Ok(())
}

fn main() {}
