//go:build !race

package smbserver

const raceEnabled = false
