fn main() {
    eprintln!("poller: not implemented yet");
    std::process::exit(2);
}
