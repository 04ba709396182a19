package seal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/google/go-tpm/tpm2/transport"
)

// Hints for the errors of opening a TPM device.
const (
	hintNoDevice   = "this host has no TPM 2.0 the kernel can see: enable the TPM in the firmware setup and check that a TPM driver (tpm_crb or tpm_tis) is loaded, or set [seal] device to a swtpm address such as \"tcp://127.0.0.1:2321\""
	hintPermission = "the service user needs group tss (e.g. SupplementaryGroups=tss in the unit, or usermod -aG tss accessd)"
	hintBusy       = "another process holds the TPM exclusively; use the resource manager /dev/tpmrm0 rather than /dev/tpm0"
)

// openDevice opens a TPM character device such as /dev/tpmrm0.
func openDevice(path string) (*TPM, error) {
	f, err := openDeviceFile(path)
	if err != nil {
		return nil, err
	}
	// transport.FromReadWriteCloser runs commands with tpmutil, which polls
	// an *os.File for readiness before reading the response.
	tp := transport.FromReadWriteCloser(f)
	return &TPM{kind: KindDevice, name: path, tpm: tp, closeFn: tp.Close}, nil
}

// ProbeDevice opens the TPM device at path read-write and closes it again,
// sending no command: the host checks use it to tell, before anything is
// unsealed, whether Open would reach the device. Its errors are Open's
// (ErrNoDevice, ErrPermission, …) with the same advice.
func ProbeDevice(path string) error {
	f, err := openDeviceFile(path)
	if err != nil {
		return err
	}
	return f.Close()
}

func openDeviceFile(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, deviceError(path, err)
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return nil, fmt.Errorf("seal: open TPM device %s: %w: not a character device; %s", path, ErrNoDevice, hintNoDevice)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, deviceError(path, err)
	}
	return f, nil
}

// deviceError maps the error of opening a TPM device to ErrNoDevice or
// ErrPermission with advice; anything else is wrapped as is.
func deviceError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("seal: open TPM device %s: %w: %w; %s", path, ErrNoDevice, err, hintNoDevice)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("seal: open TPM device %s: %w: %w; %s", path, ErrPermission, err, hintPermission)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("seal: open TPM device %s: %w; %s", path, err, hintBusy)
	default:
		return fmt.Errorf("seal: open TPM device %s: %w", path, err)
	}
}
