package credential

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/accessd/accessd/oauth/api"
)

// PasswordParams are argon2id's cost parameters. DefaultPasswordParams
// follows OWASP's first recommendation (19 MiB, 2 passes, 1 lane): it keeps
// a burst of logins from exhausting an appliance's memory while costing an
// attacker about 20 ms of 19 MiB memory per guess.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultPasswordParams is what new hashes use.
var DefaultPasswordParams = PasswordParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// validate keeps parameters inside the range VerifyPassword accepts, so
// that a hash made with them can be verified later, and a forged PHC string
// cannot make one verification cost gigabytes.
func (p PasswordParams) validate() error {
	if p.MemoryKiB < 8*1024 || p.MemoryKiB > 256*1024 || p.Time < 1 || p.Time > 10 || p.Threads < 1 {
		return errors.New("identity: argon2 parameters out of range (memory 8-256 MiB, time 1-10, threads >= 1)")
	}
	return nil
}

// ErrPasswordMismatch is returned when a password does not match its hash.
var ErrPasswordMismatch = errors.New("identity: password does not match")

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string "$argon2id$v=19$m=..,t=..,p=..$salt$hash".
// It is unbounded: servers hash through a Hasher, which limits how many
// run at once.
func HashPassword(password []byte, p PasswordParams, rnd io.Reader) (string, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("identity: password salt: %w", err)
	}
	sum := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(sum)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	params PasswordParams
	salt   []byte
	sum    []byte
}

// parsePHC parses a PHC string made by HashPassword. It is the parser of
// stored (not client-supplied) bytes, but still refuses parameters outside
// the accepted range, so a tampered record cannot make a verification cost
// unbounded memory or time.
func parsePHC(s string) (phc, error) {
	var h phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errors.New("identity: unsupported password hash format")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return h, errors.New("identity: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.params.MemoryKiB, &h.params.Time, &h.params.Threads); err != nil {
		return h, errors.New("identity: malformed argon2 parameters")
	}
	if err := h.params.validate(); err != nil {
		return h, err
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, errors.New("identity: malformed password salt")
	}
	if h.sum, err = b64.DecodeString(parts[5]); err != nil || len(h.sum) < 16 || len(h.sum) > 64 {
		return h, errors.New("identity: malformed password hash")
	}
	return h, nil
}

// verify recomputes the hash and compares it in constant time.
func (h phc) verify(password []byte) error {
	got := argon2.IDKey(password, h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.sum)))
	defer clear(got)
	if subtle.ConstantTimeCompare(got, h.sum) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// VerifyPassword checks password against a PHC string made by HashPassword.
// The comparison is constant-time. Like HashPassword it is unbounded;
// servers verify through a Hasher.
func VerifyPassword(phc string, password []byte) error {
	h, err := parsePHC(phc)
	if err != nil {
		return err
	}
	return h.verify(password)
}

// NeedsRehash reports whether a stored hash was made with weaker
// parameters than p (less memory, fewer passes or lanes, or a shorter
// output), so the caller re-hashes the password after its next successful
// verification, when it has the password in hand. An unparseable string
// needs a rehash too (it can never verify, so this only matters to callers
// that check before verifying).
func NeedsRehash(phc string, p PasswordParams) bool {
	h, err := parsePHC(phc)
	if err != nil {
		return true
	}
	return h.params.MemoryKiB < p.MemoryKiB || h.params.Time < p.Time ||
		h.params.Threads < p.Threads || len(h.sum) < 32 || len(h.salt) < 16
}

// GeneratePassword returns a random password of 24 characters from an
// alphabet without look-alikes (about 140 bits), for one-time display.
func GeneratePassword(rnd io.Reader) ([]byte, error) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	out := make([]byte, 24)
	buf := make([]byte, 1)
	for i := 0; i < len(out); {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("identity: generate password: %w", err)
		}
		// Rejection sampling keeps every character equally likely.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return out, nil
}

