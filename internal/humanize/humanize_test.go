package humanize

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 3 << 20: "3.0 MiB",
		100 << 20: "100 MiB", 120 << 30: "120 GiB", 5 << 30: "5.0 GiB", 1<<64 - 1: "16.0 EiB",
		(100 << 20) - 1: "100 MiB", 99 << 20: "99.0 MiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
