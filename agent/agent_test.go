package agent

import (
	"bytes"
	"testing"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestConsoleRenderer: a phase start line, throttled progress, and one
// 100% line per phase.
func TestConsoleRenderer(t *testing.T) {
	var b bytes.Buffer
	r := &ConsoleRenderer{W: &b, Interval: 1 << 40}
	r.Handle(Event{Phase: PhaseWrite, Message: "writing"})
	for i := uint64(0); i <= 10; i++ {
		r.Handle(Event{Phase: PhaseWrite, BytesDone: i * 10, BytesTotal: 100})
	}
	r.Handle(Event{Phase: PhaseWrite, BytesDone: 100, BytesTotal: 100})
	r.Handle(Event{Phase: PhaseVerify, Warning: true, Message: "odd"})
	want := "[write] writing\n[write]   0.0%  0 B / 100 B\n[write] 100.0%  100 B / 100 B\n[verify] warning: odd\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
