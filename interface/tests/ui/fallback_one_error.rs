// One mistake is one error: the trait is still declared, so its implementations and uses
// compile, and appended-item attributes are accepted.
#[xplug::interface(name = "t")]
pub trait Shapes {
    fn area(side: u32) -> u32;
    #[xplug(since = "1.1")]
    fn module() -> u32;
}

#[xplug::object]
pub trait Book {
    fn pages(&self) -> u32;
    #[xplug(since = "1.1")]
    fn close(&self);
}

struct Squares;

impl Shapes for Squares {
    fn area(side: u32) -> u32 {
        side * side
    }
    fn module() -> u32 {
        0
    }
    // A provided hook, overridden.
    fn on_load() -> Result<(), String> {
        Ok(())
    }
}

struct Novel;

impl Book for Novel {
    fn pages(&self) -> u32 {
        300
    }
    fn close(&self) {}
}

fn main() {
    assert_eq!(<Squares as Shapes>::area(3), 9);
    assert_eq!(Novel.pages(), 300);
}
