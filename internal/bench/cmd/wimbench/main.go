// Command wimbench compares wdscapture with wimlib on the same input in
// the same run: capture (none, XPRESS, LZX at 1 and 2 threads; ours with
// its default verification and with --verify=false, wimlib without one)
// and read-back (verify), printing wall time, CPU time, output size and peak
// memory, and our/wimlib ratios. With -imagestore it adds the image
// store's rows (store.go) and the upload's against the store's local add
// (upload.go). It is a benchmark report, not a test.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type measure struct {
	wall, cpu time.Duration
	rssKiB    int64
	size      int64
}

func run(out io.Writer, name string, args ...string) (measure, error) {
	// Flush the previous run's dirty pages first, so one tool's output is
	// not written back to disk while the other one is being measured.
	syscall.Sync()
	cmd := exec.Command(name, args...)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	m := measure{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.rssKiB = ru.Maxrss
		}
	}
	if err != nil {
		return m, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, buf.String())
	}
	return m, nil
}

// walls lists the wall times of ms in seconds.
func walls(ms []measure) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.2f", m.wall.Seconds())
	}
	return b.String()
}

// pairRatios is the median and range of the wall-time ratios ours[i] /
// ref[i], round by round.
func pairRatios(ours, ref []measure) string {
	var rs []float64
	for i := range min(len(ours), len(ref)) {
		if ref[i].wall > 0 {
			rs = append(rs, ours[i].wall.Seconds()/ref[i].wall.Seconds())
		}
	}
	if len(rs) == 0 {
		return "-"
	}
	slices.Sort(rs)
	return fmt.Sprintf("%s (%.2f-%.2f)", medianRatio(rs), rs[0], rs[len(rs)-1])
}

