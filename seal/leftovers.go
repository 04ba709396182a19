package seal

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// ErrTPMFull means the TPM refused to load an object or start a session
// because every slot is taken (TPM_RC_OBJECT_MEMORY, TPM_RC_SESSION_MEMORY).
// Like ErrNoDevice it means the TPM is unavailable to accessd for now.
var ErrTPMFull = errors.New("the TPM has no free object or session slots")

// Leftovers counts what a TPM without a resource manager held when Open
// flushed it: transient objects and sessions that a process which died
// (SIGKILL, power cut in a VM) never flushed.
type Leftovers struct {
	Objects  int
	Sessions int
}

// Flushed reports what Open flushed: zero on a TPM behind the kernel's
// resource manager, which flushes a process's handles when it exits.
func (t *TPM) Flushed() Leftovers { return t.flushed }

// managed reports whether the kernel's resource manager stands between
// accessd and this TPM. swtpm over TCP, the simulator and a raw /dev/tpmN
// have none: what a killed process loaded stays loaded until the TPM
// restarts. Each of them serves one client at a time (swtpm one
// connection, the kernel one open of /dev/tpmN, the simulator one
// process), so whatever is loaded when Open returns belongs to nobody.
func (t *TPM) managed() bool {
	return t.kind == KindDevice && strings.Contains(t.name, "tpmrm")
}

// flushLeftovers flushes every transient object and session on a TPM
// without a resource manager and records how many there were.
func (t *TPM) flushLeftovers() error {
	if t.managed() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	objects, sessions, err := leftoverHandles(t.tpm)
	if err != nil {
		return fmt.Errorf("seal: open TPM %s: list leftover handles: %w", t.name, err)
	}
	for _, h := range append(objects, sessions...) {
		if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t.tpm); err != nil {
			return fmt.Errorf("seal: open TPM %s: flush leftover handle %#08x: %w; %s", t.name, uint32(h), err, t.fullHint())
		}
	}
	t.flushed = Leftovers{Objects: len(objects), Sessions: len(sessions)}
	return nil
}

// leftoverHandles lists the loaded transient objects, and the sessions,
// loaded or saved (a context-saved session still takes an active slot).
func leftoverHandles(tp transport.TPM) (objects, sessions []tpm2.TPMHandle, err error) {
	if objects, err = listHandles(tp, tpm2.TPMHTTransient); err != nil {
		return nil, nil, err
	}
	seen := make(map[tpm2.TPMHandle]bool)
	// The loaded-session and saved-session ranges both list HMAC and
	// policy session handles.
	for _, ht := range []tpm2.TPMHT{tpm2.TPMHTHMACSession, tpm2.TPMHTPolicySession} {
		hs, err := listHandles(tp, ht)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range hs {
			if !seen[h] {
				seen[h] = true
				sessions = append(sessions, h)
			}
		}
	}
	return objects, sessions, nil
}

// listHandles returns the handles of one type (TPM2_GetCapability
// TPM_CAP_HANDLES): loaded transient objects, loaded sessions (HMAC
// session range) or saved sessions (policy session range).
func listHandles(tp transport.TPM, ht tpm2.TPMHT) ([]tpm2.TPMHandle, error) {
	var out []tpm2.TPMHandle
	next := uint32(ht) << 24
	for {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: next, PropertyCount: 64}.Execute(tp)
		if err != nil {
			return nil, err
		}
		l, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, err
		}
		last := next
		for _, h := range l.Handle {
			if !sameRange(h, ht) {
				return out, nil
			}
			out = append(out, h)
			last = uint32(h)
		}
		if !rsp.MoreData || len(l.Handle) == 0 {
			return out, nil
		}
		next = last + 1
	}
}

// sameRange reports whether h is of the kind a TPM_CAP_HANDLES query
// starting at range ht lists: sessions of either type for both session
// ranges.
func sameRange(h tpm2.TPMHandle, ht tpm2.TPMHT) bool {
	got := tpm2.TPMHT(uint32(h) >> 24)
	if ht == tpm2.TPMHTHMACSession || ht == tpm2.TPMHTPolicySession {
		return got == tpm2.TPMHTHMACSession || got == tpm2.TPMHTPolicySession
	}
	return got == ht
}

// slotsErr turns TPM_RC_OBJECT_MEMORY and TPM_RC_SESSION_MEMORY into
// ErrTPMFull with the way out; other errors pass unchanged.
func (t *TPM) slotsErr(err error) error {
	if err == nil || errors.Is(err, ErrTPMFull) ||
		!(errors.Is(err, tpm2.TPMRCObjectMemory) || errors.Is(err, tpm2.TPMRCSessionMemory)) {
		return err
	}
	return fmt.Errorf("%w: %w; %s", ErrTPMFull, err, t.fullHint())
}

// fullHint names the commands that free a full TPM.
func (t *TPM) fullHint() string {
	return SlotsHint(t.name)
}

// SlotsHint says how to free the object and session slots of the TPM that
// device names ([seal] device).
func SlotsHint(device string) string {
	if addr, err := TCPAddress(device); err == nil {
		host, port, _ := net.SplitHostPort(addr)
		tcti := "swtpm:host=" + host + ",port=" + port
		return "another program holds them on swtpm, which has no resource manager; free them with `tpm2_flushcontext -T " + tcti + " --transient-object` and `tpm2_flushcontext -T " + tcti + " --loaded-session` (or restart swtpm), then start accessd again"
	}
	if strings.Contains(device, "tpmrm") {
		return "other programs hold them; the kernel frees a program's slots when it exits: find the programs with `fuser -v " + device + "`, stop them, then start accessd again"
	}
	return "free them with `tpm2_flushcontext --transient-object` and `tpm2_flushcontext --loaded-session` (or restart the TPM), then start accessd again"
}

// inspectTimeout bounds each command of Inspect, which `accessd check`
// runs against whatever answers on the configured port.
const inspectTimeout = 2 * time.Second

// Inspect opens the TPM over loopback TCP (swtpm) without flushing
// anything, counts the transient objects and sessions loaded in it, and
// says whether a new object or session still fits. It is for the host
// checks; Open flushes leftovers itself.
func Inspect(device string) (Leftovers, bool, error) {
	addr, err := tcpAddress(device, false)
	if err != nil {
		return Leftovers{}, false, err
	}
	conn, err := net.DialTimeout("tcp", addr, inspectTimeout)
	if err != nil {
		return Leftovers{}, false, fmt.Errorf("seal: inspect TPM %s: %w: %w", device, ErrNoDevice, err)
	}
	tp := transport.FromReadWriteCloser(&mssimConn{conn: conn, timeout: inspectTimeout})
	defer tp.Close()
	objects, sessions, err := leftoverHandles(tp)
	if err != nil {
		return Leftovers{}, false, fmt.Errorf("seal: inspect TPM %s: %w", device, err)
	}
	n := Leftovers{Objects: len(objects), Sessions: len(sessions)}
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTHRLoadedAvail), PropertyCount: 4}.Execute(tp)
	if err != nil {
		return n, false, fmt.Errorf("seal: inspect TPM %s: %w", device, err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return n, false, fmt.Errorf("seal: inspect TPM %s: %w", device, err)
	}
	full := false
	for _, p := range props.TPMProperty {
		if (p.Property == tpm2.TPMPTHRLoadedAvail || p.Property == tpm2.TPMPTHRTransientAvail) && p.Value == 0 {
			full = true
		}
	}
	return n, full, nil
}
