use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rule::cli::Cli::parse();
    let stdout = std::io::stdout();
    match rule::cli::run(cli, &mut std::io::stdin(), &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // `rule catalog | head`: the reader has gone, which is not our failure.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("rule: {error:#}");
            ExitCode::FAILURE
        }
    }
}
