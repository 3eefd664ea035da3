//! Bar charts as SVG, drawn on the server (the observance trends on the public site): plain
//! SVG with a title and a description for screen readers, every value also written as text
//! beside its bar, so that the chart reads without colour, scripts or a mouse.

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attribute, encode_text as text};

/// One bar: what it counts and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Its label.
    pub label: String,
    /// Its value.
    pub value: u64,
}

const WIDTH: u32 = 640;
const LABEL_WIDTH: u32 = 280;
const BAR_SPACE: u32 = 300;
const ROW: u32 = 28;
const TOP: u32 = 8;

/// A horizontal bar chart, one row per bar in the order given, bars scaled to the largest
/// value. `id` must be unique in the page (it names the title and description elements).
pub fn horizontal_bars(id: &str, title: &str, description: &str, bars: &[Bar]) -> String {
    let height = TOP * 2 + ROW * u32::try_from(bars.len()).unwrap_or(u32::MAX).max(1);
    let most = bars.iter().map(|b| b.value).max().unwrap_or(0);
    let id = attribute(id);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" class=\"chart\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n",
        text(title),
        text(description)
    );
    for (row, bar) in bars.iter().enumerate() {
        let y = TOP + ROW * u32::try_from(row).unwrap_or(u32::MAX);
        // Scaled to the largest, with at least a sliver for any count above zero.
        let length = bar
            .value
            .saturating_mul(u64::from(BAR_SPACE))
            .checked_div(most)
            .map_or(0, |scaled| {
                u32::try_from(scaled)
                    .unwrap_or(BAR_SPACE)
                    .max(u32::from(bar.value > 0) * 2)
            });
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\" fill=\"#111\">{}</text>\n<rect x=\"{}\" y=\"{}\" width=\"{length}\" height=\"{}\" fill=\"#1f4e8c\"></rect>\n<text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#111\">{}</text>\n",
            LABEL_WIDTH - 8,
            y + 18,
            text(&bar.label),
            LABEL_WIDTH,
            y + 5,
            ROW - 10,
            LABEL_WIDTH + length + 6,
            y + 18,
            bar.value
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_every_value_is_written() {
        let bars = [
            Bar {
                label: "1. Protect <individuals>".into(),
                value: 10,
            },
            Bar {
                label: "2. Protect the Internet".into(),
                value: 5,
            },
            Bar {
                label: "3. Defend electoral processes".into(),
                value: 1,
            },
        ];
        let svg = horizontal_bars("q4", "2026-Q4 & after", "Reports by principle", &bars);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\""));
        assert!(svg.contains("<title id=\"q4-title\">2026-Q4 &amp; after</title>"));
        assert!(svg.contains("Protect &lt;individuals&gt;"), "{svg}");
        assert!(svg.contains("width=\"300\"") && svg.contains("width=\"150\""));
        assert!(svg.contains("width=\"30\""));
        for value in [">10<", ">5<", ">1<"] {
            assert!(svg.contains(value), "{value} missing: {svg}");
        }
        // Nothing to draw is still a chart.
        let empty = horizontal_bars("e", "Nothing", "No reports", &[]);
        assert!(empty.contains("</svg>") && !empty.contains("<rect"));
    }
}