// PasswordPolicy is what a chosen password must satisfy. It follows NIST
// SP 800-63B: a length floor and ceiling, and a refusal of passwords an
// attacker tries first (common ones, and ones built from the account's own
// names), rather than composition rules that push users to predictable
// patterns. The zero value means DefaultPasswordPolicy.
type PasswordPolicy struct {
	// MinLength and MaxLength count characters (runes after NFC), so a
	// password of accented letters is measured the way its owner typed it.
	// Zero means 12 and 256.
	MinLength, MaxLength int
}

// DefaultPasswordPolicy is the policy of issue 6: 12 to 256 characters.
func DefaultPasswordPolicy() PasswordPolicy { return PasswordPolicy{MinLength: 12, MaxLength: 256} }

//go:embed commonpasswords.txt
var commonPasswordsFile string

// commonPasswords is the embedded list as a set, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 4096)
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		m[line] = struct{}{}
	}
	return m
})

// weak wraps api.ErrWeakPassword with the rule that failed. The message
// names the rule and never the password.
func weak(why string) error {
	return fmt.Errorf("identity: %w: %s", api.ErrWeakPassword, why)
}

// Check returns nil when password may be set for the account named
// username with address email, and otherwise an error that wraps
// api.ErrWeakPassword and says which rule failed (never echoing the
// password). Comparisons are case-insensitive; the account's names are
// checked only when they are at least 3 characters, so a short name does
// not refuse half the passwords in the world.
func (pp PasswordPolicy) Check(password []byte, username, email string) error {
	minLen, maxLen := pp.MinLength, pp.MaxLength
	if minLen <= 0 {
		minLen = DefaultPasswordPolicy().MinLength
	}
	if maxLen <= 0 {
		maxLen = DefaultPasswordPolicy().MaxLength
	}
	// Bound the work before normalising: NFC never more than triples the
	// length in bytes, and a rune is at most 4 bytes.
	if len(password) > 4*maxLen {
		return weak(fmt.Sprintf("longer than %d characters", maxLen))
	}
	if !utf8.Valid(password) {
		return weak("not valid UTF-8 text")
	}
	// Lower-cased, NFC copy; cleared on return (best effort: the caller's
	// own copy is its to clear).
	lower := bytes.ToLower(norm.NFC.Append(nil, password...))
	defer clear(lower)
	n := utf8.RuneCount(lower)
	switch {
	case n < minLen:
		return weak(fmt.Sprintf("shorter than %d characters", minLen))
	case n > maxLen:
		return weak(fmt.Sprintf("longer than %d characters", maxLen))
	}
	if contains(lower, username) {
		return weak("it contains the username")
	}
	if email != "" {
		if contains(lower, email) {
			return weak("it contains the email address")
		}
		if at := strings.LastIndexByte(email, '@'); at > 0 && contains(lower, email[:at]) {
			return weak("it contains the email address's local part")
		}
	}
	if why := commonPasswordRule(lower); why != "" {
		return weak(why)
	}
	return nil
}

// contains reports whether the lower-cased password holds name,
// case-insensitively, when name is long enough to be meaningful.
func contains(lower []byte, name string) bool {
	n := bytes.ToLower([]byte(norm.NFC.String(name)))
	return utf8.RuneCount(n) >= 3 && bytes.Contains(lower, n)
}

// isFiller reports whether b is an ASCII digit, space or symbol: what
// people add around a dictionary password to get past length and
// composition rules ("password2024!").
func isFiller(b byte) bool {
	return b < 0x80 && !('a' <= b && b <= 'z')
}

