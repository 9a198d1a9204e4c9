//! Text from a scenario file stays text: labels and run names with control characters or markup
//! give well-formed SVG charts, and error messages never carry control characters to a terminal.

use dpo_playground::engine::{escape_control, History};
use dpo_playground::plot;
use dpo_playground::scenario::Scenario;
use plotters::prelude::*;

/// Labels with every kind of trouble: C0 controls (NUL, ESC sequences, BEL, tab, line breaks),
/// DEL, a C1 control, the two non-characters XML forbids, and XML's own specials.
const HOSTILE: &str = r#"{
  "prompts": ["p\u0000<", "q\n\r\t&amp;"],
  "outputs": ["A\u0001", "<b>&amp;\"'", "\u001b[2J", "x\u007f\ufffe\uffff", "\u009b0m", "]]>"],
  "reference": [[1, 1, 1, 1, 1, 1], [1, 2, 3, 4, 5, 6]],
  "pairs": [
    {"prompt": 0, "chosen": "A\u0001", "rejected": "<b>&amp;\"'"},
    {"prompt": 1, "chosen": "\u001b[2J", "rejected": "x\u007f\ufffe\uffff"},
    {"prompt": 1, "chosen": "\u009b0m", "rejected": "]]>"}
  ],
  "steps": 3,
  "runs": [
    {"name": "\u001b]0;pwned\u0007 <run> & \"co\""},
    {"name": "tab\there\u0085", "loss": "hinge"}
  ]
}"#;

/// The characters XML 1.0 cannot hold in a document, escaped or not.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Every chart the command line writes, as SVG text, named.
fn svg_charts(scenario: &Scenario) -> Vec<(String, String)> {
    // The SVG backend measures text (legends, centred labels) with the registered font.
    let _ = plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        include_bytes!("../assets/DejaVuSans.ttf"),
    );
    let mut set = scenario.run_set().unwrap();
    let mut history = History::new(set.runs().len(), 16);
    history.record(&set);
    set.step(scenario.steps);
    history.record(&set);
    let problem = set.problem();
    let names: Vec<String> = set.runs().iter().map(|r| r.config().name.clone()).collect();
    let policies: Vec<Vec<f64>> = set.runs().iter().map(|r| r.policy(problem)).collect();
    let pair_labels: Vec<String> = problem
        .pairs()
        .iter()
        .map(|p| plot::pair_label(problem, p))
        .collect();
    let latest = set.metrics();

    let mut charts = Vec::new();
    let mut draw =
        |name: String, render: &dyn Fn(&DrawingArea<SVGBackend, _>) -> plot::PlotResult| {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (900, 400)).into_drawing_area();
                render(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
                root.present().unwrap();
            }
            charts.push((name, svg));
        };
    // A metric name is drawn as a caption too; the page passes the names it is given.
    draw("curves".into(), &|area| {
        plot::draw_curves(area, &history, &names, &["loss", "kl", "bad\u{1b}<name>"])
    });
    for prompt in 0..problem.prompt_count() {
        draw(format!("policy-{prompt}"), &|area| {
            plot::draw_policy(area, problem, &policies, &names, prompt)
        });
    }
    draw("learning-table".into(), &|area| {
        plot::draw_learning_tables(area, &history, 0..latest.len(), &latest, &names)
    });
    for (run, name) in names.iter().enumerate() {
        draw(format!("margins-{run}"), &|area| {
            plot::draw_margins(area, &history, run, name, &pair_labels)
        });
    }
    charts
}

#[test]
fn hostile_labels_give_well_formed_svg() {
    let scenario = Scenario::from_json(HOSTILE).unwrap();
    let charts = svg_charts(&scenario);
    assert_eq!(charts.len(), 1 + 2 + 1 + 2);
    let mut all_text = String::new();
    for (name, svg) in &charts {
        let document =
            roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{name}: {e}\n{svg}"));
        if let Some(bad) = svg.chars().find(|&c| !is_xml_char(c)) {
            panic!(
                "{name}: U+{:04X} cannot be in an XML document",
                u32::from(bad)
            );
        }
        for node in document.descendants().filter(|n| n.has_tag_name("text")) {
            let text = node.text().unwrap_or_default();
            // One line each: line breaks and tabs are escaped too (the newlines around the text
            // are the backend's own formatting).
            assert!(
                !text.trim_matches('\n').contains(['\n', '\r', '\t']),
                "{name}: {text:?}"
            );
            all_text += text;
        }
    }
    // The labels are still there, as text: markup unharmed, control characters visible.
    for expected in [
        "<b>&amp;\"'",
        "]]>",
        "A\\u{1}",
        "\\u{1b}[2J",
        "x\\u{7f}\\u{fffe}\\u{ffff}",
        "\\u{9b}0m",
        "\\u{1b}]0;pwned\\u{7} <run> & \"co\"",
        "tab\\u{9}here\\u{85}",
        "prompt q\\u{a}\\u{d}\\u{9}&amp;",
        "prompt p\\u{0}<",
        "A\\u{1} > <b>&amp;\"'",
        "bad\\u{1b}<name>",
    ] {
        assert!(
            all_text.contains(expected),
            "{expected:?} is not drawn:\n{all_text}"
        );
    }
}

