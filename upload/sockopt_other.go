//go:build !linux

package upload

import "net"

func tuneConn(net.Conn) {}
