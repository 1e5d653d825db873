//go:build race

package images

func init() { raceEnabled = true }
