// Every name the expansion gives its own items is refused at the function, all at once.
#[xplug::interface(name = "t")]
pub trait Reserved {
    fn save_state() -> u32;
    fn module() -> u32;
    fn implemented_by() -> u32;
    fn context() -> u32;
    fn xplug_page1() -> u32;
    fn _hidden() -> u32;
    fn fine() -> u32;
}

fn main() {}
