// Empty on purpose: a build script makes cargo resolve `[build-dependencies]`, which pin the
// host side's features (see Cargo.toml).
fn main() {}
