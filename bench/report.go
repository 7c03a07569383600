package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"goos"`
	Arch       string `json:"goarch"`
	Kernel     string `json:"kernel,omitempty"`
}

// ThisMachine describes the machine this process runs on.
func ThisMachine() Machine {
	m := Machine{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s %s/%s", m.CPU, m.Cores, m.GOMAXPROCS, m.Go, m.OS, m.Arch)
	if m.Kernel != "" {
		s += ", kernel " + m.Kernel
	}
	return s
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown CPU"
}

// Report is a whole bench run, as --json prints it.
type Report struct {
	Machine Machine       `json:"machine"`
	Setup   Setup         `json:"setup"`
	Runs    []Result      `json:"runs,omitempty"`
	Conns   []ConnsResult `json:"conns,omitempty"`
}

// Setup is what every run of a report shared.
type Setup struct {
	Seconds  float64 `json:"duration_s,omitempty"` // per run, when not by messages
	Messages int     `json:"messages_per_client,omitempty"`
	Size     int     `json:"size,omitempty"`
	Framing  string  `json:"framing,omitempty"`
	Rounds   int     `json:"rounds,omitempty"`
	Addr     string  `json:"addr,omitempty"` // an external server's
	Note     string  `json:"note,omitempty"`
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as aligned text: the machine, the setup,
// one row per result, then a note for each run that had errors.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "machine: %s\n", r.Machine)
	if s := r.Setup; s.Size > 0 {
		how := fmt.Sprintf("%gs per row", s.Seconds)
		if s.Messages > 0 {
			how = fmt.Sprintf("%d messages per client per row", s.Messages)
		}
		where := "in-process servers"
		if s.Addr != "" {
			where = "server at " + s.Addr
		}
		fmt.Fprintf(w, "setup: %s, %d-byte messages, %s framing, %s", how, s.Size, s.Framing, where)
		if s.Rounds > 1 {
			fmt.Fprintf(w, ", each row %d short runs merged", s.Rounds)
		}
		fmt.Fprintln(w)
		if s.Note != "" {
			fmt.Fprintf(w, "note: %s\n", s.Note)
		}
	}
	if len(r.Runs) > 0 {
		fmt.Fprintln(w)
		if err := writeRuns(w, r.Runs); err != nil {
			return err
		}
	}
	if len(r.Conns) > 0 {
		fmt.Fprintln(w)
		if err := writeConns(w, r.Conns); err != nil {
			return err
		}
	}
	return nil
}

func writeRuns(w io.Writer, runs []Result) error {
	vsBare := false
	for _, r := range runs {
		vsBare = vsBare || r.VsBare != nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "TRANSPORT\tAPI\tSERVER\tCLIENTS\tSERVED\tSIZE\tMESSAGES\tMSG/S\tMB/S\tVS TCP\t"
	if vsBare {
		head += "VS BARE\t"
	}
	fmt.Fprintln(tw, head+"P50\tP90\tP99\tMAX\tERRORS\tLOST")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t", r.Transport, r.API, r.Server, r.Clients)
		if r.Skipped != "" {
			fmt.Fprintf(tw, "-\t%d\tskipped: %s\n", r.Size, r.Skipped)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.2f\t%s\t", r.Served, r.Size, r.Messages, r.Rate, r.MBPerSec, ratio(r.VsTCP))
		if vsBare {
			fmt.Fprintf(tw, "%s\t", withInterval(r.VsBare, r.VsBareCI))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", micros(r.P50), micros(r.P90), micros(r.P99), micros(r.Max), r.Errors, r.Lost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range runs {
		if r.FirstError != "" {
			fmt.Fprintf(w, "errors in %s %s %s with %s: %d, the first: %s\n", r.API, r.Transport, r.Server, plural(r.Clients, "client"), r.Errors, r.FirstError)
		}
	}
	return nil
}

func ratio(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

// withInterval prints a ratio and its confidence interval: 0.99 (0.97-1.01).
func withInterval(v *float64, ci []float64) string {
	if v == nil || len(ci) != 2 {
		return ratio(v)
	}
	return fmt.Sprintf("%.2f (%.2f-%.2f)", *v, ci[0], ci[1])
}

// micros prints a latency given in microseconds with a unit that suits it.
func micros(us float64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%.1fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.2fs", us/1e6)
}

func writeConns(w io.Writer, cs []ConnsResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSPORT\tAPI\tCONNECTIONS\tHELD\tANSWERED TWICE\tSERVER RSS BEFORE\tAFTER\tPER CONNECTION\tTARGET\tERRORS")
	for _, c := range cs {
		if c.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t%d\tskipped: %s\n", c.Transport, c.API, c.Conns, c.Skipped)
			continue
		}
		verdict := "ok"
		switch {
		case c.PerConnKiB > c.TargetKiB:
			verdict = "OVER"
		case !c.WithinTarget:
			verdict = "not all held"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f MiB\t%.1f MiB\t%.2f KiB\t≤ %g KiB %s\t%d\n", c.Transport, c.API, c.Conns, c.Held, c.Answered,
			float64(c.RSSBefore)/(1<<20), float64(c.RSSAfter)/(1<<20), c.PerConnKiB, c.TargetKiB, verdict, c.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range cs {
		if c.FirstError != "" {
			fmt.Fprintf(w, "errors with %s: %d, the first: %s\n", c.Transport, c.Errors, c.FirstError)
		}
	}
	return nil
}
