//go:build race

package lzx

// raceEnabled is set when the tests run under the race detector, which
// slows the codec about tenfold; the corpus tests then use less data.
const raceEnabled = true
