use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rule::cli::Cli::parse();
    let stdout = std::io::stdout();
    match rule::cli::run(cli, &mut std::io::stdin(), &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // `rule catalog | head`: the reader has gone, which is not our failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rule: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}
