package upload

import (
	"net"

	"golang.org/x/sys/unix"
)

// notSentLowat is the most data the client lets wait unsent in its
// socket buffer. Without a bound, Linux grows the send buffer to
// megabytes, all of which a dropped connection loses; with it the send
// buffer still holds what is in flight (the window grows as usual), so
// the rate is unchanged.
const notSentLowat = 128 << 10

// tuneConn bounds the unsent data of a TCP connection (TCP_NOTSENT_LOWAT).
func tuneConn(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notSentLowat)
	})
}
