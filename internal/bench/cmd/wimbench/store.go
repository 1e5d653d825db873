package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/wdscapture/wdscapture/images"
)

// storeBench compares the image store with wimlib on the bench WIM (the
// corpus captured with XPRESS and an integrity table):
//
//   - imagestore add of the WIM into a new group (integrity table, every
//     stream's SHA-1 from the bytes copied into res.rwm, fsync) against
//     wimverify of the same file (integrity table, every stream's SHA-1);
//   - imagestore export of the image (raw copy, integrity table, read-back
//     check) against wimexport of the group's image with --ref and --check;
//   - the bytes a second image, 95% identical, adds to res.rwm against the
//     new data it holds (the stored size of its streams the first lacks).
func storeBench(w io.Writer, corpus, ours, store, outDir string, rounds int) error {
	benchWIM := filepath.Join(outDir, "store-bench.wim")
	if err := captureOnce(w, ours, corpus, benchWIM); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nimage store, bench WIM %s (%.1f MiB, XPRESS, integrity table); median of %d alternating rounds\n",
		benchWIM, float64(fileSize(benchWIM))/(1<<20), rounds)
	fmt.Fprintf(w, "%-34s | %8s %8s %6s | %8s %8s %6s | %s\n", "operation", "wall ref", "ours", "ratio", "CPU ref", "ours", "ratio", "rounds, wall s: ref; ours")

	root := filepath.Join(outDir, "store-root")
	resetRoot := func() error {
		if err := os.RemoveAll(root); err != nil {
			return err
		}
		return os.MkdirAll(root, 0o755)
	}
	group := filepath.Join(root, "Images", "Bench")
	addOurs := func() (measure, error) {
		if err := resetRoot(); err != nil {
			return measure{}, err
		}
		if err := warm(benchWIM); err != nil {
			return measure{}, err
		}
		return run(w, store, "add", benchWIM, "--group", "Bench", "--root", root, "--quiet")
	}
	verifyRef := func() (measure, error) {
		if err := warm(benchWIM); err != nil {
			return measure{}, err
		}
		return run(w, "wimverify", benchWIM)
	}
	if err := compareRow(w, "add vs wimverify", rounds, verifyRef, addOurs); err != nil {
		return err
	}

	// The group now holds the bench image: export it both ways.
	expOurs, expRef := filepath.Join(outDir, "store-export-ours.wim"), filepath.Join(outDir, "store-export-wimlib.wim")
	meta := filepath.Join(group, "bench.wim")
	res := filepath.Join(group, "res.rwm")
	exportOurs := func() (measure, error) {
		os.Remove(expOurs)
		if err := warmAll(meta, res); err != nil {
			return measure{}, err
		}
		return run(w, store, "export", "Bench", "bench", expOurs, "--root", root, "--quiet")
	}
	exportRef := func() (measure, error) {
		os.Remove(expRef)
		if err := warmAll(meta, res); err != nil {
			return measure{}, err
		}
		return run(w, "wimexport", meta, "1", expRef, "--ref="+res, "--check")
	}
	if err := compareRow(w, "export vs wimexport --ref --check", rounds, exportRef, exportOurs); err != nil {
		return err
	}
	if _, err := run(w, "wimverify", expOurs); err != nil {
		return fmt.Errorf("our export does not pass wimverify: %w", err)
	}

	// A second image, 95% identical.
	corpus95 := filepath.Join(outDir, "corpus-95")
	changed, err := makeVariant(corpus, corpus95, 20)
	if err != nil {
		return err
	}
	wim95 := filepath.Join(outDir, "store-bench-95.wim")
	if err := captureOnce(w, ours, corpus95, wim95); err != nil {
		return err
	}
	if err := resetRoot(); err != nil {
		return err
	}
	if _, err := run(w, store, "add", benchWIM, "--group", "Bench", "--root", root, "--quiet"); err != nil {
		return err
	}
	before := fileSize(res)
	if _, err := run(w, store, "add", wim95, "--group", "Bench", "--root", root, "--quiet", "--name", "bench 95"); err != nil {
		return err
	}
	growth := fileSize(res) - before
	newData, newStreams, total, err := newStreamBytes(benchWIM, wim95)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-34s | %d of %d files changed; new data %d streams, %.2f MiB of %.1f MiB stored; res.rwm grew %.2f MiB: ratio %.4f, %d bytes beyond the new data\n",
		"second image, 95% identical", changed.files, changed.total, newStreams, float64(newData)/(1<<20), float64(total)/(1<<20),
		float64(growth)/(1<<20), float64(growth)/float64(newData), growth-int64(newData))
	return os.RemoveAll(root)
}

