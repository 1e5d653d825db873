package pid1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Report is what a run sends to wds.report= and prints on the console:
// the result, where it failed, and the logs.
type Report struct {
	// Result is "ok" or "failed".
	Result string `json:"result"`
	// Stage names what failed: "settings", "destination", "agent",
	// "unmount"; "" on success.
	Stage string `json:"stage,omitempty"`
	// Error is the message shown on the failure screen.
	Error string `json:"error,omitempty"`
	// ExitCode is wdscapture's exit code (-1 when it did not run).
	ExitCode    int    `json:"exit_code"`
	Build       string `json:"build,omitempty"`
	Kernel      string `json:"kernel"`
	Firmware    string `json:"firmware"`              // "bios" or "uefi"
	SecureBoot  string `json:"secure_boot,omitempty"` // "on", "off" or "" (BIOS or unknown)
	Lockdown    string `json:"lockdown,omitempty"`
	Console     string `json:"console"`
	Destination string `json:"destination,omitempty"` // DestinationFile as the INF gives it
	Unattended  bool   `json:"unattended"`
	// Finish is the INF's Finish= (Shutdown, Reboot, Prompt or "").
	Finish string `json:"finish,omitempty"`
	// Drives are the drive-table lines.
	Drives  []string    `json:"drives"`
	Mounts  []string    `json:"mounts,omitempty"` // "D: /dev/vdb1 ntfs3 /mnt/d"
	Network []NetResult `json:"network,omitempty"`
	Modules []string    `json:"modules"`
	// Uptime holds seconds since the kernel started at each step.
	Uptime map[string]float64 `json:"uptime"`
	// AgentOutput is what wdscapture printed (unattended runs).
	AgentOutput string `json:"agent_output,omitempty"`
	// BootLog is the environment's log.
	BootLog string `json:"boot_log"`
	// BootLogCopy is where a copy of it went beside the image
	// (D:\Images\wdscapture-boot.log), "" when the run wrote nothing.
	BootLogCopy string `json:"boot_log_copy,omitempty"`
	// Attempt counts the runs in this boot (a retry adds one).
	Attempt int `json:"attempt"`
}

// Send POSTs the report as JSON to url, retrying briefly.
func (r *Report) Send(ctx context.Context, url string) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var last error
	for i := range 5 {
		if i > 0 {
			time.Sleep(time.Duration(i) * 500 * time.Millisecond)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return last
}
