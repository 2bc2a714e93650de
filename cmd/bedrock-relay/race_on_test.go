//go:build race

package main

// raceEnabled says that the tests run under the race detector (go test -race).
const raceEnabled = true
