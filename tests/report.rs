//! Plots and the HTML report: valid PNG/SVG of the documented size with text drawn through the
//! embedded font, byte-for-byte determinism, clear errors on empty input, and an HTML page that
//! is self-contained and escapes everything it is given.
use robcert::Error;
use robcert::report::plots::{PLOT_HEIGHT, PLOT_WIDTH};
use robcert::report::{
    Banner, Figure, Histogram, HtmlReport, LinePlot, PlotFiles, Section, Series, Table, Tone,
    histogram, line_plot, render_html,
};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn curve(f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    (0..=40)
        .map(|i| i as f64 * 0.05)
        .map(|r| (r, f(r)))
        .collect()
}

/// Certified-accuracy curves of three methods, the attack's empirical curve and the budget.
fn certified_accuracy_plot() -> LinePlot {
    LinePlot {
        name: "certified_accuracy".into(),
        title: "Certified accuracy vs. perturbation radius".into(),
        x_label: "radius (L2, standardised features)".into(),
        y_label: "fraction of rows".into(),
        series: vec![
            Series {
                label: "randomized smoothing (certified)".into(),
                points: curve(|r| 0.92 * (-0.9 * r).exp()),
                dashed: false,
                colour: None,
            },
            Series {
                label: "CROWN (certified)".into(),
                points: curve(|r| (0.95 - 0.6 * r).max(0.0)),
                dashed: false,
                colour: None,
            },
            Series {
                label: "alpha-CROWN + BaB (certified)".into(),
                points: curve(|r| (0.95 - 0.45 * r).max(0.0)),
                dashed: false,
                colour: None,
            },
            Series {
                label: "PGD attack (empirical upper bound)".into(),
                points: curve(|r| (0.96 - 0.25 * r).max(0.0)),
                dashed: true,
                colour: None,
            },
        ],
        y_range: Some((0.0, 1.0)),
        vertical_marker: Some((1.0, "threat budget".into())),
    }
}

fn margin_histogram() -> Histogram {
    // Deterministic pseudo-random values: a logistic-map sequence spread over two groups.
    let mut state = 0.123_f64;
    let mut next = || {
        state = 3.99 * state * (1.0 - state);
        state
    };
    let legitimate: Vec<f64> = (0..400).map(|_| next() * 0.6 - 0.1).collect();
    let fraud: Vec<f64> = (0..150).map(|_| next() * 0.7 + 0.3).collect();
    Histogram {
        name: "score_margins".into(),
        title: "Fraud score by class".into(),
        x_label: "model fraud score".into(),
        groups: vec![("legitimate".into(), legitimate), ("fraud".into(), fraud)],
        bins: 30,
        vertical_marker: Some((0.5, "decision threshold".into())),
    }
}

fn assert_png_of_plot_size(png: &[u8]) {
    assert_eq!(png[..8], PNG_SIGNATURE, "PNG signature");
    let decoder = png::Decoder::new(png);
    let mut reader = decoder.read_info().expect("PNG header decodes");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("PNG data decodes");
    assert_eq!((frame.width, frame.height), (PLOT_WIDTH, PLOT_HEIGHT));
    // Not blank: a white canvas alone would be a single colour.
    let first = &pixels[..3];
    assert!(
        pixels.chunks(3).any(|p| p != first),
        "PNG has drawn content"
    );
}

fn svg_text(files: &PlotFiles) -> String {
    String::from_utf8(files.svg.clone()).expect("SVG is UTF-8")
}

#[test]
fn line_plot_png_decodes_to_the_plot_size() {
    let files = line_plot(&certified_accuracy_plot()).unwrap();
    assert_png_of_plot_size(&files.png);
}

