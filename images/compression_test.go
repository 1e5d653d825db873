package images

import (
	"strings"
	"testing"
)

// TestParseCompression: the one parser of compression names, with DISM's
// names, in any case, and a text round trip.
func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{
		"XPRESS": CompressXPRESS, "xpress": CompressXPRESS, "Fast": CompressXPRESS,
		"LZX": CompressLZX, "max": CompressLZX, "Maximum": CompressLZX,
		"none": CompressNone, "None": CompressNone,
	} {
		got, err := ParseCompression(in)
		if err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "zip", "lzms", "xpress "} {
		if _, err := ParseCompression(bad); err == nil || !strings.Contains(err.Error(), "XPRESS, LZX, None") {
			t.Errorf("ParseCompression(%q) = %v, want an error naming the allowed values", bad, err)
		}
	}
	for _, c := range []Compression{CompressNone, CompressXPRESS, CompressLZX} {
		b, err := c.MarshalText()
		var back Compression
		if err != nil || back.UnmarshalText(b) != nil || back != c {
			t.Errorf("%v: text round trip gives %v (%v)", c, back, err)
		}
	}
	if _, err := Compression(7).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid compression succeeded")
	}
}
