package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the server when the load
// generator dies, so that an interrupted run leaves no server behind.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