#[test]
fn line_plot_svg_contains_title_axis_labels_legend_and_marker() {
    let plot = certified_accuracy_plot();
    let svg = svg_text(&line_plot(&plot).unwrap());
    assert!(svg.starts_with("<svg"));
    for text in [
        plot.title.as_str(),
        &plot.x_label,
        &plot.y_label,
        "PGD attack (empirical upper bound)",
        "threat budget",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(svg.contains("sans-serif"));
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let plot = certified_accuracy_plot();
    assert_eq!(line_plot(&plot).unwrap(), line_plot(&plot).unwrap());
    let hist = margin_histogram();
    assert_eq!(histogram(&hist).unwrap(), histogram(&hist).unwrap());
}

#[test]
fn empty_series_list_is_a_plot_error_naming_the_plot() {
    let plot = LinePlot {
        series: vec![],
        ..certified_accuracy_plot()
    };
    match line_plot(&plot) {
        Err(Error::Plot { name, message }) => {
            assert_eq!(name, "certified_accuracy");
            assert!(message.contains("no series"), "{message}");
        }
        other => panic!("expected Error::Plot, got {other:?}"),
    }
}

#[test]
fn series_without_finite_points_is_a_plot_error() {
    let plot = LinePlot {
        series: vec![Series {
            label: "broken".into(),
            points: vec![(f64::NAN, 1.0), (0.0, f64::INFINITY)],
            dashed: false,
            colour: None,
        }],
        ..certified_accuracy_plot()
    };
    assert!(matches!(line_plot(&plot), Err(Error::Plot { .. })));
}

#[test]
fn non_finite_points_are_skipped_and_constant_curves_render() {
    let plot = LinePlot {
        series: vec![Series {
            label: "constant with gaps".into(),
            points: vec![
                (0.0, 0.5),
                (f64::NAN, 0.5),
                (1.0, f64::NEG_INFINITY),
                (2.0, 0.5),
            ],
            dashed: true,
            colour: None,
        }],
        y_range: None,
        vertical_marker: Some((f64::NAN, "ignored".into())),
        ..certified_accuracy_plot()
    };
    assert_png_of_plot_size(&line_plot(&plot).unwrap().png);

    let single_point = LinePlot {
        series: vec![Series {
            label: "one point".into(),
            points: vec![(3.0, 3.0)],
            dashed: false,
            colour: None,
        }],
        y_range: None,
        vertical_marker: None,
        ..certified_accuracy_plot()
    };
    assert_png_of_plot_size(&line_plot(&single_point).unwrap().png);
}

#[test]
fn invalid_fixed_y_range_is_a_plot_error() {
    let plot = LinePlot {
        y_range: Some((1.0, 1.0)),
        ..certified_accuracy_plot()
    };
    assert!(matches!(line_plot(&plot), Err(Error::Plot { .. })));
}

#[test]
fn histogram_renders_two_groups_with_counts_in_the_legend() {
    let files = histogram(&margin_histogram()).unwrap();
    assert_png_of_plot_size(&files.png);
    let svg = svg_text(&files);
    for text in [
        "Fraud score by class",
        "model fraud score",
        "count",
        "legitimate (n = 400)",
        "fraud (n = 150)",
        "decision threshold",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
}

#[test]
fn histogram_of_identical_values_renders() {
    let hist = Histogram {
        groups: vec![("all equal".into(), vec![0.7; 25])],
        bins: 10,
        vertical_marker: None,
        ..margin_histogram()
    };
    assert_png_of_plot_size(&histogram(&hist).unwrap().png);
}

#[test]
fn histogram_without_groups_bins_or_finite_values_is_a_plot_error() {
    let cases = [
        Histogram {
            groups: vec![],
            ..margin_histogram()
        },
        Histogram {
            bins: 0,
            ..margin_histogram()
        },
        Histogram {
            groups: vec![("nan".into(), vec![f64::NAN])],
            ..margin_histogram()
        },
    ];
    for case in &cases {
        assert!(matches!(histogram(case), Err(Error::Plot { .. })));
    }
}

fn sample_report(figures: Vec<Figure>) -> HtmlReport {
    HtmlReport {
        title: "Robustness dossier: fraud_mlp.onnx <script>alert(1)</script>".into(),
        subtitle: "Threat model: amount & merchant features, L-inf budget 0.1".into(),
        decision: Some(Banner {
            outcome: "ACCEPT".into(),
            tone: Tone::Ok,
            reasons: vec![
                "certified accuracy 0.91 >= required 0.85".into(),
                "no counterexample found by PGD within the budget".into(),
            ],
        }),
        sections: vec![
            Section {
                heading: "Results by method".into(),
                paragraphs: vec!["Rows are verified through ONNX Runtime. \"Quoted\" & 'single'.".into()],
                tables: vec![Table {
                    caption: "Verdicts".into(),
                    header: vec!["method".into(), "certified".into(), "status".into()],
                    rows: vec![
                        vec!["CROWN".into(), "0.88".into(), "PASS".into()],
                        vec!["IBP".into(), "0.41".into(), "FAIL".into()],
                        vec!["alpha-CROWN".into(), "0.91".into(), "verified".into()],
                        vec!["BaB".into(), "-".into(), "unknown (timeout)".into()],
                    ],
                    highlight_column: Some(2),
                }],
                figures,
                code: None,
            },
            Section {
                heading: "How to check the signature".into(),
                paragraphs: vec![],
                tables: vec![],
                figures: vec![],
                code: Some(
                    "openssl pkeyutl -verify -pubin -inkey key.pub -rawin \\\n  -in dossier.json -sigfile dossier.sig".into(),
                ),
            },
        ],
        footer: "Generated by robcert 0.1.0".into(),
    }
}

#[test]
fn html_escapes_text_embeds_images_and_is_self_contained() {
    let png = line_plot(&certified_accuracy_plot()).unwrap().png;
    let report = sample_report(vec![Figure {
        caption: "Certified accuracy <by> method".into(),
        png,
    }]);
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "raw <script> in output");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("amount &amp; merchant"));
    assert!(html.contains("&quot;Quoted&quot; &amp; &#39;single&#39;"));
    assert!(html.contains("Certified accuracy &lt;by&gt; method"));
    assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgo"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains("class=\"decision ok\""));
    assert!(html.contains("<td class=\"good\">PASS</td>"));
    assert!(html.contains("<td class=\"bad\">FAIL</td>"));
    assert!(html.contains("<td class=\"warn\">unknown (timeout)</td>"));
    // Only the highlighted column is coloured.
    assert!(html.contains("<td>0.88</td>"));
    assert!(html.contains("<pre><code>openssl pkeyutl"));
}

