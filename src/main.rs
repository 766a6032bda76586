fn main() -> std::process::ExitCode {
    mxcall::run()
}
