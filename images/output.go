package images

import (
	"bufio"
	"fmt"
	"os"
)

// output is a buffered writer over the WIM file that knows its position.
type output struct {
	f   *os.File
	w   *bufio.Writer
	pos int64
	// failAt, when positive, makes writes past that file offset fail; tests
	// use it to simulate a full disk.
	failAt int64
}

func newOutput(f *os.File, pos int64) *output {
	return &output{f: f, w: bufio.NewWriterSize(f, 4<<20), pos: pos}
}

// errDiskFull is what the failAt hook reports.
var errDiskFull = fmt.Errorf("simulated disk full")

func (o *output) Write(p []byte) (int, error) {
	if o.failAt > 0 && o.pos+int64(len(p)) > o.failAt {
		return 0, errDiskFull
	}
	n, err := o.w.Write(p)
	o.pos += int64(n)
	return n, err
}

func (o *output) flush() error { return o.w.Flush() }

// writeAt flushes buffered data and writes p at off, which must lie in
// already reserved space.
func (o *output) writeAt(p []byte, off int64) error {
	if err := o.w.Flush(); err != nil {
		return err
	}
	_, err := o.f.WriteAt(p, off)
	return err
}
