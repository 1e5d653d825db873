package pid1

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Console is the terminal the technician uses: the kernel's preferred
// console (the device behind /dev/console), plus the other active consoles,
// which get a copy of what the environment prints (not the wizard).
type Console struct {
	// TTY is the primary console, opened read-write.
	TTY *os.File
	// Name is its device name ("ttyS0", "tty1").
	Name string
	// Serial is true for a serial line, which cannot report its size.
	Serial  bool
	mirrors []*os.File
	mu      sync.Mutex
	log     io.Writer
}

// activeConsoles returns the devices listed in /sys/class/tty/console/active,
// the preferred one (behind /dev/console) last; "tty0" (the current virtual
// terminal) is given as "tty1".
func activeConsoles() []string {
	b, err := os.ReadFile("/sys/class/tty/console/active")
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range strings.Fields(string(b)) {
		if n == "tty0" {
			n = "tty1"
		}
		out = append(out, n)
	}
	return out
}

// OpenConsole opens the preferred console and the others, sets the size
// of a serial line to cols x rows when it reports none, and makes it the
// standard input, output and error of this process.
func OpenConsole(cols, rows int, log io.Writer) *Console {
	names := activeConsoles()
	c := &Console{log: log}
	if len(names) > 0 {
		name := names[len(names)-1]
		if f, err := os.OpenFile("/dev/"+name, os.O_RDWR|unix.O_NOCTTY, 0); err == nil {
			c.TTY, c.Name = f, name
		}
		for _, n := range names[:len(names)-1] {
			if f, err := os.OpenFile("/dev/"+n, os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
				c.mirrors = append(c.mirrors, f)
			}
		}
	}
	if c.TTY == nil {
		f, err := os.OpenFile("/dev/console", os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			f = os.Stdout
		}
		c.TTY, c.Name = f, "console"
	}
	c.Serial = strings.HasPrefix(c.Name, "ttyS") || strings.HasPrefix(c.Name, "ttyAMA") || strings.HasPrefix(c.Name, "hvc") || strings.HasPrefix(c.Name, "ttyUSB")
	fd := int(c.TTY.Fd())
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && (ws.Col == 0 || ws.Row == 0 || cols > 0) {
		if cols <= 0 {
			cols = 80
		}
		if rows <= 0 {
			rows = 24
		}
		if ws.Col == 0 || ws.Row == 0 || c.Serial {
			_ = unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)})
		}
	}
	for _, target := range []int{0, 1, 2} {
		_ = unix.Dup3(fd, target, 0)
	}
	return c
}

// Reopen opens the primary console again. A child that took it as its
// controlling terminal (wdscapture, the shell) hangs it up when its
// session ends, which leaves every earlier file descriptor of it dead.
func (c *Console) Reopen() {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.OpenFile("/dev/"+c.Name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	old := c.TTY
	c.TTY = f
	for _, target := range []int{0, 1, 2} {
		_ = unix.Dup3(int(f.Fd()), target, 0)
	}
	if old != os.Stdout && old != nil {
		old.Close()
	}
}

// Printf writes to the console, its mirrors and the log.
func (c *Console) Printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	c.mu.Lock()
	defer c.mu.Unlock()
	crlf := strings.ReplaceAll(s, "\n", "\r\n") // the line may be in raw mode
	_, _ = io.WriteString(c.TTY, crlf)
	for _, m := range c.mirrors {
		_, _ = io.WriteString(m, crlf)
	}
	if c.log != nil {
		_, _ = io.WriteString(c.log, s)
	}
}

// ReadKey waits for one key press and returns it in lower case; Enter is
// '\n'. It returns 0 when the console cannot be read.
func (c *Console) ReadKey() byte {
	fd := int(c.TTY.Fd())
	old, err := term.MakeRaw(fd)
	if err == nil {
		defer term.Restore(fd, old)
	}
	b := make([]byte, 1)
	for {
		n, err := c.TTY.Read(b)
		if err != nil || n == 0 {
			return 0
		}
		k := b[0]
		switch {
		case k == '\r' || k == '\n':
			return '\n'
		case k >= 'A' && k <= 'Z':
			return k + 'a' - 'A'
		case k >= ' ' && k < 0x7f:
			return k
		case k == 3: // Ctrl-C
			return 3
		}
	}
}

// Drain waits until everything written to the consoles has been sent (a
// serial line is slow, and a power-off would cut the last lines).
func (c *Console) Drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range append([]*os.File{c.TTY}, c.mirrors...) {
		_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1) // tcdrain
	}
}
