// The future of an object's async method borrows the object: the object cannot be dropped
// (or its `&mut self` methods called) while the future lives.
#[xplug::object]
pub trait Timer: Send + Sync {
    async fn peek(&self) -> u64;
    async fn tick(&mut self) -> u64;
}

struct Ticks(u64);

impl Timer for Ticks {
    async fn peek(&self) -> u64 {
        self.0
    }
    async fn tick(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn main() {
    let mut timer = TimerBox::new(Ticks(0));
    let peeking = timer.peek();
    let ticking = timer.tick();
    drop(timer);
    drop((peeking, ticking));
}
