// Package vmlab boots the capture image in QEMU (software emulation: TCG)
// for the lab and its tests: it starts a report server on the host's
// loopback, which the guest reaches as http://10.0.2.100/ through QEMU's
// restricted user network (guestfwd, nothing else is reachable), runs the
// VM with its serial console on a pipe that a test can read and type
// into, and builds destination disks.
//
// A run is judged by what the guest reports and what its disks hold,
// never by QEMU's exit code: QEMU exits 0 after a kernel panic too.
//
// The guest uploads to an image store on the host's loopback too
// (VM.Store): it reaches it as 10.0.2.101:8443 (WDSServerName=10.0.2.101).
// The report's guestfwd is a chardev, which carries a single connection,
// enough for one report; the store gets one per request, so its forward
// is a command QEMU starts per connection, this executable again as a
// relay to the store's port (see RelayMain). The guest still reaches
// nothing else.
package vmlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/boot/pid1"
)

// GuestReportURL is where the guest sends its report (wds.report=).
const GuestReportURL = "http://10.0.2.100/report"

// Server receives the guests' reports on 127.0.0.1.
type Server struct {
	Addr    string // host:port on the loopback
	reports chan *pid1.Report
	srv     *http.Server
	ln      net.Listener
}

// StartServer listens on a random loopback port.
func StartServer() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), reports: make(chan *pid1.Report, 8), ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep pid1.Report
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case s.reports <- &rep:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// QEMU's guestfwd connects to the server once, when the VM starts,
	// and carries the guest's connection over that one stream whenever it
	// comes: no header or idle timeout may close it before (the server
	// only ever listens on the loopback, for the lab's own VMs).
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: time.Hour}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Port returns the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Reports delivers each report as it arrives.
func (s *Server) Reports() <-chan *pid1.Report { return s.reports }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Disk is a drive of the VM.
type Disk struct {
	Path string
	// If is the interface: "virtio" (default), "ahci" or "nvme".
	If string
	// Snapshot discards the guest's writes.
	Snapshot bool
}

// Firmware of the VM.
type Firmware string

// Firmwares.
const (
	BIOS       Firmware = "bios"
	UEFI       Firmware = "uefi"
	SecureBoot Firmware = "secureboot"
)

