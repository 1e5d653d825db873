// Package pid1 is the init (PID 1) of the capture image, the counterpart
// of Windows PE's wpeinit: it mounts /proc, /sys and /dev, loads the
// drivers the machine needs (the image's start list, then a coldplug of
// every device's modalias, as udev would), brings up wired networking by
// DHCP with a static fallback from the kernel command line, scans the
// disks and shows their drive letters as Windows PE assigns them, mounts
// the destination volume read-write (never a volume that may hold
// Windows: the source is read raw), finds WDSCapture.inf and runs
// wdscapture on the console. When the run fails it says what failed and
// where the log is and offers a retry and a shell; when it succeeds it
// powers off, reboots or waits, as the command line or the INF says.
//
// The kernel command line options (wds.*) are listed on Config.
package pid1
