package daemon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Peer is the kernel's account of who is on the other end of an admin
// connection, taken when the connection was accepted: SO_PEERCRED for the
// ids, SO_PEERGROUPS for the supplementary groups the process holds.
type Peer struct {
	PID    int32
	UID    uint32
	GID    uint32
	Groups []uint32 // nil when the kernel could not say (before Linux 4.13)
}

// peerPolicy decides which local users may use the admin plane: root, the
// daemon's own user, and members of the admin group. The socket's file mode
// is a first fence; this is the one that counts.
type peerPolicy struct {
	selfUID  uint32
	adminGID int // -1 when the group does not exist
	// groupsOf lists a user's group ids from the account database; used
	// only when the kernel did not report the peer's groups.
	groupsOf func(uid uint32) ([]string, error)
}

// lookupGroup returns the gid of a group name, or -1 when there is none.
func lookupGroup(name string) int {
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1
	}
	return gid
}

func newPeerPolicy(group string) peerPolicy {
	return peerPolicy{selfUID: uint32(os.Geteuid()), adminGID: lookupGroup(group), groupsOf: userGroups}
}

func userGroups(uid uint32) ([]string, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	return u.GroupIds()
}

// allows reports whether peer may use the admin plane, and why not.
func (p peerPolicy) allows(peer Peer) (bool, string) {
	if peer.UID == 0 || peer.UID == p.selfUID {
		return true, ""
	}
	if p.adminGID < 0 {
		return false, "admin group does not exist"
	}
	if int(peer.GID) == p.adminGID || slices.Contains(peer.Groups, uint32(p.adminGID)) {
		return true, ""
	}
	if peer.Groups != nil {
		return false, "not root and not a member of the admin group"
	}
	gids, err := p.groupsOf(peer.UID)
	if err != nil {
		return false, "cannot look up the user's groups"
	}
	if slices.Contains(gids, strconv.Itoa(p.adminGID)) {
		return true, ""
	}
	return false, "not root and not a member of the admin group"
}

// peerConn is an admin connection that passed the peer check.
type peerConn struct {
	net.Conn
	peer Peer
}

// maxRefusing bounds the refused connections being answered at once, so a
// local user opening connections in a loop costs a bounded amount.
const maxRefusing = 16

// peerListener accepts only connections whose peer passes the policy.
// Each connection is checked on its own goroutine, so a slow account
// lookup cannot stall the others. Refused peers get a short HTTP 403 and
// are closed without their request reaching a handler. Every refusal is
// counted (onRefuse); refusal lines are logged within a rate bound, each
// saying how many were held back before it, so a local user cannot flood
// the journal.
type peerListener struct {
	net.Listener
	allow    func(Peer) (ok bool, why string) // usually peerPolicy.allows
	log      *slog.Logger
	onRefuse func() // counts refusals for metrics; may be nil

	// logs bounds the refusal lines, which any local user can trigger;
	// nil means logBurst lines, then one per logEvery.
	logs *logLimiter

	once     sync.Once
	conns    chan net.Conn
	done     chan struct{}
	err      error // set before done is closed
	refusing chan struct{}
}

func (l *peerListener) start() {
	l.conns = make(chan net.Conn)
	l.done = make(chan struct{})
	l.refusing = make(chan struct{}, maxRefusing)
	if l.logs == nil {
		l.logs = newLogLimiter(logBurst, logEvery)
	}
	go l.acceptLoop()
}

// acceptLoop accepts until the listener is closed. Any other error (out of
// file descriptors, say) is waited out with a capped backoff, as
// http.Server does, so a burst cannot take the admin plane down for good.
func (l *peerListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.err = err
				close(l.done)
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("admin socket accept failed; retrying", "event", "admin.accept_error", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go l.check(c)
	}
}

