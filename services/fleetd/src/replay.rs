//! `fleetd replay <projection>|all`: rebuild read models from the stream with a progress bar.

use clap::Args;
use fleet_projections::rebuild::Rebuild;
use fleet_projections::ProjectionMetrics;
use indicatif::{ProgressBar, ProgressStyle};
use prometheus_client::registry::Registry;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A projection name (`inventory`) or `all`.
    pub projection: String,
    /// Discard an interrupted rebuild instead of resuming it.
    #[arg(long)]
    pub fresh: bool,
    /// Rebuild only up to this stream position, into `<projection>_at_<position>`.
    #[arg(long, conflicts_with = "until")]
    pub to_position: Option<u64>,
    /// Rebuild only up to the last event recorded at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn run(config: &Config, args: ReplayArgs) -> Result<(), Box<dyn std::error::Error>> {
    let projections = if args.projection == "all" {
        fleet_projections::all()
    } else {
        vec![fleet_projections::by_name(&args.projection).ok_or_else(|| {
            let names: Vec<_> = fleet_projections::all().iter().map(|p| p.name()).collect();
            format!(
                "unknown projection {:?}; one of: all, {}",
                args.projection,
                names.join(", ")
            )
        })?]
    };
    let pool = config.migrated_database().await?;
    let streams = config.streams(config.nats().await?).await?;
    let log = streams.domain.clone();
    let until = match (args.to_position, args.until) {
        (Some(position), _) => Some(position),
        (None, Some(time)) => Some(log.position_at(time).await?),
        (None, None) => None,
    };
    let rebuild = Rebuild {
        pool,
        streams,
        metrics: ProjectionMetrics::register(&mut Registry::default()),
    };
    for projection in projections {
        let name = projection.name();
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
            )?
            .progress_chars("=> "),
        );
        bar.set_message(name);
        let started = std::time::Instant::now();
        let report = rebuild
            .run(projection, until, args.fresh, |position, target| {
                bar.set_length(target);
                bar.set_position(position);
            })
            .await?;
        bar.finish();
        let outcome = if report.schema == name {
            "the new tables are serving".to_owned()
        } else {
            format!("kept in schema {} beside the live tables", report.schema)
        };
        println!(
            "{name}: rebuilt up to position {} in {:.1}s{}; {outcome}",
            report.position,
            started.elapsed().as_secs_f64(),
            if report.resumed { " (resumed)" } else { "" }
        );
    }
    Ok(())
}
