package kube

import (
	"errors"
	"net"
	"syscall"

	"github.com/spf13/pflag"
)

// DefaultAddr returns the address a server flag (metrics, probes) should
// bind. A flag the user set is returned as given, so a port in use fails the
// start as asked. A flag left at its default whose port is already taken on
// this machine (the backend and an agent, or two agents, started by their
// documented command lines side by side) returns "0", which turns that
// server off, and a reason to log; in a cluster each pod has its ports to
// itself and the default always binds.
func DefaultAddr(fl *pflag.FlagSet, name, addr string) (string, string) {
	if addr == "" || addr == "0" || (fl != nil && fl.Changed(name)) {
		return addr, ""
	}
	l, err := net.Listen("tcp", addr)
	if err == nil {
		_ = l.Close()
		return addr, ""
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return "0", "--" + name + " " + addr + " is in use by another process: off (set the flag to serve it elsewhere)"
	}
	return addr, ""
}

// DefaultAddrs applies DefaultAddr to each named flag's address in place
// and passes each reason to log.
func DefaultAddrs(fl *pflag.FlagSet, log func(string), addrs map[string]*string) {
	for name, addr := range addrs {
		var why string
		if *addr, why = DefaultAddr(fl, name, *addr); why != "" {
			log(why)
		}
	}
}
