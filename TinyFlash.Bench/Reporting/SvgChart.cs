using System.Globalization;
using System.Text;

namespace TinyFlash.Bench.Reporting;

/// <summary>
/// A grid of small line charts in SVG: one panel per configuration, throughput against sequence length (log scale),
/// one line per implementation. Written by hand rather than with a plotting package: it is a hundred lines, needs no
/// native library (the GPU machine and CI have no fonts or Skia), and keeps the single-file bench small enough to
/// carry to the GPU machine.
/// </summary>
internal static class SvgChart
{
    private const int PanelWidth = 300, PanelHeight = 220, Left = 48, Top = 28, Right = 12, Bottom = 36, Columns = 4;

    /// <summary>Series colours, in the order implementations are listed.</summary>
    private static readonly string[] Colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

    /// <param name="title">Heading above the panels.</param>
    /// <param name="panels">Each panel: its title and, per implementation, (sequence length, TFLOP/s) points.</param>
    /// <param name="implementations">The implementations, in legend order (colours follow it).</param>
    public static string Render(string title, IReadOnlyList<(string Title, IReadOnlyDictionary<string, IReadOnlyList<(int Seq, double Tflops)>> Series)> panels,
        IReadOnlyList<string> implementations)
    {
        int rows = (panels.Count + Columns - 1) / Columns;
        int width = Columns * PanelWidth, height = 60 + rows * PanelHeight;
        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n"));
        svg.Append(Invariant($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        svg.Append(Invariant($"<text x=\"{width / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n"));
        for (int i = 0; i < implementations.Count; i++)
        {
            double x = 20 + i * 170;
            svg.Append(Invariant($"<line x1=\"{x}\" y1=\"38\" x2=\"{x + 24}\" y2=\"38\" stroke=\"{Colors[i % Colors.Length]}\" stroke-width=\"2.5\"/>"));
            svg.Append(Invariant($"<text x=\"{x + 30}\" y=\"42\">{Escape(implementations[i])}</text>\n"));
        }
        for (int p = 0; p < panels.Count; p++)
            Panel(svg, 60 + p / Columns * PanelHeight, p % Columns * PanelWidth, panels[p].Title, panels[p].Series, implementations);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void Panel(StringBuilder svg, double y0, double x0, string title,
        IReadOnlyDictionary<string, IReadOnlyList<(int Seq, double Tflops)>> series, IReadOnlyList<string> implementations)
    {
        var points = series.Values.SelectMany(s => s).ToArray();
        if (points.Length == 0)
            return;
        double minLog = Math.Log2(points.Min(p => p.Seq)), maxLog = Math.Max(minLog + 1, Math.Log2(points.Max(p => p.Seq)));
        double yMax = NiceCeiling(points.Max(p => p.Tflops));
        double plotW = PanelWidth - Left - Right, plotH = PanelHeight - Top - Bottom;
        double X(int seq) => x0 + Left + (Math.Log2(seq) - minLog) / (maxLog - minLog) * plotW;
        double Y(double v) => y0 + Top + plotH - v / yMax * plotH;

        svg.Append(Invariant($"<text x=\"{x0 + Left + plotW / 2}\" y=\"{y0 + 16}\" text-anchor=\"middle\" font-weight=\"bold\">{Escape(title)}</text>\n"));
        for (int t = 0; t <= 4; t++)
        {
            double v = yMax * t / 4, y = Y(v);
            svg.Append(Invariant($"<line x1=\"{x0 + Left}\" y1=\"{y:F1}\" x2=\"{x0 + Left + plotW}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>"));
            svg.Append(Invariant($"<text x=\"{x0 + Left - 4}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{v:0}</text>\n"));
        }
        foreach (int seq in points.Select(p => p.Seq).Distinct().Order())
            svg.Append(Invariant($"<text x=\"{X(seq):F1}\" y=\"{y0 + Top + plotH + 14}\" text-anchor=\"middle\" font-size=\"9\">{(seq >= 1024 ? $"{seq / 1024}k" : seq.ToString(CultureInfo.InvariantCulture))}</text>\n"));
        svg.Append(Invariant($"<text x=\"{x0 + Left + plotW / 2}\" y=\"{y0 + PanelHeight - 6}\" text-anchor=\"middle\" font-size=\"10\">sequence length (TFLOP/s on the left)</text>\n"));
        for (int i = 0; i < implementations.Count; i++)
        {
            if (!series.TryGetValue(implementations[i], out var line) || line.Count == 0)
                continue;
            string path = string.Join(" ", line.OrderBy(p => p.Seq).Select(p => Invariant($"{X(p.Seq):F1},{Y(p.Tflops):F1}")));
            svg.Append(Invariant($"<polyline fill=\"none\" stroke=\"{Colors[i % Colors.Length]}\" stroke-width=\"2\" points=\"{path}\"/>\n"));
        }
    }

    private static double NiceCeiling(double value)
    {
        double step = Math.Pow(10, Math.Floor(Math.Log10(Math.Max(value, 1e-9))));
        foreach (double m in new[] { 1, 2, 2.5, 5, 10 })
            if (m * step >= value)
                return m * step;
        return 10 * step;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
