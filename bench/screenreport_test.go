//go:build linux

package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func printScreenTable(w io.Writer, r *screenResult) {
	peer := "Tether alone (no peer)"
	if r.Peer != nil {
		peer = "Tether vs " + vncName(r) + " + websockify + noVNC"
	}
	desk := "Xvfb"
	if r.Desktop == "sway" {
		desk = "headless sway (Wayland; workloads on its Xwayland)"
	}
	fmt.Fprintf(w, "\nScreen-share benchmark: %s (%s %s, %s, %d cores, %.0f s)\n", peer, desk, r.Display, r.Browser, r.Cores, r.WallSeconds)
	if len(r.Sessions) > 0 {
		fmt.Fprintf(w, "\nPOST /api/v1/sessions (unattended) → first complete frame drawn on the viewer, ms since the POST was sent:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "session\tPOST answered\thanded to helper\tviewer page\tpeer connected\t1st screen msg\tFIRST FRAME\t(polled)\tKiB to 1st frame\tend → helper ended\t")
		for i, s := range r.Sessions {
			fmt.Fprintf(tw, "%d\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%.0f\t\n", i+1, s.PostMS, s.HandedMS, s.PageMS,
				s.ConnectedMS, s.FirstMessageMS, s.FirstFrameMS, s.PolledMS, s.FirstFrameBytes>>10, s.EndMS)
		}
		tw.Flush()
		fmt.Fprintf(w, "first frame: median %.1f ms, max %.1f ms, min %.1f ms (n=%d)\n", r.FirstFrameMS.Median, r.FirstFrameMS.Max, r.FirstFrameMS.Min, r.FirstFrameMS.N)
	}

	if len(r.Idle) > 0 {
		fmt.Fprintf(w, "\nIdle desktop, %.0f s windows (serving = Tether's agent service + session helper, or %s; %% of one core; RSS in MB):\n", r.Settings.IdleSeconds, vncName(r))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  system\tviewer\tserving CPU %\tparts\tRSS end MB\tRSS peak MB\twebsockify CPU % / RSS MB\tframes drawn")
		for _, x := range r.Idle {
			v := "none"
			if x.Viewer {
				v = "open"
			}
			parts, rss, ws := "", "", "-"
			if x.System == "tether" {
				parts = fmt.Sprintf("service %.2f, helper %.2f", x.CPU["agent_service"], x.CPU["agent_helper"])
				rss = fmt.Sprintf("%.1f (%.1f + %.1f)", mb(x.RSSTotal), mb(x.RSS["agent_service"]), mb(x.RSS["agent_helper"]))
			} else {
				parts = fmt.Sprintf("%s %.2f", vncName(r), x.CPU[vncName(r)])
				rss = fmt.Sprintf("%.1f", mb(x.RSSTotal))
				ws = fmt.Sprintf("%.2f / %.1f", x.CPU["websockify"], mb(x.RSS["websockify"]))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%.2f\t%s\t%s\t%.1f\t%s\t%d\n", x.System, v, x.ServingCPU, parts, rss, mb(x.PeakTotal), ws, x.Frames)
		}
		tw.Flush()
	}

	if len(r.Workloads) > 0 {
		fmt.Fprintf(w, "\nWorkloads: median of %d windows of %.0f s per system (alternating order, %.0f s warm-up each); ratio = Tether / peer\n",
			r.Settings.Reps, r.Settings.WindowSeconds, r.Settings.WarmupSeconds)
		fmt.Fprintf(w, "g2g = glass to glass (marker painted on the display → the viewer's canvas shows it); wire = the viewer's hop on loopback, headers included\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tsystem\tg2g p50 ms\t(by window)\tg2g p95 ms\tmissed\tframes/s\twire KiB/s\tpayload KiB/s\tserving CPU %\twebsockify CPU %\tbrowser CPU %\tpeak RSS MB\t1st frame ms\t")
		for _, wl := range r.Workloads {
			name := fmt.Sprintf("%s", wl.Name)
			if wl.Rate > 0 {
				name = fmt.Sprintf("%s (%.0f %s/s)", wl.Name, wl.WorkPerSec, wl.Work.Unit)
			}
			row := func(label string, s *systemSummary) {
				if s == nil {
					return
				}
				ws := "-"
				if label == "peer" {
					ws = fmt.Sprintf("%.1f", s.ProxyCPU)
				}
				var by []string
				for _, v := range s.WindowP50s {
					by = append(by, fmt.Sprintf("%.0f", v))
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%.1f\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%.1f\t%.1f\t%.0f\t\n", name, label,
					s.LatencyP50, strings.Join(by, "/"), s.LatencyP95, s.Missed, s.Markers, s.FPS, s.WireBPS/1024, s.PayloadBPS/1024, s.ServingCPU, ws, s.BrowserCPU, mb(s.PeakRSS), s.OpenMS)
				name = ""
			}
			row("tether", wl.Tether)
			row("peer", wl.Peer)
			row("tether-ws", wl.WS)
			if t, p := wl.Tether, wl.Peer; t != nil && p != nil {
				fmt.Fprintf(tw, "\tratio\t%s\t\t%s\t\t%s\t%s\t%s\t%s\t\t%s\t%s\t\t\n",
					ratio(t.LatencyP50, p.LatencyP50), ratio(t.LatencyP95, p.LatencyP95), ratio(t.FPS, p.FPS),
					ratio(t.WireBPS, p.WireBPS), ratio(t.PayloadBPS, p.PayloadBPS), ratio(t.ServingCPU, p.ServingCPU),
					ratio(t.BrowserCPU, p.BrowserCPU), ratio(float64(t.PeakRSS), float64(p.PeakRSS)))
			}
			if ws, t := wl.WS, wl.Tether; ws != nil && t != nil {
				fmt.Fprintf(tw, "\tws/webrtc\t%s\t\t%s\t\t%s\t%s\t%s\t%s\t\t%s\t%s\t\t\n",
					ratio(ws.LatencyP50, t.LatencyP50), ratio(ws.LatencyP95, t.LatencyP95), ratio(ws.FPS, t.FPS),
					ratio(ws.WireBPS, t.WireBPS), ratio(ws.PayloadBPS, t.PayloadBPS), ratio(ws.ServingCPU, t.ServingCPU),
					ratio(ws.BrowserCPU, t.BrowserCPU), ratio(float64(ws.PeakRSS), float64(t.PeakRSS)))
			}
		}
		tw.Flush()

		fmt.Fprintf(w, "\nTether pipeline stages per workload: the helper's capture and encode packages in this process, same display and workload, no viewer open, ticks every 33 ms, damage asked first as the helper does:\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tsource\tcaptured/ticks\tdamaged % of screen\tcapture p50/p95 ms\tencode p50/p95 ms\tKiB/frame\tmsgs/frame\tserial ceiling fps\tfirst (cold) capture / encode ms, KiB\t")
		for _, wl := range r.Workloads {
			s := wl.Stages
			if s == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%.1f\t%.1f / %.1f\t%.1f / %.1f\t%.1f\t%.1f\t%.1f\t%.1f / %.1f, %d\t\n", wl.Name, s.Source, s.Captured, s.Frames, s.DamagedPercent,
				s.CaptureP50MS, s.CaptureP95MS, s.EncodeP50MS, s.EncodeP95MS, s.BytesPerFrame/1024, s.MsgsPerFrame, s.MaxFPSFromStage, s.FullCaptureMS, s.FullEncodeMS, s.FullBytes>>10)
		}
		tw.Flush()
	}
	if fc := r.FullCapture; fc != nil {
		fmt.Fprintf(w, "full-frame capture (%s, %d in a row, whole 1920x1080 screen each): p50 %.1f ms, p95 %.1f ms, min %.1f ms\n", fc.Source, fc.N, fc.P50MS, fc.P95MS, fc.MinMS)
	}

	if len(r.Acceptance) > 0 {
		fmt.Fprintf(w, "\nIssue 4 acceptance, as this run measured it (reported, not enforced; final figures on a quiet machine):\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range r.Acceptance {
			mark := "n/a"
			if a.Met != nil {
				mark = "NOT MET"
				if *a.Met {
					mark = "met"
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark, a.Point, a.Value)
		}
		tw.Flush()
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "problem: "+p)
	}
	for _, x := range r.Warnings {
		fmt.Fprintln(w, "warning: "+x)
	}
	fmt.Fprintln(w)
}

// ratio is a/b with two decimals, or "-" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "-"
		}
		return "inf"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", a/b), "0"), ".")
}

func mb(b int64) float64 { return float64(b) / 1e6 }

// vncName is the peer's VNC server in run r.
func vncName(r *screenResult) string {
	if r.Desktop == "sway" {
		return "wayvnc"
	}
	return "x11vnc"
}