#[test]
fn html_reject_banner_is_red_no_decision_amber_and_a_comparison_has_none() {
    let banner = |outcome: &str, tone| HtmlReport {
        decision: Some(Banner {
            outcome: outcome.into(),
            tone,
            reasons: vec![],
        }),
        ..sample_report(vec![])
    };
    let html = render_html(&banner("REJECT", Tone::Bad));
    assert!(html.contains("class=\"decision bad\""));
    let html = render_html(&banner("NO DECISION", Tone::Neutral));
    assert!(html.contains("class=\"decision neutral\""));
    let html = render_html(&HtmlReport {
        decision: None,
        ..sample_report(vec![])
    });
    assert!(!html.contains("class=\"decision"));
}

/// Writes a demo line plot, histogram and HTML page to /tmp/report-demo/ for visual inspection:
/// `cargo test --release --test report -- --ignored write_demo`.
#[test]
#[ignore]
fn write_demo_outputs() {
    let dir = std::path::Path::new("/tmp/report-demo");
    std::fs::create_dir_all(dir).unwrap();
    let curves = line_plot(&certified_accuracy_plot()).unwrap();
    let hist = histogram(&margin_histogram()).unwrap();
    for (stem, files) in [("certified_accuracy", &curves), ("score_margins", &hist)] {
        std::fs::write(dir.join(format!("{stem}.png")), &files.png).unwrap();
        std::fs::write(dir.join(format!("{stem}.svg")), &files.svg).unwrap();
    }
    let report = sample_report(vec![
        Figure {
            caption: "Certified accuracy by method; the dashed curve is the attack's empirical upper bound.".into(),
            png: curves.png,
        },
        Figure {
            caption: "Distribution of fraud scores by true class.".into(),
            png: hist.png,
        },
    ]);
    std::fs::write(dir.join("report.html"), render_html(&report)).unwrap();

    // Edge cases worth a look: a fixed y range that cuts the curves, and a degenerate histogram.
    let clipped = LinePlot {
        y_range: Some((0.3, 0.8)),
        vertical_marker: Some((1.9, "marker near the right edge".into())),
        ..certified_accuracy_plot()
    };
    std::fs::write(dir.join("clipped.png"), line_plot(&clipped).unwrap().png).unwrap();
    let identical = Histogram {
        groups: vec![("all equal".into(), vec![0.7; 25])],
        ..margin_histogram()
    };
    std::fs::write(
        dir.join("identical_values.png"),
        histogram(&identical).unwrap().png,
    )
    .unwrap();
}
