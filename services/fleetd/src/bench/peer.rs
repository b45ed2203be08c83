//! The peer a bench is compared with, run in the same sitting: the cqrs-es + postgres-es
//! program of `../shared/peers/cqrs-es`, built by `make bench` and named with `--peer`.

use std::path::Path;
use std::process::Command;

use super::BenchResult;

/// What the peer printed on its last line.
#[derive(Debug, Clone, Copy)]
pub struct PeerFigure {
    pub rate: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Runs the peer with `aggregates` aggregates and `concurrency` workers.
pub fn run(binary: &Path, aggregates: usize, concurrency: usize) -> BenchResult<PeerFigure> {
    let output = Command::new(binary)
        .args([aggregates.to_string(), concurrency.to_string()])
        .output()
        .map_err(|e| format!("running the peer {}: {e}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "the peer exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let last = stdout.lines().last().unwrap_or_default();
    parse(last).ok_or_else(|| format!("the peer's last line is not its figures: {last:?}").into())
}

/// `cqrs-es+postgres-es n=.. c=.. view=..: X commands/s, p50 .. us, p99 .. us`.
fn parse(line: &str) -> Option<PeerFigure> {
    let (_, figures) = line.split_once(": ")?;
    let mut numbers = figures
        .split([',', ' '])
        .filter_map(|word| word.parse::<f64>().ok());
    Some(PeerFigure {
        rate: numbers.next()?,
        p50_us: numbers.next()?,
        p99_us: numbers.next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_the_peers_last_line() {
        let figure = parse(
            "cqrs-es+postgres-es n=2000 c=64 view=false: 3105.4 commands/s, p50 2600 us, p99 5700 us",
        )
        .unwrap();
        assert_eq!(
            (figure.rate, figure.p50_us, figure.p99_us),
            (3105.4, 2600.0, 5700.0)
        );
        assert!(parse("thread 'main' panicked").is_none());
    }
}
