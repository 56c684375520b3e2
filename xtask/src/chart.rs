//! `cargo xtask chart`: the performance page's chart, drawn as SVG from the estimates the
//! benchmarks left in `target/criterion`: `scaling`, and `loading` run in a release and in a
//! debug host (run those first: see `docs/performance.md`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// One line of a panel: its name, colour and points (x, y in the panel's unit).
struct Series {
    name: &'static str,
    colour: &'static str,
    points: Vec<(f64, f64)>,
}

/// One panel: a log-scaled x axis, a linear y axis from zero.
struct Panel {
    title: &'static str,
    x_label: &'static str,
    y_label: &'static str,
    series: Vec<Series>,
}

const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Reads the estimates and writes `out`.
pub(crate) fn chart(criterion: &Path, out: &Path) -> Result<(), String> {
    let ms = |group: &str, id: &str, n: u32| -> Result<(f64, f64), String> {
        Ok((
            f64::from(n),
            mean_ns(criterion, &[group, id, &n.to_string()])? / 1e6,
        ))
    };
    let us = |group: &str, n: u32| -> Result<(f64, f64), String> {
        Ok((
            f64::from(n),
            mean_ns(criterion, &[group, &n.to_string()])? / 1e3,
        ))
    };
    let nth = [1, 10, 100, 1000];
    let loads = Panel {
        title: "Loading the nth plugin of a process",
        x_label: "plugins loaded, this one included",
        y_label: "ms",
        series: vec![
            Series {
                name: "bare dlopen",
                colour: "#888888",
                points: nth
                    .iter()
                    .map(|&n| ms("load_nth_plugin", "dlopen", n))
                    .collect::<Result<_, _>>()?,
            },
            Series {
                name: "xplug (snapshot)",
                colour: "#d9480f",
                points: nth
                    .iter()
                    .map(|&n| ms("load_nth_plugin", "xplug", n))
                    .collect::<Result<_, _>>()?,
            },
        ],
    };
    // Load time against file size: the release and the debug build of the bench plugin, in
    // a release host and in a debug host (`_debug_host` groups), against their floors.
    let megabytes = |release: bool| -> Result<f64, String> {
        let file = criterion
            .parent()
            .unwrap_or(criterion)
            .join("xplug-bench")
            .join(if release { "release" } else { "debug" })
            .join(format!(
                "{}bench_xplug{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            ));
        let meta = fs::metadata(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok((meta.len() as f64 / 1e4).round() / 100.0)
    };
    let (small, large) = (megabytes(true)?, megabytes(false)?);
    let by_size = |id: &str, host: &str| -> Result<Vec<(f64, f64)>, String> {
        Ok(vec![
            (
                small,
                mean_ns(criterion, &[&format!("load_one_plugin{host}"), id])? / 1e6,
            ),
            (
                large,
                mean_ns(criterion, &[&format!("load_debug_plugin{host}"), id])? / 1e6,
            ),
        ])
    };
    let file_size = Panel {
        title: "Loading one plugin against its size",
        x_label: "plugin file, MB (release and debug build)",
        y_label: "ms",
        series: vec![
            Series {
                name: "xplug snapshot, debug host",
                colour: "#e8590c",
                points: by_size("xplug", "_debug_host")?,
            },
            Series {
                name: "xplug snapshot, release host",
                colour: "#c92a2a",
                points: by_size("xplug", "")?,
            },
            Series {
                name: "floor: kernel copy to memfd + dlopen",
                colour: "#888888",
                points: by_size("memfd_dlopen", "")?,
            },
            Series {
                name: "xplug in place, debug host",
                colour: "#74c0fc",
                points: by_size("xplug_in_place", "_debug_host")?,
            },
            Series {
                name: "xplug in place, release host",
                colour: "#1971c2",
                points: by_size("xplug_in_place", "")?,
            },
            Series {
                name: "floor: bare dlopen",
                colour: "#222222",
                points: by_size("dlopen", "")?,
            },
        ],
    };
    let sizes = Panel {
        title: "Full layout check against interface size",
        x_label: "functions in the interface",
        y_label: "µs",
        series: vec![Series {
            name: "abi_stable's check (first plugin of a layout)",
            colour: "#1971c2",
            points: [10, 59, 100, 500]
                .iter()
                .map(|&n| us("layout_check_functions", n))
                .collect::<Result<_, _>>()?,
        }],
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#,
        w = 3.0 * WIDTH,
        h = HEIGHT
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    draw(&mut svg, &loads, 0.0);
    draw(&mut svg, &file_size, WIDTH);
    draw(&mut svg, &sizes, 2.0 * WIDTH);
    svg.push_str("</svg>\n");
    fs::write(out, svg).map_err(|e| format!("{}: {e}", out.display()))
}

/// The mean of one benchmark, in nanoseconds.
pub(crate) fn mean_ns(criterion: &Path, id: &[&str]) -> Result<f64, String> {
    let path: PathBuf = id
        .iter()
        .fold(criterion.to_path_buf(), |p, part| p.join(part))
        .join("new")
        .join("estimates.json");
    let json = fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (run the benchmarks the performance page lists first)",
            path.display()
        )
    })?;
    let mean = &json[json
        .find("\"mean\"")
        .ok_or_else(|| format!("{}: no mean", path.display()))?..];
    let key = "\"point_estimate\":";
    let rest = &mean[mean
        .find(key)
        .ok_or_else(|| format!("{}: no estimate", path.display()))?
        + key.len()..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn draw(svg: &mut String, panel: &Panel, left: f64) {
    let points = panel.series.iter().flat_map(|s| s.points.iter());
    let (x_min, x_max) = points.clone().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let y_max = nice_max(points.fold(0.0, |m: f64, p| m.max(p.1)));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |x: f64| left + LEFT + plot_w * (x.ln() - x_min.ln()) / (x_max.ln() - x_min.ln());
    let y_of = |y: f64| TOP + plot_h * (1.0 - y / y_max);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="20" font-size="13" font-weight="bold">{}</text>"#,
        left + LEFT,
        panel.title
    );
    // Axes, grid and ticks.
    for i in 0..=4 {
        let y = y_max * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{x1}" x2="{x2}" y1="{yy}" y2="{yy}" stroke="#dddddd"/><text x="{tx}" y="{ty}" text-anchor="end">{y}</text>"##,
            x1 = left + LEFT,
            x2 = left + LEFT + plot_w,
            yy = y_of(y),
            tx = left + LEFT - 6.0,
            ty = y_of(y) + 4.0,
            y = tick(y)
        );
    }
    for &(x, _) in &panel.series[0].points {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(x),
            TOP + plot_h + 16.0,
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else if x < 1.0 {
                format!("{x:.2}")
            } else {
                format!("{x:.1}")
            }
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        panel.x_label
    );
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{y}" text-anchor="middle" transform="rotate(-90 {x} {y})">{}</text>"#,
        panel.y_label,
        x = left + 18.0,
        y = TOP + plot_h / 2.0
    );
    // The lines, their points and a legend.
    for (i, series) in panel.series.iter().enumerate() {
        let path: Vec<String> = series
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.join(" "),
            series.colour
        );
        for &(x, y) in &series.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                x_of(x),
                y_of(y),
                series.colour
            );
        }
        let ly = TOP + 8.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="3" fill="{c}"/><text x="{}" y="{}">{}</text>"#,
            left + LEFT + 10.0,
            ly - 3.0,
            left + LEFT + 28.0,
            ly + 1.0,
            series.name,
            c = series.colour
        );
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten at or above `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&v| v >= max)
        .unwrap_or(10.0 * power)
}

fn tick(y: f64) -> String {
    if y >= 10.0 || y == 0.0 {
        format!("{y:.0}")
    } else {
        format!("{y:.2}")
    }
}