func (l *peerListener) check(c net.Conn) {
	peer, err := peerCred(c)
	if err != nil {
		if ok, dropped := l.logs.allow(); ok {
			l.log.Warn("admin connection refused", "event", "admin.refused", "reason", "no peer credentials", "err", err,
				"dropped", dropped)
		}
		c.Close()
		return
	}
	if ok, why := l.allow(peer); !ok {
		if l.onRefuse != nil {
			l.onRefuse()
		}
		// Logged within a bound: the peer can connect in a loop. "dropped"
		// counts the refusal lines held back since the last one.
		if ok, dropped := l.logs.allow(); ok {
			l.log.Warn("admin connection refused", "event", "admin.refused",
				"uid", peer.UID, "gid", peer.GID, "pid", peer.PID, "reason", why, "dropped", dropped)
		}
		select {
		case l.refusing <- struct{}{}:
			refuse(c)
			<-l.refusing
		default: // too many at once: just hang up
			c.Close()
		}
		return
	}
	select {
	case l.conns <- &peerConn{Conn: c, peer: peer}:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection that passed the peer check.
func (l *peerListener) Accept() (net.Conn, error) {
	l.once.Do(l.start)
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

const refusal = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"

// refuse answers a refused peer with a 403 that says what to do, after
// reading (and discarding) its request head, and then drains what the
// client still sends (a request body) before closing, so the client
// finishes writing and reads the answer rather than a broken pipe. It is
// bounded: 16 KiB of head, 1 MiB (the body limit) of drain, a second each.
func refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 16<<10)
	var got []byte
	for len(got) < len(buf) && !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := c.Read(buf[len(got):])
		got = buf[:len(got)+n]
		if err != nil {
			break
		}
	}
	body := `{"code":"AUT-0403","title":"Forbidden","message":"the admin socket is for root and members of the admin group; ask an administrator to add you to it"}`
	fmt.Fprintf(c, refusal, len(body), body)
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, _ = io.CopyN(io.Discard, c, maxBody)
}

func peerCred(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, errors.New("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var groups []uint32
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		groups = peerGroups(int(fd))
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, serr
	}
	return Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid, Groups: groups}, nil
}

// peerGroups reads SO_PEERGROUPS: the supplementary groups the peer process
// held when it connected. It returns nil when the kernel cannot say.
func peerGroups(fd int) []uint32 {
	buf := make([]uint32, 256)
	size := uint32(len(buf) * 4)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno == unix.ERANGE && size > uint32(len(buf)*4) {
		buf = make([]uint32, size/4)
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
	}
	if errno != 0 {
		return nil
	}
	out := make([]uint32, 0, size/4)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), size)
	for i := 0; i+4 <= len(b); i += 4 {
		out = append(out, binary.NativeEndian.Uint32(b[i:]))
	}
	return out
}

// mkdirTraversable creates dir, if missing, mode 0755 whatever the umask
// (accessd runs under 0077), as DESIGN §4 has /run/accessd: admin-group
// members must be able to reach the 0660 socket in it, and the peer check
// decides who gets in. A directory that exists is left as it is.
func mkdirTraversable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// listenAdmin creates the admin socket at path with mode 0660 and the admin
// group. A leftover socket file is removed only when nothing answers on it,
// so a second daemon cannot steal a live one's socket.
func listenAdmin(path, group string, log *slog.Logger) (net.Listener, error) {
	if err := mkdirTraversable(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("daemon: admin socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("daemon: %s exists and is not a socket; move it away", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("daemon: %s is in use by a running accessd; stop it first", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("daemon: probe stale admin socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("daemon: remove stale admin socket: %w", err)
		}
	}
	// Create the socket with no access for anyone but the owner, then open
	// it to the group: there is no moment when it is wider than 0660. The
	// umask is process-wide, but nothing else creates files at this point
	// of start-up.
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("daemon: listen on admin socket %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if gid := lookupGroup(group); gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("daemon: give admin socket to group %s: %w (the service user must be a member: SupplementaryGroups=%s)", group, err, group)
		}
	} else {
		log.Warn("admin group does not exist; only root and the service user can use the admin socket",
			"event", "admin.no_group", "group", group, "fix", "groupadd --system "+group)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("daemon: chmod admin socket: %w", err)
	}
	return l, nil
}
