package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Config says which TPM Open reaches.
type Config struct {
	// Device is a device path ("/dev/tpmrm0", the default when empty), a
	// swtpm address ("tcp://127.0.0.1:2321"), or "simulator".
	Device string
	// SimulatorSeedFile keeps the in-process simulator's seed across
	// restarts (created with mode 0600 on first use; its directory must
	// exist). Empty means a random seed that is never written down: blobs
	// then die with the process. Ignored for other devices.
	SimulatorSeedFile string
	// AllowRemoteTCP lets a tcp:// device name a non-loopback address. Off by
	// default because a TPM reached over the network does not bind keys to
	// this host.
	AllowRemoteTCP bool
	// Rand supplies the simulator seed on first use; nil means crypto/rand.
	Rand io.Reader
}

// DefaultDevice is the kernel's TPM resource manager, which lets several
// processes share the TPM and flushes what a crashed process left loaded.
const DefaultDevice = "/dev/tpmrm0"

// TPM is an open TPM that seals and unseals under a transient ECC SRK. It is
// safe for concurrent use; commands are serialised.
type TPM struct {
	kind Kind
	name string // device path, address or "simulator", for messages

	mu      sync.Mutex
	tpm     transport.TPM
	closeFn func() error
	closed  bool
	flushed Leftovers // what Open flushed (see flushLeftovers)
}

var _ Sealer = (*TPM)(nil)

// Open connects to the TPM that cfg names and checks that it answers with a
// SHA-256 PCR bank. Errors wrap ErrNoDevice, ErrPermission or
// ErrSimulatorInUse and say what to do.
func Open(cfg Config) (*TPM, error) {
	dev := cfg.Device
	if dev == "" {
		dev = DefaultDevice
	}
	var (
		t   *TPM
		err error
	)
	switch {
	case dev == string(KindSimulator):
		t, err = openSimulator(cfg)
	case strings.HasPrefix(dev, "tcp://"):
		t, err = openTCP(dev, cfg.AllowRemoteTCP)
	case strings.HasPrefix(dev, "/"):
		t, err = openDevice(dev)
	default:
		return nil, fmt.Errorf("seal: TPM %q: want a device path such as %q, an address such as \"tcp://127.0.0.1:2321\", or \"simulator\"", dev, DefaultDevice)
	}
	if err != nil {
		return nil, err
	}
	if err := t.probe(); err != nil {
		_ = t.Close()
		return nil, err
	}
	if err := t.flushLeftovers(); err != nil {
		_ = t.Close()
		return nil, err
	}
	return t, nil
}

// probe reads PCR 0 of the SHA-256 bank: it proves that something answering
// TPM commands is there, and that the bank sealing relies on exists.
func (t *TPM) probe() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := readPCRs(t.tpm, []int{0}); err != nil {
		var rc tpm2.TPMRC
		switch {
		case errors.Is(err, tpm2.TPMRCInitialize):
			return fmt.Errorf("seal: open TPM %s: the TPM has not been started (TPM2_Startup); start swtpm with --flags not-need-init,startup-clear: %w", t.name, err)
		case errors.As(err, &rc):
			return fmt.Errorf("seal: open TPM %s: %w", t.name, err)
		default:
			return fmt.Errorf("seal: open TPM %s: %w: it does not answer TPM commands (%w); check that the device or address is a TPM 2.0", t.name, ErrNoDevice, err)
		}
	}
	return nil
}

// Kind says what sort of TPM this is.
func (t *TPM) Kind() Kind { return t.kind }

// Close releases the TPM (for the simulator, lets it be opened again). Later
// calls return nil.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if err := t.closeFn(); err != nil {
		return fmt.Errorf("seal: close TPM %s: %w", t.name, err)
	}
	return nil
}

// lock takes the command lock and fails on a closed TPM.
func (t *TPM) lock() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("seal: TPM %s is closed", t.name)
	}
	return nil
}