// commonPasswordRule returns why lower (lower-cased, NFC) is a common
// password, or "". Since nearly every entry of the list is shorter than
// the 12-character floor, the list alone would refuse almost nothing that
// passes the length check; so it also refuses an entry padded with digits
// and symbols on either side, an entry repeated, and passwords of fewer
// than 5 distinct characters ("aaaaaaaaaaaa", "121212121212").
func commonPasswordRule(lower []byte) string {
	list := commonPasswords()
	if _, ok := list[string(lower)]; ok {
		return "it is in the list of common passwords"
	}
	// Entry padded with filler: try every cut of the leading and trailing
	// filler runs (at most 256 × 256 lookups, none allocating).
	lead := 0
	for lead < len(lower) && isFiller(lower[lead]) {
		lead++
	}
	trail := len(lower)
	for trail > 0 && isFiller(lower[trail-1]) {
		trail--
	}
	// An all-filler password ("123456789012") is cut on one side only,
	// or every digit string holding a short common one would be refused.
	allFiller := lead == len(lower)
	for i := 0; i <= lead; i++ {
		for j := len(lower); j >= trail && j-i >= 4; j-- {
			if (i == 0 && j == len(lower)) || (allFiller && i != 0 && j != len(lower)) {
				continue
			}
			if _, ok := list[string(lower[i:j])]; ok {
				return "it is a common password with digits or symbols added"
			}
		}
	}
	// Repetition of a shorter unit that is itself common.
	for unit := 1; unit <= len(lower)/2; unit++ {
		if len(lower)%unit != 0 || !bytes.Equal(lower, bytes.Repeat(lower[:unit], len(lower)/unit)) {
			continue
		}
		if _, ok := list[string(lower[:unit])]; ok {
			return "it repeats a common password"
		}
	}
	distinct := map[rune]struct{}{}
	for _, r := range string(lower) {
		distinct[r] = struct{}{}
		if len(distinct) >= 5 {
			return ""
		}
	}
	return "it has fewer than 5 different characters"
}

// HasherOptions configure a Hasher.
type HasherOptions struct {
	// Params are the parameters of new hashes. Zero means
	// DefaultPasswordParams.
	Params PasswordParams
	// MemoryBudget bounds, in bytes, the argon2id memory in use at once
	// across all hashes and verifications. Zero means room for
	// max(2, runtime.NumCPU()) operations at Params: argon2id with one
	// lane is single-threaded, so more would only queue for CPU while
	// holding memory. At least one operation always fits.
	MemoryBudget int64
	// Rand supplies salts. Nil means crypto/rand.
	Rand io.Reader
}

// Hasher hashes and verifies passwords under a memory bound, so that a
// flood of logins (each argon2id call allocates Params.MemoryKiB) queues
// instead of exhausting the appliance's memory. Callers wait for room with
// their request's context and give up when it ends. A Hasher is safe for
// concurrent use.
type Hasher struct {
	params  PasswordParams
	rnd     io.Reader
	slotKiB uint32
	slots   chan struct{} // one token per slotKiB of budget
	wide    chan struct{} // held while acquiring several slots
	dummy   phc           // a hash of a random password, for DummyVerify

	active, peak atomic.Int64 // argon2id calls running now, and the most seen
	computed     atomic.Int64 // hashes and verifications started, bcrypt's too
	born         time.Time    // when the Hasher was made: lastUse counts from it, on the monotonic clock
	lastUse      atomic.Int64 // when the last argon2id call started, in nanoseconds since born; 0: never
}

