package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints one report as an aligned table.
func WriteTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "server=%s mode=%s client=%s addr=%s share=%s signing-required-by-client=%v started=%s\n",
		rep.Server, rep.Mode, rep.Client, rep.Config.Addr, rep.Config.Share, rep.Config.RequireSigning, rep.Started.Format("2006-01-02T15:04:05Z"))
	if rep.ClientInfo != "" {
		fmt.Fprintf(w, "client: %s\n", rep.ClientInfo)
	}
	if rep.LoadBefore != "" {
		fmt.Fprintf(w, "loadavg before: %s, after: %s\n", rep.LoadBefore, rep.LoadAfter)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tvalue\tunit\tops\tMiB\tseconds\tp50 us\tp99 us\tverified\t")
	for _, r := range rep.Results {
		val := fmt.Sprintf("%.1f", r.Value)
		switch {
		case r.Error != "":
			val = "ERROR"
		case r.Unsupported != "":
			val = "unsupported"
		}
		ver := fmt.Sprintf("%.1f MiB", float64(r.Verified)/(1<<20))
		if r.Unit == "entries/s" {
			ver = fmt.Sprintf("%d entries", r.Verified)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%.2f\t%s\t%s\t%s\t\n", r.Name, val, r.Unit, r.Ops,
			float64(r.Bytes)/(1<<20), r.Seconds, us(r.P50us), us(r.P99us), ver)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "  %s: ERROR: %s\n", r.Name, r.Error)
		}
		if r.Unsupported != "" {
			fmt.Fprintf(w, "  %s: unsupported: %s\n", r.Name, r.Unsupported)
		}
	}
	return nil
}

func us(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

// WriteJSON writes reports (one run, or several for a comparison) to path.
func WriteJSON(path string, reps ...*Report) error {
	b, err := json.MarshalIndent(reps, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads the reports WriteJSON wrote.
func ReadJSON(path string) ([]*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reps []*Report
	if err := json.Unmarshal(b, &reps); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return reps, nil
}

// Compare prints, for every mode that has both servers, a markdown table
// of the two servers' values and their ratio (subject/reference; above 1
// means subject is faster, since every value is a rate), then a summary of
// the ratios of every workload across modes.
func Compare(w io.Writer, reps []*Report, subject, reference string) error {
	var modes []string
	groups := map[[2]string][]*Report{}
	for _, r := range reps {
		m := modeLabel(r)
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
		k := [2]string{m, r.Server}
		groups[k] = append(groups[k], r)
	}
	by := map[[2]string]*Report{}
	for k, g := range groups {
		by[k] = best(g)
	}
	summary := map[string]map[string]string{} // workload -> mode -> ratio
	var workloads []string
	var used []string
	for _, m := range modes {
		s, ref := by[[2]string{m, subject}], by[[2]string{m, reference}]
		if s == nil || ref == nil {
			fmt.Fprintf(w, "mode %s: missing %s or %s report; skipped\n\n", m, subject, reference)
			continue
		}
		used = append(used, m)
		fmt.Fprintf(w, "### mode: %s (best of %d %s and %d %s run(s), client %s)\n\n", m,
			len(groups[[2]string{m, subject}]), subject, len(groups[[2]string{m, reference}]), reference, clientName(s))
		for _, x := range []*Report{s, ref} {
			if x.ClientInfo != "" {
				fmt.Fprintf(w, "- %s: %s\n", x.Server, x.ClientInfo)
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "| workload | unit | %s | %s | %s/%s | %s p50/p99 us | %s p50/p99 us |\n", subject, reference, subject, reference, subject, reference)
		fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, sr := range s.Results {
			var rr *Result
			for i := range ref.Results {
				if ref.Results[i].Name == sr.Name {
					rr = &ref.Results[i]
				}
			}
			if rr == nil {
				continue
			}
			if !slices.Contains(workloads, sr.Name) {
				workloads = append(workloads, sr.Name)
			}
			ratio := "n/a"
			if ok(sr) && ok(*rr) && rr.Value > 0 {
				ratio = fmt.Sprintf("%.2f", sr.Value/rr.Value)
			}
			if summary[sr.Name] == nil {
				summary[sr.Name] = map[string]string{}
			}
			summary[sr.Name][m] = ratio
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", sr.Name, sr.Unit, show(sr), show(*rr), ratio, lat(sr), lat(*rr))
		}
		fmt.Fprintln(w)
		for _, x := range []*Report{s, ref} {
			for _, r := range x.Results {
				if r.Error != "" {
					fmt.Fprintf(w, "- %s %s: error: %s\n", x.Server, r.Name, r.Error)
				}
				if r.Unsupported != "" {
					fmt.Fprintf(w, "- %s %s: unsupported: %s\n", x.Server, r.Name, r.Unsupported)
				}
			}
		}
		fmt.Fprintln(w)
	}
	if len(used) == 0 {
		return fmt.Errorf("bench: no mode has both a %s and a %s report", subject, reference)
	}
	fmt.Fprintf(w, "### %s/%s ratio per workload and mode (above 1: %s faster)\n\n", subject, reference, subject)
	fmt.Fprintf(w, "| workload | %s |\n|---|%s\n", strings.Join(used, " | "), strings.Repeat("---:|", len(used)))
	for _, wl := range workloads {
		var cells []string
		for _, m := range used {
			c := summary[wl][m]
			if c == "" {
				c = "-"
			}
			cells = append(cells, c)
		}
		fmt.Fprintf(w, "| %s | %s |\n", wl, strings.Join(cells, " | "))
	}
	return nil
}

// modeLabel names a report's column: the mode, with the client added
// when it is not the default one, so runs of two clients stay apart.
func modeLabel(r *Report) string {
	if r.Client == "" || r.Client == ClientFast {
		return r.Mode
	}
	return r.Mode + " (" + r.Client + ")"
}

func clientName(r *Report) string {
	if r.Client == "" {
		return "unrecorded"
	}
	return r.Client
}

func ok(r Result) bool { return r.Error == "" && r.Unsupported == "" }

func show(r Result) string {
	switch {
	case r.Error != "":
		return "error"
	case r.Unsupported != "":
		return "unsupported"
	}
	return fmt.Sprintf("%.1f", r.Value)
}

func lat(r Result) string {
	if r.P50us == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f / %.0f", r.P50us, r.P99us)
}

// best merges repeated runs of one server in one mode: per workload the
// highest value (the run least disturbed by other work on the machine),
// except that an error in any run is kept, since a wrong answer is not
// made right by a fast one.
func best(g []*Report) *Report {
	if len(g) == 1 {
		return g[0]
	}
	out := *g[0]
	out.Results = nil
	idx := map[string]int{}
	for _, rep := range g {
		for _, r := range rep.Results {
			i, seen := idx[r.Name]
			if !seen {
				idx[r.Name] = len(out.Results)
				out.Results = append(out.Results, r)
				continue
			}
			cur := &out.Results[i]
			switch {
			case cur.Error != "":
			case r.Error != "":
				*cur = r
			case ok(r) && (!ok(*cur) || r.Value > cur.Value):
				*cur = r
			}
		}
	}
	return &out
}
