//! The host's future of an `async fn` marked `#[xplug(local)]` is not `Send`.

#[xplug::interface(name = "t")]
pub trait Counting {
    #[xplug(local)]
    async fn count(n: u32) -> u32;
}

fn send<T: Send>(_: T) {}

fn main() {
    let module = CountingRef::implemented_by::<Impl>();
    send(module.count(1));
}

struct Impl;

impl Counting for Impl {
    async fn count(n: u32) -> u32 {
        let shared = std::rc::Rc::new(n);
        std::future::ready(()).await;
        *shared
    }
}
