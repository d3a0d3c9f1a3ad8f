// The test oracle for our RON writer: ron-rs's own parser, not ours.
use std::io::Read;

fn main() {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("stdin is UTF-8");
    if let Err(error) = ron::from_str::<ron::Value>(&text) {
        eprintln!("{}", error);
        std::process::exit(1);
    }
}
