//go:build !linux

package main

import (
	"os/exec"
	"time"
)

// setParentDeathSignal does nothing where the kernel cannot kill a child
// with its parent; the load generator still stops the server on a clean
// exit and on an interrupt.
func setParentDeathSignal(cmd *exec.Cmd) {}

// ownCPU is unknown here.
func ownCPU() (time.Duration, bool) { return 0, false }
