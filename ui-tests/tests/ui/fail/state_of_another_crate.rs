use supervisor::supervised;

// A type that happens to be called `State`, such as a web framework's.
mod web {
    pub struct State<T>(pub T);
}

#[supervised(blocking)]
fn api(web::State(_n): web::State<u32>) {}

fn main() {}
