// The run report: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched)
// with line plots of train and validation loss, learning rate and throughput, and tables of the
// summary and the config. The plots are drawn here: axes with "nice" ticks, one polyline per series.

import Foundation

/// Writes `report.html`.
public enum ReportWriter {
    /// One line of a plot.
    public struct Series {
        /// Legend label.
        public var name: String
        /// CSS color.
        public var color: String
        /// Points (x, y), x ascending.
        public var points: [(Double, Double)]

        public init(name: String, color: String, points: [(Double, Double)]) {
            self.name = name; self.color = color; self.points = points
        }
    }

    /// The full report page.
    public static func html(config: TrainingConfig, summary: RunSummary, history: [StepMetrics],
                            evaluations: [EvalMetrics]) -> String {
        let train = history.map { (Double($0.step), $0.loss) }
        let smoothed = smooth(train, window: max(1, history.count / 50))
        var lossSeries = [Series(name: "train", color: "#9ab8e0", points: train)]
        if history.count > 50 { lossSeries.append(Series(name: "train (smoothed)", color: "#1f5fbf", points: smoothed)) }
        lossSeries.append(Series(name: "validation", color: "#d9480f", points: evaluations.map { (Double($0.step), $0.loss) }))
        if let u = summary.unigramEntropy, let last = history.last {
            lossSeries.append(Series(name: "unigram entropy", color: "#868e96", points: [(1, u), (Double(last.step), u)]))
        }
        let lr = Series(name: "learning rate", color: "#2b8a3e", points: history.map { (Double($0.step), $0.learningRate) })
        let tps = smooth(history.map { (Double($0.step), $0.seconds > 0 ? Double($0.tokens) / $0.seconds : 0) },
                         window: max(1, history.count / 50))
        let throughput = Series(name: "tokens/s", color: "#7048e8", points: tps)
        let configJSON = (try? TrainingRun.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Scion training report: \(escape(summary.output))</title>
        <style>
        body{font:14px/1.45 -apple-system,system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
        h1{font-size:22px}h2{font-size:17px;margin-top:28px}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
        .card{border:1px solid #ddd;border-radius:8px;padding:8px 12px;background:#fff}
        table{border-collapse:collapse}td{padding:2px 14px 2px 0;vertical-align:top}td:first-child{color:#555}
        pre{background:#f6f8fa;padding:12px;border-radius:6px;overflow:auto;font-size:12px}
        svg text{font:11px sans-serif;fill:#444}
        </style></head><body>
        <h1>Training report</h1>
        <p>\(escape(summary.output)) · \(summary.steps) steps · \(Format.count(summary.parameters)) parameters</p>
        <div class="grid">
        """
        page += card(plot(title: "Loss (nats/token)", series: lossSeries))
        page += card(plot(title: "Learning rate", series: [lr]))
        page += card(plot(title: "Throughput (tokens/s)", series: [throughput]))
        page += "</div>\n<h2>Summary</h2>\n<table>\n"
        for (k, v) in summary.rows { page += "<tr><td>\(escape(k))</td><td>\(escape(v))</td></tr>\n" }
        page += "</table>\n<h2>Config</h2>\n<pre>\(escape(configJSON))</pre>\n</body></html>\n"
        return page
    }

    static func card(_ s: String) -> String { "<div class=\"card\">\(s)</div>\n" }

    /// A moving average over `window` points.
    static func smooth(_ p: [(Double, Double)], window: Int) -> [(Double, Double)] {
        guard window > 1, p.count > window else { return p }
        var out: [(Double, Double)] = []
        var sum = 0.0
        for i in 0..<p.count {
            sum += p[i].1
            if i >= window { sum -= p[i - window].1 }
            if i >= window - 1 { out.append((p[i].0, sum / Double(window))) }
        }
        return out
    }

    /// Escapes text for HTML.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// About five round tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let span = hi - lo
        guard span > 0, span.isFinite else { return [lo] }
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.1e", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        return String(format: "%.3g", v)
    }

    /// An SVG line plot of `series` with axes, ticks and a legend.
    public static func plot(title: String, series: [Series], width: Double = 460, height: Double = 260) -> String {
        let (left, right, top, bottom) = (56.0, 12.0, 40.0, 30.0)
        let all = series.flatMap { $0.points }.filter { $0.0.isFinite && $0.1.isFinite }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">\n"
        svg += "<text x=\"\(left)\" y=\"16\" style=\"font-weight:bold;font-size:13px\">\(escape(title))</text>\n"
        guard !all.isEmpty else { return svg + "<text x=\"\(left)\" y=\"\(height / 2)\">no data yet</text></svg>" }
        var (x0, x1) = (all.map(\.0).min()!, all.map(\.0).max()!)
        var (y0, y1) = (all.map(\.1).min()!, all.map(\.1).max()!)
        if x1 == x0 { x0 -= 1; x1 += 1 }
        if y1 == y0 { let d = abs(y0) * 0.1 + 1e-12; y0 -= d; y1 += d }
        let pad = (y1 - y0) * 0.05
        y0 -= pad; y1 += pad
        let pw = width - left - right, ph = height - top - bottom
        func sx(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func sy(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * ph }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fcfcfd\" stroke=\"#ccc\"/>\n"
        for t in ticks(y0, y1) {
            let y = sy(t)
            svg += "<line x1=\"\(left)\" x2=\"\(left + pw)\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label(t))</text>\n"
        }
        for t in ticks(x0, x1) {
            let x = sx(t)
            svg += "<line x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(top + ph)\" y2=\"\(top + ph + 4)\" stroke=\"#999\"/>"
            svg += "<text x=\"\(f(x))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(label(t))</text>\n"
        }
        svg += "<text x=\"\(left + pw / 2)\" y=\"\(height - 2)\" text-anchor=\"middle\">step</text>\n"
        var legendX = left
        for s in series where !s.points.isEmpty {
            let pts = s.points.filter { $0.0.isFinite && $0.1.isFinite }
            if pts.count == 1 {
                svg += "<circle cx=\"\(f(sx(pts[0].0)))\" cy=\"\(f(sy(pts[0].1)))\" r=\"3\" fill=\"\(s.color)\"/>\n"
            } else {
                let d = pts.map { "\(f(sx($0.0))),\(f(sy($0.1)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.6\" points=\"\(d)\"/>\n"
            }
            if series.count > 1 {
                svg += "<rect x=\"\(f(legendX))\" y=\"27\" width=\"10\" height=\"3\" fill=\"\(s.color)\"/>"
                svg += "<text x=\"\(f(legendX + 13))\" y=\"32\">\(escape(s.name))</text>\n"
                legendX += Double(s.name.count) * 6.2 + 28
            }
        }
        return svg + "</svg>"
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
