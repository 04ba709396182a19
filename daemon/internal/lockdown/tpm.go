package lockdown

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/accessd/accessd/seal"
)

// dialTimeout bounds the reachability probe of a TPM over loopback TCP.
const dialTimeout = time.Second

func checkSealDevice(e *env) Finding {
	const name = "seal-device"
	dev := e.SealDevice
	switch {
	case dev == "":
		return fail(name, SeverityCritical, "no seal device configured", `set [seal] device = "/dev/tpmrm0" in accessd.toml`)
	case dev == "simulator":
		if e.Dev {
			return info(name, "in-process TPM simulator (dev only; keys are not hardware-protected)", "")
		}
		return fail(name, SeverityCritical, "seal device is the TPM simulator; the simulator is for --dev only",
			`set [seal] device = "/dev/tpmrm0" (or "tcp://127.0.0.1:2321" for swtpm)`)
	case strings.HasPrefix(dev, "tcp://"):
		return e.checkTCPTPM(dev)
	case strings.HasPrefix(dev, "/"):
		return checkTPMDevice(dev, svcName(e))
	}
	return fail(name, SeverityCritical, fmt.Sprintf("unsupported seal device %q", dev),
		`use a /dev path (e.g. /dev/tpmrm0), "tcp://127.0.0.1:PORT" or, with --dev, "simulator"`)
}

func (e *env) checkTCPTPM(dev string) Finding {
	const name = "seal-device"
	fixAddr := `use "tcp://127.0.0.1:PORT" (swtpm listening on loopback) or a TPM device such as /dev/tpmrm0`
	addr, err := seal.TCPAddress(dev)
	if err != nil {
		return fail(name, SeverityCritical, err.Error(), fixAddr)
	}
	host, port, _ := net.SplitHostPort(addr)
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return fail(name, SeverityCritical, "nothing answers on "+addr+" (software TPM not running)",
			"start swtpm: swtpm socket --tpm2 --server type=tcp,port="+port+",bindaddr="+host+" --ctrl type=tcp,port=<PORT+1> --tpmstate dir=<state> --flags startup-clear")
	}
	conn.Close()
	found := "software TPM (swtpm) on " + addr + "; its state is a file, not hardware-protected"
	if e.Dev {
		return info(name, found, "")
	}
	return fail(name, SeverityWarning, found, `use a hardware TPM: [seal] device = "/dev/tpmrm0"`)
}

// checkTPMDevice checks that a TPM character device exists and opens
// read-write for the service user, with the same probe seal.Open makes.
func checkTPMDevice(path, user string) Finding {
	const name = "seal-device"
	err := seal.ProbeDevice(path)
	if err == nil {
		return pass(name, SeverityCritical, path+" is a character device and opens read-write")
	}
	return fail(name, SeverityCritical, strings.TrimPrefix(err.Error(), "seal: "), tpmFix(user, err))
}

// tpmFix is the step that fixes a failed TPM device probe.
func tpmFix(user string, err error) string {
	switch {
	case errors.Is(err, seal.ErrPermission):
		return "add the service user to group tss: usermod -aG tss " + user + " (and restart accessd)"
	case errors.Is(err, syscall.EBUSY):
		return `use the kernel resource manager: [seal] device = "/dev/tpmrm0"`
	case errors.Is(err, seal.ErrNoDevice):
		return "enable the TPM in firmware and load tpm_tis/tpm_crb (ls /dev/tpm*), or use swtpm via tcp://127.0.0.1:2321"
	}
	return "check the TPM driver (dmesg | grep -i tpm)"
}

func checkClock(e *env) Finding {
	const name = "clock"
	if e.BuildTime.IsZero() {
		return info(name, "build time unknown; clock not checked", "")
	}
	now := e.Now()
	found := fmt.Sprintf("now %s, binary built %s", now.UTC().Format(time.RFC3339), e.BuildTime.UTC().Format(time.RFC3339))
	if now.Before(e.BuildTime) {
		return fail(name, SeverityCritical, "clock is earlier than the build time: "+found,
			"set the clock: timedatectl set-ntp true (or chronyc makestep), then check date -u")
	}
	return pass(name, SeverityCritical, found)
}
