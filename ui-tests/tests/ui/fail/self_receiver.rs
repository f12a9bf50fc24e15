use supervisor::supervised;

struct Server;

impl Server {
    #[supervised]
    async fn serve(&self) {}
}

fn main() {}