// median returns the median wall and CPU time (each on its own) and the
// largest peak RSS of ms.
func median(ms []measure) measure {
	walls := make([]time.Duration, len(ms))
	cpus := make([]time.Duration, len(ms))
	var m measure
	for i, x := range ms {
		walls[i], cpus[i] = x.wall, x.cpu
		m.rssKiB = max(m.rssKiB, x.rssKiB)
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	m.wall, m.cpu = walls[len(ms)/2], cpus[len(ms)/2]
	return m
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", a/b)
}

func main() {
	corpus := flag.String("corpus", "build/corpus", "directory tree to capture")
	ntfsImage := flag.String("ntfs", "", "also capture this NTFS image (wimlib's NTFS-3G mode vs our raw-NTFS reader)")
	ours := flag.String("wdscapture", "bin/wdscapture", "our binary")
	outDir := flag.String("out", "build/bench", "where the WIMs and the report go")
	comps := flag.String("compress", "none,XPRESS,LZX", "compression types to compare")
	threads := flag.String("threads", "1,2", "thread counts to compare")
	rounds := flag.Int("rounds", 3, "captures per tool and configuration; the median is reported")
	storeBin := flag.String("imagestore", "", "our image store binary: adds the image store rows (add vs wimverify, export vs wimexport, res.rwm growth, upload vs add, re-upload)")
	only := flag.String("only", "", `run one section: "capture", "decode" (verify the WIMs of an earlier run, or of a new capture of each), "store" (with the upload) or "upload"`)
	flag.Parse()
	doCapture := *only != "store" && *only != "upload" && *only != "decode"
	if *rounds < 1 {
		fatal(fmt.Errorf("-rounds must be at least 1"))
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fatal(err)
	}
	report, err := os.Create(filepath.Join(*outDir, "report.txt"))
	if err != nil {
		fatal(err)
	}
	w := io.MultiWriter(os.Stdout, report)
	fmt.Fprintf(w, "wimbench %s  corpus %s  median of %d rounds\n", time.Now().UTC().Format(time.RFC3339), *corpus, *rounds)
	if v, err := exec.Command("wimcapture", "--version").Output(); err == nil {
		fmt.Fprintf(w, "%s\n", strings.SplitN(string(v), "\n", 2)[0])
	}
	if doCapture {
		fmt.Fprintf(w, "%-6s %-8s %3s | %8s %8s %6s | %8s %8s %6s | %9s %9s %7s | %6s %6s %6s\n", "source", "compress", "thr",
			"wall wl", "ours", "ratio", "CPU wl", "ours", "ratio", "MiB wl", "ours", "ratio", "RSS wl", "ours", "ratio")
	}
	type pair struct{ wimlib, ours string }
	var readBack []pair
	sources := []string{*corpus}
	if *ntfsImage != "" {
		sources = append(sources, *ntfsImage)
	}
	if !doCapture {
		sources = nil
	}
	pairs := 0
	for _, src := range sources {
		kind := "dir"
		if src == *ntfsImage {
			kind = "ntfs"
		}
		for _, c := range strings.Split(*comps, ",") {
			for _, th := range strings.Split(*threads, ",") {
				base := filepath.Join(*outDir, fmt.Sprintf("%s-%s-%s", kind, c, th))
				os.Remove(base + "-wimlib.wim")
				os.Remove(base + "-ours.wim")
				wimlib := func() measure {
					os.Remove(base + "-wimlib.wim")
					m, err := run(w, "wimcapture", src, base+"-wimlib.wim", "--compress="+c, "--threads="+th, "--config=/dev/null", "bench")
					if err != nil {
						fatal(err)
					}
					return m
				}
				// Ours as a user runs it (verifying while it writes, the
				// default) and with --verify=false.
				oursRun := func(verify bool) measure {
					os.Remove(base + "-ours.wim")
					m, err := run(w, *ours, "capture", src, base+"-ours.wim", "--name", "bench", "--compress", c, "--threads", th, fmt.Sprintf("--verify=%v", verify), "--quiet")
					if err != nil {
						fatal(err)
					}
					return m
				}
				// Alternate which tool goes first, so neither always gets the
				// page cache as the other left it; report the median of the
				// rounds (a VM's page and disk caches make single runs vary
				// by a factor of two).
				var ws, os_, nv []measure
				for range *rounds {
					if pairs%2 == 0 {
						ws = append(ws, wimlib())
						os_ = append(os_, oursRun(true))
						nv = append(nv, oursRun(false))
					} else {
						nv = append(nv, oursRun(false))
						os_ = append(os_, oursRun(true))
						ws = append(ws, wimlib())
					}
					pairs++
				}
				mw, mo, mn := median(ws), median(os_), median(nv)
				mw.size, mo.size = fileSize(base+"-wimlib.wim"), fileSize(base+"-ours.wim")
				fmt.Fprintf(w, "%-6s %-8s %3s | %8.2f %8.2f %6s | %8.2f %8.2f %6s | %9.1f %9.1f %7s | %6.1f %6.1f %6s\n", kind, c, th,
					mw.wall.Seconds(), mo.wall.Seconds(), ratio(mo.wall.Seconds(), mw.wall.Seconds()),
					mw.cpu.Seconds(), mo.cpu.Seconds(), ratio(mo.cpu.Seconds(), mw.cpu.Seconds()),
					float64(mw.size)/(1<<20), float64(mo.size)/(1<<20), ratio(float64(mo.size), float64(mw.size)),
					float64(mw.rssKiB)/1024, float64(mo.rssKiB)/1024, ratio(float64(mo.rssKiB), float64(mw.rssKiB)))
				fmt.Fprintf(w, "%-19s | %8s %8.2f %6s | %8s %8.2f %6s | %9s %9s %7s | %6s %6.1f %6s  (ours --verify=false)\n", "", "",
					mn.wall.Seconds(), ratio(mn.wall.Seconds(), mw.wall.Seconds()), "", mn.cpu.Seconds(), ratio(mn.cpu.Seconds(), mw.cpu.Seconds()),
					"", "", "", "", float64(mn.rssKiB)/1024, ratio(float64(mn.rssKiB), float64(mw.rssKiB)))
				if *rounds > 1 {
					// Every round's wall time, in order, so that a
					// median taken over a noisy stretch can be seen, and
					// the round-by-round wall ratios, which hold when the
					// machine's speed drifts between rounds.
					fmt.Fprintf(w, "%-19s | rounds, wall s: wimlib %s; ours %s; ours --verify=false %s\n", "", walls(ws), walls(os_), walls(nv))
					fmt.Fprintf(w, "%-19s | wall ratio by round, median (range): verified %s; --verify=false %s\n", "", pairRatios(os_, ws), pairRatios(nv, ws))
				}
				if kind == "dir" && (th == "2" || !strings.Contains(*threads, "2")) {
					readBack = append(readBack, pair{base + "-wimlib.wim", base + "-ours.wim"})
				}
			}
		}
	}
	if *only == "decode" {
		// The 2-thread WIMs of an earlier run of this command, or new
		// captures of the corpus where there are none.
		for _, c := range strings.Split(*comps, ",") {
			base := filepath.Join(*outDir, fmt.Sprintf("dir-%s-2", c))
			p := pair{base + "-wimlib.wim", base + "-ours.wim"}
			if fileSize(p.wimlib) == 0 {
				if _, err := run(w, "wimcapture", *corpus, p.wimlib, "--compress="+c, "--threads=2", "--config=/dev/null", "bench"); err != nil {
					fatal(err)
				}
			}
			if fileSize(p.ours) == 0 {
				if _, err := run(w, *ours, "capture", *corpus, p.ours, "--name", "bench", "--compress", c, "--threads", "2", "--verify=false", "--quiet"); err != nil {
					fatal(err)
				}
			}
			readBack = append(readBack, p)
		}
	}
	if *only != "store" && *only != "upload" {
		var cases []decodeCase
		for _, p := range readBack {
			name := strings.TrimSuffix(filepath.Base(p.ours), "-2-ours.wim")
			cases = append(cases, decodeCase{name + " wimlib's", p.wimlib}, decodeCase{name + " ours", p.ours})
		}
		if err := decodeBench(w, cases, *ours, *rounds); err != nil {
			fatal(err)
		}
	}
	if *storeBin != "" && *only != "capture" {
		if *only != "upload" {
			if err := storeBench(w, *corpus, *ours, *storeBin, *outDir, *rounds); err != nil {
				fatal(err)
			}
		}
		if err := uploadBench(w, *corpus, *ours, *storeBin, *outDir, *rounds); err != nil {
			fatal(err)
		}
	}
	fmt.Fprintf(w, "\nwl = wimlib. Ratios are ours / wimlib: below 1 means we are faster or smaller. CPU is user+sys of the whole process; RSS is its peak.\nReport: %s\n", report.Name())
}

// warm reads the file at p once, so that it is in the page cache.
func warm(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "wimbench:", err)
	os.Exit(1)
}