// OVMF files of Debian's ovmf package.
const (
	ovmfCode       = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars       = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfCodeSecure = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfVarsMS     = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// VM describes one boot.
type VM struct {
	// Kernel, Initrd and Append boot a kernel directly; or ISO boots a CD
	// image; or Boot "n" network-boots from TFTPDir with BootFile.
	Kernel, Initrd, Append string
	ISO                    string
	// DiskISO attaches ISO as a hard disk instead of a CD (a USB stick).
	DiskISO  bool
	TFTPDir  string
	BootFile string
	Disks    []Disk
	Firmware Firmware
	// Server receives the report (guestfwd to its port).
	Server *Server
	// NIC is the network card model, virtio-net-pci by default.
	NIC string
	// Memory in MiB (default 1024) and CPUs (default 2).
	Memory, CPUs int
	// Machine is "pc" (default) or "q35".
	Machine string
	// Scratch is a directory for the UEFI variable store copy.
	Scratch string
	// Store is the host's loopback address (127.0.0.1:PORT) of an image
	// store, which the guest reaches as GuestStoreAddr. It needs a
	// program that called RelayMain first (see RelayMain).
	Store string
	// Console, when not nil, receives a copy of the serial console's
	// output as it arrives (a terminal emulator, a log).
	Console io.Writer
}

// Args returns QEMU's command line.
func (v *VM) Args() ([]string, error) {
	mem, cpus := v.Memory, v.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	machine := v.Machine
	if machine == "" {
		machine = "pc"
	}
	args := []string{"-accel", "tcg", "-cpu", "max", "-m", fmt.Sprint(mem), "-smp", fmt.Sprint(cpus),
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nodefaults"}
	switch v.Firmware {
	case "", BIOS:
		args = append(args, "-machine", machine)
	case UEFI, SecureBoot:
		code, vars := ovmfCode, ovmfVars
		if v.Firmware == SecureBoot {
			code, vars = ovmfCodeSecure, ovmfVarsMS
			machine = "q35,smm=on"
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		if v.Scratch == "" {
			return nil, errors.New("UEFI needs a Scratch directory for the variable store")
		}
		b, err := os.ReadFile(vars)
		if err != nil {
			return nil, fmt.Errorf("OVMF (apt-get install ovmf): %w", err)
		}
		varsCopy := v.Scratch + "/OVMF_VARS.fd"
		if err := os.WriteFile(varsCopy, b, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "-machine", machine,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+varsCopy)
	default:
		return nil, fmt.Errorf("unknown firmware %q", v.Firmware)
	}
	args = append(args, "-device", "virtio-rng-pci")
	netdev := "user,id=n0,restrict=on"
	if v.Server != nil {
		netdev += fmt.Sprintf(",guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:%d", v.Server.Port())
	}
	if v.Store != "" {
		relay, err := relayCommand(v.Store)
		if err != nil {
			return nil, err
		}
		// A command per connection: the store gets as many connections as
		// the guest opens (a chardev forward carries only one).
		netdev += ",guestfwd=tcp:" + GuestStoreAddr + "-cmd:" + strings.ReplaceAll(relay, ",", ",,")
	}
	if v.TFTPDir != "" {
		netdev += ",tftp=" + v.TFTPDir + ",bootfile=" + v.BootFile
	}
	nic := v.NIC
	if nic == "" {
		nic = "virtio-net-pci"
	}
	args = append(args, "-netdev", netdev, "-device", nic+",netdev=n0")
	ahci, nvme := 0, 0
	for i, d := range v.Disks {
		drive := fmt.Sprintf("file=%s,format=raw,id=d%d,if=none", d.Path, i)
		if d.Snapshot {
			drive += ",snapshot=on"
		}
		args = append(args, "-drive", drive)
		switch d.If {
		case "", "virtio":
			args = append(args, "-device", fmt.Sprintf("virtio-blk-pci,drive=d%d", i))
		case "ahci":
			if ahci == 0 {
				args = append(args, "-device", "ahci,id=ahci0")
			}
			args = append(args, "-device", fmt.Sprintf("ide-hd,drive=d%d,bus=ahci0.%d", i, ahci))
			ahci++
		case "nvme":
			args = append(args, "-device", fmt.Sprintf("nvme,drive=d%d,serial=lab%d", i, nvme))
			nvme++
		default:
			return nil, fmt.Errorf("unknown disk interface %q", d.If)
		}
	}
	switch {
	case v.Kernel != "":
		args = append(args, "-kernel", v.Kernel, "-initrd", v.Initrd, "-append", v.Append)
	case v.ISO != "" && v.DiskISO:
		args = append(args, "-drive", "file="+v.ISO+",format=raw,if=none,id=usb,snapshot=on", "-device", "virtio-blk-pci,drive=usb,bootindex=0")
	case v.ISO != "":
		// ide-cd sits on the machine's built-in IDE (pc) or AHCI (q35) bus.
		args = append(args, "-drive", "file="+v.ISO+",format=raw,if=none,id=cd,media=cdrom,readonly=on", "-device", "ide-cd,drive=cd,bootindex=0")
	case v.TFTPDir != "":
		args = append(args, "-boot", "n")
	default:
		return nil, errors.New("nothing to boot: give Kernel, ISO or TFTPDir")
	}
	return args, nil
}

// Run is a running VM whose serial console a caller reads and types into.
type Run struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    bytes.Buffer
	notify chan struct{}
	done   chan struct{}
	err    error
	start  time.Time
	// Exited is when QEMU exited.
	Exited time.Time
}

// Start boots the VM; ctx bounds its life (QEMU is killed when it ends).
func (v *VM) Start(ctx context.Context) (*Run, error) {
	args, err := v.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	r := &Run{cmd: cmd, notify: make(chan struct{}, 1), done: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	r.stdin = stdin
	w := writerFunc(func(p []byte) (int, error) {
		r.mu.Lock()
		r.out.Write(p)
		if v.Console != nil {
			_, _ = v.Console.Write(p)
		}
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		return len(p), nil
	})
	cmd.Stdout, cmd.Stderr = w, w
	r.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start QEMU (apt-get install qemu-system-x86): %w", err)
	}
	go func() {
		r.err = cmd.Wait()
		r.Exited = time.Now()
		close(r.done)
	}()
	return r, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Output returns everything the serial console printed so far.
func (r *Run) Output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// Elapsed is the time since QEMU started (until it exited).
func (r *Run) Elapsed() time.Duration {
	select {
	case <-r.done:
		return r.Exited.Sub(r.start)
	default:
		return time.Since(r.start)
	}
}

// Expect waits until the console output after offset matches re and
// returns the offset just past the match.
func (r *Run) Expect(ctx context.Context, re *regexp.Regexp, offset int) (int, error) {
	for {
		out := r.Output()
		if offset > len(out) {
			offset = len(out)
		}
		if loc := re.FindStringIndex(out[offset:]); loc != nil {
			return offset + loc[1], nil
		}
		select {
		case <-ctx.Done():
			return offset, fmt.Errorf("waiting for %q: %w", re, ctx.Err())
		case <-r.done:
			out = r.Output()
			if loc := re.FindStringIndex(out[offset:]); loc != nil {
				return offset + loc[1], nil
			}
			return offset, fmt.Errorf("waiting for %q: QEMU exited", re)
		case <-r.notify:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Type sends keys to the serial console.
func (r *Run) Type(s string) error {
	_, err := io.WriteString(r.stdin, s)
	return err
}

// Wait waits for QEMU to exit (or ctx to end, which kills it).
func (r *Run) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		_ = r.cmd.Process.Kill()
		<-r.done
		return ctx.Err()
	}
}

// Done is closed when QEMU has exited.
func (r *Run) Done() <-chan struct{} { return r.done }

// Kill stops QEMU.
func (r *Run) Kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}
