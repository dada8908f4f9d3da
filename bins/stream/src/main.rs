//! `caresync-stream`: see [`caresync_stream`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
