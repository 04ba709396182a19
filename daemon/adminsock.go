package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Peer is the kernel's account of who is on the other end of an admin
// connection (SO_PEERCRED), taken when the connection was accepted.
type Peer struct {
	PID int32
	UID uint32
	GID uint32
}

// peerPolicy decides which local users may use the admin plane: root, the
// daemon's own user, and members of the admin group. The socket's file mode
// is a first fence; this is the one that counts.
type peerPolicy struct {
	selfUID  uint32
	adminGID int // -1 when the group does not exist
	// groupsOf lists a user's group ids (primary and supplementary), from
	// the account database.
	groupsOf func(uid uint32) ([]string, error)
}

func newPeerPolicy(group string) peerPolicy {
	p := peerPolicy{selfUID: uint32(os.Geteuid()), adminGID: -1, groupsOf: userGroups}
	if g, err := user.LookupGroup(group); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			p.adminGID = gid
		}
	}
	return p
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
	if int(peer.GID) == p.adminGID {
		return true, ""
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

// peerListener accepts only connections whose peer passes the policy.
// Refused peers get a short HTTP 403 and are closed before any request is
// read, and each refusal is logged for the audit trail.
type peerListener struct {
	net.Listener
	policy   peerPolicy
	log      *slog.Logger
	onRefuse func() // counts refusals for metrics; may be nil
}

const refusal = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer, err := peerCred(c)
		if err != nil {
			l.log.Warn("admin connection refused", "reason", "no peer credentials", "err", err)
			c.Close()
			continue
		}
		ok, why := l.policy.allows(peer)
		if ok {
			return &peerConn{Conn: c, peer: peer}, nil
		}
		if l.onRefuse != nil {
			l.onRefuse()
		}
		l.log.Warn("admin connection refused", "event", "admin.refused",
			"uid", peer.UID, "gid", peer.GID, "pid", peer.PID, "reason", why)
		go refuse(c)
	}
}

// refuse answers a refused peer with a 403 that says what to do, after
// reading (and discarding) its request head so the client sees the answer
// rather than a broken pipe. It is bounded: 16 KiB and one second.
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
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, serr
	}
	return Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}, nil
}

// listenAdmin creates the admin socket at path with mode 0660 and the admin
// group. A leftover socket file is removed only when nothing answers on it,
// so a second daemon cannot steal a live one's socket.
func listenAdmin(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
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
	// it to the group: there is no moment when it is wider than 0660.
	old := syscall.Umask(0o177) // process-wide, but nothing else creates files during start-up
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("daemon: listen on admin socket %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if g, err := user.LookupGroup(group); err == nil {
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("daemon: give admin socket to group %s: %w", group, err)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("daemon: chmod admin socket: %w", err)
	}
	return l, nil
}
