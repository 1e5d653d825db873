// Command wdsinit is PID 1 of the capture image: it mounts the kernel's
// file systems, loads drivers, brings up the network, shows the drive
// letters, mounts the destination volume and runs wdscapture on the
// console (see package pid1).
package main

import "github.com/wdscapture/wdscapture/boot/pid1"

func main() { pid1.Main() }
