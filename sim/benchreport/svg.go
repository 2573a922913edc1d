package main

import (
	"fmt"
	"math"
	"strings"
)

// series is one line of a chart.
type series struct {
	Name  string
	Color string
	Dash  bool
	Y     []float64 // one per x; NaN leaves a gap
}

// panel is one chart: x on a log scale, y linear or log.
type panel struct {
	Title, XLabel, YLabel string
	X                     []float64
	YLog                  bool
	Series                []series
}

// plotSVG draws panels side by side and returns the SVG document.
func plotSVG(title string, panels ...panel) string {
	const (
		pw, ph         = 440, 300 // panel size
		ml, mr, mt, mb = 64, 16, 52, 48
	)
	w := pw * len(panels)
	h := ph + 34
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", w/2, esc(title))
	for i, p := range panels {
		ox, oy := i*pw, 30
		x0, x1 := float64(ox+ml), float64(ox+pw-mr)
		y0, y1 := float64(oy+ph-mb), float64(oy+mt)
		lx := func(v float64) float64 { return math.Log10(v) }
		xmin, xmax := lx(p.X[0]), lx(p.X[len(p.X)-1])
		if xmax == xmin {
			xmax = xmin + 1
		}
		sx := func(v float64) float64 { return x0 + (lx(v)-xmin)/(xmax-xmin)*(x1-x0) }
		ymin, ymax := math.Inf(1), math.Inf(-1)
		for _, s := range p.Series {
			for _, v := range s.Y {
				if !math.IsNaN(v) && v > 0 {
					ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
				}
			}
		}
		if math.IsInf(ymin, 0) {
			ymin, ymax = 1, 10
		}
		var ticks []float64
		var sy func(float64) float64
		if p.YLog {
			lo, hi := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
			if hi == lo {
				hi++
			}
			sy = func(v float64) float64 { return y0 - (math.Log10(v)-lo)/(hi-lo)*(y0-y1) }
			for e := lo; e <= hi; e++ {
				ticks = append(ticks, math.Pow(10, e))
			}
		} else {
			top := niceCeil(ymax * 1.1)
			sy = func(v float64) float64 { return y0 - v/top*(y0-y1) }
			for k := 0; k <= 5; k++ {
				ticks = append(ticks, top*float64(k)/5)
			}
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle" font-size="12" font-weight="bold">%s</text>`+"\n", (x0+x1)/2, oy+mt-26, esc(p.Title))
		for _, t := range ticks {
			y := sy(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-4, y+4, fmtTick(t))
		}
		for _, xv := range p.X {
			x := sx(xv)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, y0, x, y1)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+14, fmtTick(xv))
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", x0, y1, x1-x0, y0-y1)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, y0+32, esc(p.XLabel))
		fmt.Fprintf(&b, `<text transform="translate(%d %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", ox+14, (y0+y1)/2, esc(p.YLabel))
		for k, s := range p.Series {
			var pts []string
			for j, v := range s.Y {
				if j >= len(p.X) || math.IsNaN(v) || (p.YLog && v <= 0) {
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(p.X[j]), sy(v)))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", sx(p.X[j]), sy(v), s.Color)
			}
			dash := ""
			if s.Dash {
				dash = ` stroke-dasharray="5,4"`
			}
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.Color, dash)
			}
			// The legend: one row between the title and the plot.
			lx, ly := x0+float64(k)*110, y1-8
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+18, ly-4, s.Color, dash)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+22, ly, esc(s.Name))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func fmtTick(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%gk", v/1000)
	case v >= 1:
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	default:
		return fmt.Sprintf("%g", v)
	}
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