// ReadPCRs returns the current SHA-256 values of pcrs in ascending order.
func (t *TPM) ReadPCRs(pcrs []int) ([]PCR, error) {
	sel, err := normalizePCRs(pcrs)
	if err != nil {
		return nil, err
	}
	if len(sel) == 0 {
		return nil, nil
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	out, err := readPCRs(t.tpm, sel)
	if err != nil {
		return nil, fmt.Errorf("seal: read PCRs: %w", err)
	}
	return out, nil
}

// maxSecret is MAX_SYM_DATA, the most a sealed data object can hold.
const maxSecret = 128

// Seal seals secret under a transient ECC SRK, bound by TPM2_PolicyPCR to
// the values of one branch of policy, or by TPM2_PolicyOR over a
// TPM2_PolicyPCR per branch when there are several (see policy.go); no
// branch, or one empty branch, binds it to nothing.
func (t *TPM) Seal(secret []byte, policy ...[]PCR) (_ []byte, err error) {
	defer func() { err = t.slotsErr(err) }()
	if len(secret) == 0 || len(secret) > maxSecret {
		return nil, fmt.Errorf("seal: seal: secret must be 1 to %d bytes, got %d", maxSecret, len(secret))
	}
	branches, err := checkBranches(policy)
	if err != nil {
		return nil, err
	}
	authPolicy, err := policyDigest(branches)
	if err != nil {
		return nil, fmt.Errorf("seal: seal: compute PCR policy: %w", err)
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()

	srk, err := createSRK(t.tpm)
	if err != nil {
		return nil, fmt.Errorf("seal: seal: %w", err)
	}
	defer srk.flush(t.tpm)
	crashPoint("seal.seal.srk")

	pub := tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:     true,
			FixedParent:  true,
			NoDA:         true,
			UserWithAuth: len(branches) == 0,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: authPolicy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		}),
	}
	data := bytes.Clone(secret)
	defer clear(data)
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{
			Handle: srk.handle,
			Name:   srk.name,
			// The session encrypts the first command parameter, the
			// sensitive data, with a key only the TPM can derive.
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16,
				tpm2.AESEncryption(128, tpm2.EncryptIn),
				tpm2.Salted(srk.handle, srk.pub)),
		},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data}),
		}},
		InPublic: tpm2.New2B(pub),
	}.Execute(t.tpm)
	if err != nil {
		return nil, fmt.Errorf("seal: seal: create sealed object: %w", err)
	}
	return encodeBlob(tpmBlob{
		srkName: srk.name.Buffer,
		public:  rsp.OutPublic.Bytes(),
		private: rsp.OutPrivate.Buffer,
	}), nil
}

// Unseal loads blob under a freshly derived SRK and unseals it, satisfying
// its PCR policy, whose branches policy lists as Seal was given them.
func (t *TPM) Unseal(blob []byte, policy ...[]PCR) (_ []byte, err error) {
	defer func() { err = t.slotsErr(err) }()
	b, err := parseBlob(blob)
	if err != nil {
		return nil, fmt.Errorf("seal: unseal root key: %w: %v; restore root.sealed from a backup or %s", ErrTampered, err, hintRecover)
	}
	branches, err := checkBranches(policy)
	if err != nil {
		return nil, err
	}
	wantPolicy, err := policyDigest(branches)
	if err != nil {
		return nil, fmt.Errorf("seal: unseal root key: compute PCR policy: %w", err)
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()

	srk, err := createSRK(t.tpm)
	if err != nil {
		return nil, fmt.Errorf("seal: unseal root key: %w", err)
	}
	defer srk.flush(t.tpm)
	crashPoint("seal.unseal.srk")
	if !bytes.Equal(srk.name.Buffer, b.srkName) {
		return nil, fmt.Errorf("seal: unseal root key: %w: this TPM's storage root key is not the one the blob was sealed under (the TPM was cleared or replaced, or the file comes from another host); %s", ErrWrongTPM, hintRecover)
	}

	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    tpm2.TPM2BPrivate{Buffer: b.private},
		InPublic:     tpm2.BytesAs2B[tpm2.TPMTPublic](b.public),
	}.Execute(t.tpm)
	if err != nil {
		var rc tpm2.TPMRC
		if errors.As(err, &rc) && !rc.IsWarning() {
			return nil, fmt.Errorf("seal: unseal root key: %w: the TPM rejected the sealed object (%w); restore root.sealed from a backup or %s", ErrTampered, err, hintRecover)
		}
		return nil, fmt.Errorf("seal: unseal root key: load sealed object: %w", err)
	}
	defer flush(t.tpm, loaded.ObjectHandle)
	crashPoint("seal.unseal.loaded")

	// The TPM has checked the public area's integrity; now make sure the
	// PCR policy we were given is the one it carries.
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](b.public)
	if err != nil {
		return nil, fmt.Errorf("seal: unseal root key: %w: decode sealed object: %v", ErrTampered, err)
	}
	bound := !pub.ObjectAttributes.UserWithAuth
	if bound != (len(branches) > 0) || pub.Type != tpm2.TPMAlgKeyedHash || !bytes.Equal(pub.AuthPolicy.Buffer, wantPolicy) {
		return nil, fmt.Errorf("seal: unseal root key: %w: the PCR policy recorded in the file does not match the sealed object's policy; restore root.sealed from a backup or %s", ErrTampered, hintRecover)
	}

	var auth tpm2.Session
	if len(branches) == 0 {
		// Empty auth value; the session is there to encrypt the response.
		auth = tpm2.HMAC(tpm2.TPMAlgSHA256, 16,
			tpm2.AESEncryption(128, tpm2.EncryptOut),
			tpm2.Salted(srk.handle, srk.pub))
	} else {
		sess, closeSess, err := tpm2.PolicySession(t.tpm, tpm2.TPMAlgSHA256, 16,
			tpm2.AESEncryption(128, tpm2.EncryptOut),
			tpm2.Salted(srk.handle, srk.pub))
		if err != nil {
			return nil, fmt.Errorf("seal: unseal root key: start policy session: %w", err)
		}
		defer func() { _ = closeSess() }()
		crashPoint("seal.unseal.session")
		if err := satisfyPolicy(t.tpm, sess.Handle(), branches); err != nil {
			return nil, fmt.Errorf("seal: unseal root key: %w", err)
		}
		auth = sess
	}
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{
		Handle: loaded.ObjectHandle,
		Name:   loaded.Name,
		Auth:   auth,
	}}.Execute(t.tpm)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCPolicyFail) {
			return nil, fmt.Errorf("seal: unseal root key: %w", ErrPCRMismatch)
		}
		return nil, fmt.Errorf("seal: unseal root key: %w", err)
	}
	out := bytes.Clone(rsp.OutData.Buffer)
	clear(rsp.OutData.Buffer)
	return out, nil
}

