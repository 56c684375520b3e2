// Every name the expansion gives its own items is refused at the function, all at once.
#[xplug::interface(name = "t")]
pub trait Reserved {
    fn save_state() -> u32;
    fn module() -> u32;
    fn implemented_by() -> u32;
    fn context() -> u32;
    fn context_() -> u32;
    fn xplug_page1() -> u32;
    fn _hidden() -> u32;
    #[allow(non_snake_case)]
    fn MODULE() -> u32;
    fn fine() -> u32;
}

#[xplug::object]
pub trait Book {
    fn pages(&self, this: u32) -> u32;
    #[allow(non_snake_case)]
    fn VTABLE(&self) -> u32;
}

fn main() {}
