//! `fleetd replay <projection>|all`: rebuild read models from the stream with a progress bar:
//! all the projections of one stream in a single pass over it, the two streams side by side.

use std::sync::Arc;

use clap::Args;
use fleet_projections::rebuild::Rebuild;
use fleet_projections::{Projection, ProjectionMetrics, Source};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
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
    let rebuild = Rebuild {
        pool,
        streams,
        metrics: ProjectionMetrics::register(&mut Registry::default()),
    };
    // Projections of one stream are rebuilt in one pass over it; the streams side by side.
    let mut by_source: Vec<(Source, Vec<Arc<dyn Projection>>)> = Vec::new();
    for projection in projections {
        match by_source
            .iter_mut()
            .find(|(s, _)| *s == projection.source())
        {
            Some((_, group)) => group.push(projection),
            None => by_source.push((projection.source(), vec![projection])),
        }
    }
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{msg:>12} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
    )?
    .progress_chars("=> ");
    let passes = by_source.into_iter().map(|(source, group)| {
        let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
        bar.set_message(source.as_str());
        let (rebuild, args) = (&rebuild, &args);
        async move {
            let log = rebuild.streams.of(source);
            let until = match (args.to_position, args.until) {
                (Some(position), _) => Some(position),
                (None, Some(time)) => Some(log.position_at(time).await?),
                (None, None) => None,
            };
            let names: Vec<&'static str> = group.iter().map(|p| p.name()).collect();
            let started = std::time::Instant::now();
            let reports = rebuild
                .run_together(group, until, args.fresh, |position, target| {
                    bar.set_length(target);
                    bar.set_position(position);
                })
                .await?;
            bar.finish();
            Ok::<_, Box<dyn std::error::Error>>((names, reports, started.elapsed()))
        }
    });
    for (names, reports, took) in futures::future::try_join_all(passes).await? {
        for (name, report) in names.into_iter().zip(reports) {
            let outcome = if report.schema == name {
                "the new tables are serving".to_owned()
            } else {
                format!("kept in schema {} beside the live tables", report.schema)
            };
            println!(
                "{name}: rebuilt up to position {} in {:.1}s{}; {outcome}",
                report.position,
                took.as_secs_f64(),
                if report.resumed { " (resumed)" } else { "" }
            );
        }
    }
    Ok(())
}