// srkKey is a transient SRK, loaded for the duration of one operation.
type srkKey struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

// createSRK derives the TCG reference ECC P-256 SRK from the owner
// hierarchy. The same template on the same TPM (same owner seed) always
// yields the same key, so nothing needs to be persisted.
func createSRK(tp transport.TPM) (*srkKey, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tp)
	if err != nil {
		switch {
		case errors.Is(err, tpm2.TPMRCBadAuth), errors.Is(err, tpm2.TPMRCAuthFail):
			return nil, fmt.Errorf("create storage root key: the TPM's owner hierarchy has a password; accessd needs it empty (the TCG-recommended setting): %w", err)
		case errors.Is(err, tpm2.TPMRCLockout):
			return nil, fmt.Errorf("create storage root key: the TPM is in dictionary-attack lockout; wait for it to clear or reset it with the lockout authorization: %w", err)
		case errors.Is(err, tpm2.TPMRCHierarchy):
			return nil, fmt.Errorf("create storage root key: the TPM's owner hierarchy is disabled; enable it in the firmware setup: %w", err)
		}
		return nil, fmt.Errorf("create storage root key: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(tp, rsp.ObjectHandle)
		return nil, fmt.Errorf("create storage root key: decode public area: %w", err)
	}
	return &srkKey{handle: rsp.ObjectHandle, name: rsp.Name, pub: *pub}, nil
}

func (k *srkKey) flush(tp transport.TPM) { flush(tp, k.handle) }

// flush unloads a transient object or session. A failure leaves nothing for
// the caller to do: the resource manager (or the next TPM reset) reclaims it.
func flush(tp transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(tp)
}

// pcrSelection selects PCRs of the SHA-256 bank.
func pcrSelection(pcrs []int) tpm2.TPMLPCRSelection {
	idx := make([]uint, len(pcrs))
	for i, p := range pcrs {
		idx[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(idx...),
	}}}
}

// readPCRs reads sel (sorted, non-empty) from the SHA-256 bank. A TPM may
// return fewer PCRs than asked (commonly at most 8 per call), so it loops
// until every PCR is read.
func readPCRs(tp transport.TPM, sel []int) ([]PCR, error) {
	got := make(map[int][]byte, len(sel))
	remaining := sel
	for len(remaining) > 0 {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(remaining)}.Execute(tp)
		if err != nil {
			return nil, err
		}
		var returned []int
		for _, s := range rsp.PCRSelectionOut.PCRSelections {
			if s.Hash != tpm2.TPMAlgSHA256 {
				continue
			}
			for i, b := range s.PCRSelect {
				for bit := range 8 {
					if b&(1<<bit) != 0 {
						returned = append(returned, i*8+bit)
					}
				}
			}
		}
		if len(returned) == 0 {
			return nil, errors.New("the TPM returned no SHA-256 PCR values; enable the SHA-256 PCR bank (e.g. tpm2_pcrallocate sha256:all) and reboot")
		}
		if len(returned) != len(rsp.PCRValues.Digests) {
			return nil, fmt.Errorf("the TPM returned %d PCR values for %d PCRs", len(rsp.PCRValues.Digests), len(returned))
		}
		asked := make(map[int]bool, len(remaining))
		for _, p := range remaining {
			asked[p] = true
		}
		for i, idx := range returned {
			if !asked[idx] {
				return nil, fmt.Errorf("the TPM returned PCR %d, which was not asked for", idx)
			}
			d := rsp.PCRValues.Digests[i].Buffer
			if len(d) != pcrDigestSize {
				return nil, fmt.Errorf("the TPM returned a %d-byte SHA-256 value for PCR %d", len(d), idx)
			}
			if _, dup := got[idx]; dup {
				return nil, fmt.Errorf("the TPM returned PCR %d twice", idx)
			}
			got[idx] = bytes.Clone(d)
		}
		next := remaining[:0:0]
		for _, p := range remaining {
			if _, ok := got[p]; !ok {
				next = append(next, p)
			}
		}
		remaining = next
	}
	out := make([]PCR, len(sel))
	for i, p := range sel {
		out[i] = PCR{Index: p, Digest: got[p]}
	}
	return out, nil
}
