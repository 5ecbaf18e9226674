import Foundation

/// Draws the training history as a small standalone SVG: train and validation loss per epoch
/// (left axis) and the learning rate (right axis, dashed).
enum LossPlot {
    static func svg(history: [EpochReport], width: Int = 640, height: Int = 360) -> String {
        let left = 64.0, right = 64.0, top = 28.0, bottom = 44.0
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        let epochs = history.map { Double($0.epoch + 1) }
        let losses = history.flatMap { [Double($0.trainLoss), Double($0.validationLoss)] }.filter(\.isFinite)
        let rates = history.map { Double($0.learningRate) }
        let (lo, hi) = paddedRange(losses)
        let (rateLo, rateHi) = paddedRange(rates)
        let maxEpoch = max(epochs.last ?? 1, 2)
        func x(_ e: Double) -> Double { left + (e - 1) / (maxEpoch - 1) * w }
        func y(_ v: Double, _ lo: Double, _ hi: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * h }
        func polyline(_ values: [Double], _ lo: Double, _ hi: Double, style: String) -> String {
            let points = zip(epochs, values).filter { $0.1.isFinite }
                .map { String(format: "%.1f,%.1f", x($0.0), y($0.1, lo, hi)) }.joined(separator: " ")
            return "<polyline fill=\"none\" \(style) points=\"\(points)\"/>"
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
        font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="16" text-anchor="middle" font-size="13">Training loss per epoch</text>
        <rect x="\(left)" y="\(top)" width="\(w)" height="\(h)" fill="none" stroke="#999"/>

        """
        for i in 0...4 {
            let fraction = Double(i) / 4
            let yy = top + fraction * h
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                          left, yy, left + w, yy)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", left - 6, yy + 4,
                          hi - fraction * (hi - lo))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%.2g</text>\n", left + w + 6, yy + 4,
                          rateHi - fraction * (rateHi - rateLo))
        }
        let tickStep = max(1, Int((maxEpoch / 10).rounded(.up)))
        for e in stride(from: 1, through: Int(maxEpoch), by: tickStep) {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
                          x(Double(e)), top + h + 16, e)
        }
        svg += "<text x=\"\(left + w / 2)\" y=\"\(Double(height) - 8)\" text-anchor=\"middle\">epoch</text>\n"
        svg += polyline(history.map { Double($0.trainLoss) }, lo, hi,
                        style: "stroke=\"#1f77b4\" stroke-width=\"2\"") + "\n"
        svg += polyline(history.map { Double($0.validationLoss) }, lo, hi,
                        style: "stroke=\"#d62728\" stroke-width=\"2\"") + "\n"
        svg += polyline(rates, rateLo, rateHi,
                        style: "stroke=\"#2ca02c\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\"") + "\n"
        let legend = [("train loss", "#1f77b4"), ("validation loss", "#d62728"),
                      ("learning rate (right axis)", "#2ca02c")]
        for (i, (label, color)) in legend.enumerated() {
            let ly = top + 14 + Double(i) * 15
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                  + "stroke=\"%@\" stroke-width=\"2\"/>",
                          left + w - 170, ly - 4, left + w - 150, ly - 4, color)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", left + w - 145, ly, label)
        }
        return svg + "</svg>\n"
    }

    private static func paddedRange(_ values: [Double]) -> (Double, Double) {
        guard let lo = values.min(), let hi = values.max() else { return (0, 1) }
        let pad = hi > lo ? (hi - lo) * 0.05 : max(abs(hi) * 0.05, 1e-6)
        return (lo - pad, hi + pad)
    }
}