#[test]
fn display_text_escapes_what_cannot_be_drawn() {
    assert_eq!(
        plot::display_text("plain é ü 日本 <&>"),
        "plain é ü 日本 <&>"
    );
    assert_eq!(plot::display_text("a\tb\nc"), "a\\u{9}b\\u{a}c");
    assert_eq!(
        plot::display_text("\u{0}\u{7f}\u{80}\u{9f}\u{fffe}\u{ffff}\u{fffd}"),
        "\\u{0}\\u{7f}\\u{80}\\u{9f}\\u{fffe}\\u{ffff}\u{fffd}"
    );
}

#[test]
fn escape_control_escapes_only_controls() {
    use std::borrow::Cow;
    assert!(matches!(
        escape_control("runs[0].beta ñ 日本 \u{fffe}"),
        Cow::Borrowed(_)
    ));
    assert_eq!(
        escape_control("\u{1b}]0;pwned\u{7}"),
        "\\u{1b}]0;pwned\\u{7}"
    );
    assert_eq!(
        escape_control("é\u{7f}ü\u{85}\u{9b}2J\r\n"),
        "é\\u{7f}ü\\u{85}\\u{9b}2J\\u{d}\\u{a}"
    );
}

/// No control character (C0, DEL, C1) in `text`.
fn assert_printable(text: &str) {
    assert!(
        !text.bytes().any(|b| b < 0x20 || b == 0x7f),
        "a control byte in {text:?}"
    );
    assert!(!text.chars().any(char::is_control), "a control in {text:?}");
}

#[test]
fn errors_never_carry_control_characters() {
    let base = r#"{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "B"}]"#;
    let cases = [
        // An unknown key, at the top and inside a run: its name is the error's path.
        format!(r#"{base}, "\u001b]0;pwned\u0007": 1}}"#),
        format!(r#"{base}, "runs": [{{"bet\u001b[2Ja": 1}}]}}"#),
        // A duplicate key.
        format!(r#"{base}, "\u009b2J": 1, "\u009b2J": 2}}"#),
        // Labels quoted in messages.
        r#"{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "\u001b[2J"}]}"#.into(),
        r#"{"outputs": ["A\u0007", "A\u0007"]}"#.into(),
        r#"{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "B"}], "runs": [{"loss": "\u001b[31m"}]}"#.into(),
    ];
    for text in &cases {
        let error = Scenario::from_json(text).expect_err(text);
        let shown = error.to_string();
        assert_printable(&shown);
        assert!(
            shown.contains("\\u{"),
            "the control is shown escaped: {shown}"
        );
    }
    let error = Scenario::from_json(&cases[0]).unwrap_err();
    assert_eq!(
        error.path, "\u{1b}]0;pwned\u{7}",
        "the path itself is kept as read"
    );
    assert!(
        error
            .to_string()
            .starts_with("\\u{1b}]0;pwned\\u{7}: unknown field"),
        "{error}"
    );
}

/// A title wider than its chart (a phone's width) loses words from its end, marked "…", and
/// fits; at a laptop's width it is whole.
#[test]
fn a_title_wider_than_the_chart_is_shortened_to_fit() {
    let _ = plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        include_bytes!("../assets/DejaVuSans.ttf"),
    );
    let scenario = Scenario::from_json(HOSTILE).unwrap();
    let mut set = scenario.run_set().unwrap();
    let mut history = History::new(set.runs().len(), 16);
    history.record(&set);
    set.step(2);
    history.record(&set);
    let names: Vec<String> = set.runs().iter().map(|r| r.config().name.clone()).collect();
    // Its title: "accuracy (share of pairs ranked right)".
    let metric = "accuracy";
    let title = |width: u32| {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, 300)).into_drawing_area();
            plot::draw_curves(&root, &history, &names, &[metric]).unwrap();
            root.present().unwrap();
        }
        let document = roxmltree::Document::parse(&svg).unwrap();
        let first = document
            .descendants()
            .find(|node| node.has_tag_name("text"))
            .unwrap();
        first.text().unwrap().trim().to_string()
    };
    let whole = title(900);
    assert!(!whole.ends_with('…') && whole.len() > 12, "{whole:?}");
    let short = title(150);
    assert!(short.ends_with('…'), "{short:?} (whole: {whole:?})");
    assert!(whole.starts_with(short.trim_end_matches('…')));
}
