package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/spf13/cobra"
)

// backupResult is what `backup -f FILE -o json` prints.
type backupResult struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// backupCmds is `accessctl backup`: online, encrypted backups.
type backupCmds struct{ ctl *ctl }

func (c backupCmds) command() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "backup [-f FILE]",
		Short: "write an online, encrypted backup that the recovery key alone can restore",
		Long: `backup streams a consistent, encrypted snapshot of the whole store from the
running accessd, together with the root key wrapped by the recovery key
(root.recovery). That file and the recovery key in effect now are enough to
rebuild the service on another machine with 'accessd restore'; without the
recovery key the file reveals nothing.

With -f the backup goes to FILE, which must not exist yet; it appears only
once the backup is complete. Until then it is written to .FILE.partial-N
beside it; such a file left by a backup that was killed is removed by the
next backup to the same FILE. Without -f it goes to stdout, which must not be
a terminal.`,
		Example: `  accessctl backup -f /var/backups/accessd-$(date +%F).backup
  accessctl backup | ssh vault 'cat > accessd.backup'`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			if file == "" || file == "-" {
				if isTerminal(c.ctl.stdout) {
					return usageErr(cmd.CommandPath(), "refusing to write a binary backup to a terminal")
				}
				n, err := c.ctl.cl.stream(cmd.Context(), "/v1/backup", c.ctl.stdout)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.ctl.stderr, "accessctl: backup of %d bytes written to stdout; restoring it needs the recovery key in effect now\n", n)
				return nil
			}
			n, err := c.toFile(cmd.Context(), file)
			if err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(backupResult{File: file, Bytes: n})
			}
			fmt.Fprintf(c.ctl.stdout, "backup written to %s (%d bytes)\n", file, n)
			fmt.Fprintf(c.ctl.stdout, "keep it away from this host; restoring it needs the recovery key in effect now:\n  accessd restore --backup %s --recovery-key-file KEY\n", file)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "write the backup to `FILE` (must not exist); - or none for stdout")
	return cmd
}

// isTerminal reports whether w is a terminal (TCGETS succeeds on it);
// /dev/null and pipes are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// toFile streams the backup into a temporary file beside name and
// links it into place only when the whole stream arrived, so a failed or
// interrupted backup never leaves a file that looks complete.
func (c backupCmds) toFile(ctx context.Context, name string) (int64, error) {
	if _, err := os.Lstat(name); err == nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("%s exists", name), hint: "choose a new file name; backup never overwrites"}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, &cliError{code: exitError, msg: err.Error()}
	}
	removeStalePartials(name, c.ctl.stderr)
	f, err := os.CreateTemp(filepath.Dir(name), partialPrefix(name)+"*")
	if err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("create backup file: %v", err)}
	}
	tmp := f.Name()
	// Held until the process ends: while it is, the file is not stale.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("lock backup file: %v", err)}
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return 0, &cliError{code: exitError, msg: err.Error()}
	}
	n, err := c.ctl.cl.stream(ctx, "/v1/backup", f)
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("write backup file: %v", err)}
	}
	if err := f.Close(); err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("write backup file: %v", err)}
	}
	if err := os.Link(tmp, name); err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("put the backup in place: %v", err), hint: "choose a new file name; backup never overwrites"}
	}
	os.Remove(tmp)
	ok = true
	return n, nil
}

// stream GETs path and copies a 2xx answer's body to w, with no overall
// timeout (a backup takes as long as the store is large); an error
// answer is decoded as do decodes it. A transfer the daemon broke off
// is an error, never a short success.
func (cl *client) stream(ctx context.Context, path string, w io.Writer) (int64, error) {
	long := *cl.http
	long.Timeout = 0
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://accessd"+path, nil)
	if err != nil {
		return 0, &cliError{code: exitError, msg: fmt.Sprintf("build request: %v", err)}
	}
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := long.Do(req)
	if err != nil {
		return 0, cl.dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		return 0, httpError(resp, answer, "")
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, &cliError{code: exitError, msg: fmt.Sprintf("backup transfer failed after %d bytes: %v", n, err),
			hint: "nothing usable was written; see journalctl -u accessd and run it again"}
	}
	return n, nil
}

// longCall is do without the client's usual timeout, for admin calls
// whose work grows with the store (a field-key rotation).
func (cl *client) longCall(ctx context.Context, c call, out any, limit time.Duration) (int, error) {
	long := *cl
	h := *cl.http
	h.Timeout = limit
	long.http = &h
	return long.do(ctx, c, out)
}

// partialPrefix is how the temporary file of a backup to name begins.
func partialPrefix(name string) string { return "." + filepath.Base(name) + ".partial-" }

// removeStalePartials removes what killed backups to name left behind:
// files beside it called exactly .NAME.partial-DIGITS, regular, owned by
// the caller, and not locked (a backup holds its file's lock while it
// runs, and the kernel drops it when the process dies, however it died).
// It reports each removal on w; it never fails the backup.
func removeStalePartials(name string, w io.Writer) {
	dir, prefix := filepath.Dir(name), partialPrefix(name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || suffix == "" || strings.Trim(suffix, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) != nil || int(st.Uid) != os.Getuid() || st.Mode&syscall.S_IFMT != syscall.S_IFREG ||
			syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		if os.Remove(p) == nil {
			fmt.Fprintf(w, "accessctl: removed %s, left by a backup that did not finish\n", p)
		}
		f.Close()
	}
}
