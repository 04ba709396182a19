package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

// The Microsoft simulator ("mssim") TCP framing, as swtpm serves it on its
// server port. See TpmTcpProtocol.h in the TCG reference implementation.
const (
	mssimSendCommand = 8  // TPM_SEND_COMMAND
	mssimSessionEnd  = 20 // TPM_SESSION_END
)

// Timeouts for the TCP transport. Commands are generous because a busy
// swtpm can take a while to create primary keys.
const (
	tcpDialTimeout    = 5 * time.Second
	tcpCommandTimeout = 60 * time.Second
	maxTCPResponse    = 64 << 10
)

// openTCP connects to swtpm's server port at a tcp:// address.
func openTCP(device string, allowRemote bool) (*TPM, error) {
	addr, err := tcpAddress(device, allowRemote)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", addr, tcpDialTimeout)
	if err != nil {
		return nil, fmt.Errorf("seal: open TPM %s: %w: %w; is swtpm running? (swtpm socket --tpm2 --server type=tcp,port=P --ctrl type=tcp,port=P+1 --flags not-need-init,startup-clear --tpmstate dir=D)", device, ErrNoDevice, err)
	}
	rw := &mssimConn{conn: conn}
	tp := transport.FromReadWriteCloser(rw)
	return &TPM{kind: KindTCP, name: device, tpm: tp, closeFn: tp.Close}, nil
}

// TCPAddress checks a "tcp://HOST:PORT" seal device the way Open does
// (loopback only; "localhost" means 127.0.0.1 without a resolver) and
// returns HOST:PORT, so the config and the host checks accept exactly the
// addresses Open accepts.
func TCPAddress(device string) (string, error) { return tcpAddress(device, false) }

// tcpAddress checks a tcp://host:port device name and returns host:port.
// Only loopback hosts are accepted unless allowRemote is set; "localhost" is
// taken to mean 127.0.0.1 without asking a resolver.
func tcpAddress(device string, allowRemote bool) (string, error) {
	u, err := url.Parse(device)
	if err != nil || u.Scheme != "tcp" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("seal: TPM address %q: want tcp://HOST:PORT, e.g. tcp://127.0.0.1:2321", device)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		return "", fmt.Errorf("seal: TPM address %q has no port; swtpm's server port is usually 2321", device)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if !allowRemote && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("seal: TPM address %q is not a loopback address: a TPM reached over the network does not bind keys to this host; run swtpm on this host and use tcp://127.0.0.1:PORT", device)
	}
	return net.JoinHostPort(host, port), nil
}

// mssimConn frames TPM commands for swtpm's server port. It is an
// io.ReadWriteCloser in the shape tpmutil expects: Write sends one command
// and reads the whole response, and Read returns that response. Unlike
// go-tpm's own adapters it never returns io.EOF together with data, and it
// reads with io.ReadFull, so a response split across TCP segments is fine.
type mssimConn struct {
	conn    net.Conn
	rsp     []byte
	timeout time.Duration // per command; zero means tcpCommandTimeout
}

// Write sends cmd and reads its response.
func (c *mssimConn) Write(cmd []byte) (int, error) {
	d := c.timeout
	if d == 0 {
		d = tcpCommandTimeout
	}
	if err := c.conn.SetDeadline(time.Now().Add(d)); err != nil {
		return 0, fmt.Errorf("tcp tpm: %w", err)
	}
	req := make([]byte, 0, 9+len(cmd))
	req = binary.BigEndian.AppendUint32(req, mssimSendCommand)
	req = append(req, 0) // locality 0
	req = binary.BigEndian.AppendUint32(req, uint32(len(cmd)))
	req = append(req, cmd...)
	_, err := c.conn.Write(req)
	clear(req) // may hold a sealing command's (already encrypted) parameters
	if err != nil {
		return 0, fmt.Errorf("tcp tpm: send command: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return 0, fmt.Errorf("tcp tpm: read response length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxTCPResponse {
		return 0, fmt.Errorf("tcp tpm: response length %d out of range", n)
	}
	rsp := make([]byte, n)
	if _, err := io.ReadFull(c.conn, rsp); err != nil {
		return 0, fmt.Errorf("tcp tpm: read response: %w", err)
	}
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return 0, fmt.Errorf("tcp tpm: read acknowledgement: %w", err)
	}
	if ack := binary.BigEndian.Uint32(hdr[:]); ack != 0 {
		return 0, fmt.Errorf("tcp tpm: server returned status %d", ack)
	}
	c.rsp = rsp
	return len(cmd), nil
}

// Read returns the response to the last command.
func (c *mssimConn) Read(p []byte) (int, error) {
	if len(c.rsp) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.rsp)
	c.rsp = c.rsp[n:]
	return n, nil
}

// Close tells the server the session is over and closes the connection.
// Transient objects stay loaded in swtpm (it has no resource manager), which
// is why every operation flushes what it loads.
func (c *mssimConn) Close() error {
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	_, _ = c.conn.Write(binary.BigEndian.AppendUint32(nil, mssimSessionEnd))
	err := c.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