// compareRow runs ref and ours rounds times each, alternating which goes
// first, and prints the medians, their ratios and every round.
func compareRow(w io.Writer, name string, rounds int, ref, ours func() (measure, error)) error {
	var rs, os_ []measure
	for i := range rounds {
		order := []func() (measure, error){ref, ours}
		if i%2 == 1 {
			order = []func() (measure, error){ours, ref}
		}
		for k, f := range order {
			m, err := f()
			if err != nil {
				return err
			}
			if (k == 0) == (i%2 == 0) {
				rs = append(rs, m)
			} else {
				os_ = append(os_, m)
			}
		}
	}
	mr, mo := median(rs), median(os_)
	fmt.Fprintf(w, "%-34s | %8.2f %8.2f %6s | %8.2f %8.2f %6s | %s; %s\n", name,
		mr.wall.Seconds(), mo.wall.Seconds(), ratio(mo.wall.Seconds(), mr.wall.Seconds()),
		mr.cpu.Seconds(), mo.cpu.Seconds(), ratio(mo.cpu.Seconds(), mr.cpu.Seconds()), walls(rs), walls(os_))
	return nil
}

func warmAll(paths ...string) error {
	for _, p := range paths {
		if err := warm(p); err != nil {
			return err
		}
	}
	return nil
}

// captureOnce captures src into dst with our capture (XPRESS, integrity
// table) unless dst exists.
func captureOnce(w io.Writer, ours, src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	_, err := run(w, ours, "capture", src, dst, "--name", "bench", "--compress", "xpress", "--check", "--verify=false", "--quiet")
	return err
}

type variantStats struct{ files, total int }

// makeVariant makes dst a copy of the tree src in which every n-th regular
// file (in sorted walk order) has one byte changed; the other files are
// hard links to src's (never written to). An existing dst is kept.
func makeVariant(src, dst string, n int) (variantStats, error) {
	var st variantStats
	if _, err := os.Stat(dst); err == nil {
		if err := os.RemoveAll(dst); err != nil {
			return st, err
		}
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case !d.Type().IsRegular():
			return nil
		}
		st.total++
		if st.total%n != 0 {
			return os.Link(p, out)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			data = []byte{1}
		} else {
			data[len(data)/2] ^= 0x5a
		}
		st.files++
		return os.WriteFile(out, data, 0o644)
	})
	return st, err
}

// newStreamBytes returns the stored bytes and count of the streams of b
// that a lacks, and b's total stored bytes.
func newStreamBytes(a, b string) (uint64, int, uint64, error) {
	ra, err := images.Open(a)
	if err != nil {
		return 0, 0, 0, err
	}
	defer ra.Close()
	rb, err := images.Open(b)
	if err != nil {
		return 0, 0, 0, err
	}
	defer rb.Close()
	var bytes, total uint64
	n := 0
	blobs := rb.Blobs()
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].Offset < blobs[j].Offset })
	for _, bl := range blobs {
		total += bl.StoredSize
		if _, ok := ra.Blob(bl.Hash); !ok {
			bytes += bl.StoredSize
			n++
		}
	}
	return bytes, n, total, nil
}
