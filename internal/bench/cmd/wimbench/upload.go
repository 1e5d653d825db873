package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/storetest"
	"github.com/wdscapture/wdscapture/upload"
)

// uploadBench compares the upload with the store's local add on the bench
// WIM, the server a real `imagestore serve` on loopback:
//
//   - the upload (the upload package as the agent uses it: login, dedup
//     query, resumable transfer, the server's verification and
//     publication) into an empty group, against `imagestore add` of the
//     same file into an empty group on the server's disk: the goal is
//     that the network adds at most 10%;
//   - a re-upload of the same image into the same group under another
//     name: the goal is under 1% of the bytes and under 10% of the time
//     of the first upload.
func uploadBench(w io.Writer, corpus, ours, store, outDir string, rounds int) error {
	benchWIM := filepath.Join(outDir, "store-bench.wim")
	if err := captureOnce(w, ours, corpus, benchWIM); err != nil {
		return err
	}
	storetest.UseBinary(store)
	root := filepath.Join(outDir, "upload-root")
	addRoot := filepath.Join(outDir, "upload-add-root")
	for _, d := range []string{root, addRoot} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	defer os.RemoveAll(root)
	defer os.RemoveAll(addRoot)
	const password, techs = "bench password", storetest.Domain + `\Technicians`
	if err := storetest.Seed(root, map[string]string{"bench": password}, map[string][]string{"Technicians": {"bench"}}, nil); err != nil {
		return err
	}
	srv, err := storetest.Start(root, "")
	if err != nil {
		return err
	}
	defer srv.Kill()
	ctx := context.Background()
	cfg := upload.Config{Server: srv.Addr, Trust: upload.Trust{Fingerprint: srv.Fingerprint}, User: storetest.Domain + `\bench`, Password: inf.NewSecret(password)}

	fmt.Fprintf(w, "\nupload to imagestore serve on loopback, bench WIM %.1f MiB; median of %d alternating rounds\n", float64(fileSize(benchWIM))/(1<<20), rounds)
	type round struct {
		add, up, again time.Duration
		data, wire     int64 // the first upload's data and wire bytes
		againWire      int64
		againData      int64
	}
	var rs []round
	for i := range rounds {
		var r round
		group := fmt.Sprintf("Upload%d", i+1)
		if err := storetest.AddGroup(root, group, []string{techs}, []string{techs}, nil); err != nil {
			return err
		}
		add := func() error {
			if err := os.RemoveAll(filepath.Join(addRoot, "Images")); err != nil {
				return err
			}
			if err := warm(benchWIM); err != nil {
				return err
			}
			m, err := run(w, store, "add", benchWIM, "--group", "Bench", "--root", addRoot, "--quiet")
			r.add = m.wall
			return err
		}
		up := func() error {
			if err := warm(benchWIM); err != nil {
				return err
			}
			res, d, err := timedUpload(ctx, cfg, upload.Request{Path: benchWIM, Group: group})
			r.up, r.data, r.wire = d, res.Plan.Total, res.WireBytes
			return err
		}
		order := []func() error{add, up}
		if i%2 == 1 {
			order = []func() error{up, add}
		}
		for _, f := range order {
			if err := f(); err != nil {
				return err
			}
		}
		res, d, err := timedUpload(ctx, cfg, upload.Request{Path: benchWIM, Group: group, Name: "bench again"})
		if err != nil {
			return err
		}
		r.again, r.againWire, r.againData = d, res.WireBytes, res.Plan.Total
		rs = append(rs, r)
	}
	med := func(f func(round) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	add, up, again := med(func(r round) float64 { return r.add.Seconds() }), med(func(r round) float64 { return r.up.Seconds() }),
		med(func(r round) float64 { return r.again.Seconds() })
	data, wire := med(func(r round) float64 { return float64(r.data) }), med(func(r round) float64 { return float64(r.wire) })
	againWire := med(func(r round) float64 { return float64(r.againWire) })
	list := func(f func(round) time.Duration) string {
		s := ""
		for i, r := range rs {
			if i > 0 {
				s += " "
			}
			s += fmt.Sprintf("%.2f", f(r).Seconds())
		}
		return s
	}
	fmt.Fprintf(w, "%-34s | add %6.2f s, upload %6.2f s: ratio %s (goal <= 1.10) | %.1f MiB of data, %.1f MiB on the wire (%s) | rounds, wall s: add %s; upload %s\n",
		"upload to an empty group vs add", add, up, ratio(up, add), data/(1<<20), wire/(1<<20), ratio(wire, data),
		list(func(r round) time.Duration { return r.add }), list(func(r round) time.Duration { return r.up }))
	fmt.Fprintf(w, "%-34s | %6.2f s of the first upload's %.2f s: ratio %s (goal < 0.10) | %.0f bytes on the wire, %.4f%% of the image's data (goal < 1%%) | rounds, wall s: %s\n",
		"re-upload of the same image", again, up, ratio(again, up), againWire, 100*againWire/data,
		list(func(r round) time.Duration { return r.again }))
	return nil
}

// timedUpload logs in and uploads one image, timing both.
func timedUpload(ctx context.Context, cfg upload.Config, req upload.Request) (*upload.Result, time.Duration, error) {
	start := time.Now()
	c, err := upload.Connect(ctx, cfg)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	res, err := c.Upload(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("upload %s: %w", req.Path, err)
	}
	return res, time.Since(start), nil
}
