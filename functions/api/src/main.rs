fn main() {
    eprintln!("api: not implemented yet");
    std::process::exit(2);
}