// NewHasher returns a Hasher. It hashes one random password to prepare
// DummyVerify, so it costs one hash.
func NewHasher(o HasherOptions) (*Hasher, error) {
	if o.Params == (PasswordParams{}) {
		o.Params = DefaultPasswordParams
	}
	if err := o.Params.validate(); err != nil {
		return nil, err
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	slotBytes := int64(o.Params.MemoryKiB) * 1024
	n := int64(max(2, runtime.NumCPU()))
	if o.MemoryBudget > 0 {
		n = max(1, o.MemoryBudget/slotBytes)
	}
	n = min(n, 4096)
	h := &Hasher{
		params:  o.Params,
		rnd:     o.Rand,
		slotKiB: o.Params.MemoryKiB,
		slots:   make(chan struct{}, n),
		wide:    make(chan struct{}, 1),
		born:    time.Now(),
	}
	pw := make([]byte, 32)
	defer clear(pw)
	if _, err := io.ReadFull(o.Rand, pw); err != nil {
		return nil, fmt.Errorf("identity: dummy password: %w", err)
	}
	s, err := HashPassword(pw, o.Params, o.Rand)
	if err != nil {
		return nil, err
	}
	if h.dummy, err = parsePHC(s); err != nil {
		return nil, err
	}
	return h, nil
}

// Params returns the parameters new hashes get.
func (h *Hasher) Params() PasswordParams { return h.params }

// UsedWithin reports whether an argon2id call started in the last d.
func (h *Hasher) UsedWithin(d time.Duration) bool {
	last := h.lastUse.Load()
	return last != 0 && time.Since(h.born)-time.Duration(last) < d
}

// Computed returns how many hashes and verifications (DummyVerify's
// included) this Hasher has started, so that a test can count the work
// of a sign-in deterministically.
func (h *Hasher) Computed() int64 { return h.computed.Load() }

// Slots returns how many operations at Params may run at once.
func (h *Hasher) Slots() int { return cap(h.slots) }

// acquire takes room for an operation of memKiB, waiting until there is
// room or ctx ends. An operation over the whole budget takes the whole
// budget (so it runs alone rather than never).
func (h *Hasher) acquire(ctx context.Context, memKiB uint32) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("identity: waiting to hash: %w", err)
	}
	n := min(int((memKiB+h.slotKiB-1)/h.slotKiB), cap(h.slots))
	n = max(n, 1)
	if n > 1 {
		// Two wide operations each holding part of the budget and waiting
		// for the rest would deadlock; one at a time gather slots.
		select {
		case h.wide <- struct{}{}:
			defer func() { <-h.wide }()
		case <-ctx.Done():
			return nil, fmt.Errorf("identity: waiting to hash: %w", ctx.Err())
		}
	}
	for i := 0; i < n; i++ {
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
			for ; i > 0; i-- {
				<-h.slots
			}
			return nil, fmt.Errorf("identity: waiting to hash: %w", ctx.Err())
		}
	}
	h.lastUse.Store(max(int64(time.Since(h.born)), 1))
	h.computed.Add(1)
	a := h.active.Add(1)
	for p := h.peak.Load(); a > p && !h.peak.CompareAndSwap(p, a); p = h.peak.Load() {
	}
	return func() {
		h.active.Add(-1)
		for range n {
			<-h.slots
		}
	}, nil
}

// Hash returns the PHC string of password at the Hasher's parameters,
// waiting for room first. It returns ctx's error (wrapped) if ctx ends
// while it waits.
func (h *Hasher) Hash(ctx context.Context, password []byte) (string, error) {
	release, err := h.acquire(ctx, h.params.MemoryKiB)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password, h.params, h.rnd)
}

// Verify checks password against a stored PHC string in constant time,
// waiting for room first; a hash made with more memory than the current
// parameters takes proportionally more of the budget. An imported bcrypt
// hash is verified too (see CheckBcryptHash). It returns
// ErrPasswordMismatch, a format error, or ctx's error (wrapped).
func (h *Hasher) Verify(ctx context.Context, phc string, password []byte) error {
	if isBcrypt(phc) { // imported; re-made as argon2id at the first sign-in (NeedsRehash)
		return h.verifyBcrypt(ctx, phc, password)
	}
	p, err := parsePHC(phc)
	if err != nil {
		return err
	}
	return h.verify(ctx, p, password)
}

func (h *Hasher) verify(ctx context.Context, p phc, password []byte) error {
	release, err := h.acquire(ctx, p.params.MemoryKiB)
	if err != nil {
		return err
	}
	defer release()
	return p.verify(password)
}

// DummyVerify does the work of Verify against a hash of a random password
// at the current parameters and returns ErrPasswordMismatch (or ctx's
// error). A login for an unknown username calls it, so that the answer
// takes as long as a wrong password for a real user and its timing does
// not reveal which usernames exist. (A user whose stored hash has older
// parameters still differs; NeedsRehash keeps those few and short-lived.)
func (h *Hasher) DummyVerify(ctx context.Context, password []byte) error {
	if err := h.verify(ctx, h.dummy, password); err != nil && !errors.Is(err, ErrPasswordMismatch) {
		return err
	}
	return ErrPasswordMismatch
}

// NeedsRehash reports whether phc was made with weaker parameters than
// the Hasher's; see the package function NeedsRehash.
func (h *Hasher) NeedsRehash(phc string) bool { return NeedsRehash(phc, h.params) }

// TestParams are argon2id's cheapest parameters that still exercise the
// whole hash (8 MiB, one pass, one lane), for the tests of every package:
// a test hashes in milliseconds. They protect nothing; the daemon's config
// refuses costs below OWASP's floor, so they never reach production.
func TestParams() PasswordParams { return PasswordParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1} }
