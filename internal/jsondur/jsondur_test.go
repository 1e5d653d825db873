package jsondur

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"30m"`, 30 * time.Minute, false},
		{`"1h2m3s"`, time.Hour + 2*time.Minute + 3*time.Second, false},
		{`"0s"`, 0, false},
		{`"-1s"`, 0, true},
		{`"soon"`, 0, true},
		{`30`, 0, true},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr || (err == nil && d.D() != tc.want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, error %v", tc.in, d.D(), err, tc.want, tc.wantErr)
		}
		if err == nil {
			out, _ := json.Marshal(d)
			var back Duration
			if err := json.Unmarshal(out, &back); err != nil || back != d {
				t.Errorf("round trip of %s: %s -> %v, %v", tc.in, out, back.D(), err)
			}
		}
	}
}
