package token

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessd/accessd/oauth/api"
)

// Token types lib-auth reads from the `type` claim.
const (
	TypeUser        = "normal-user"
	TypeApplication = "application"
)

// Claims are an access token's claims: RFC 9068's, plus what lib-auth
// reads (type, owner, azp, name), plus sid (the refresh family a user
// token belongs to, so logout ends both) and cnf (RFC 8705).
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	Type      string   `json:"type"`
	Owner     string   `json:"owner"`
	AZP       string   `json:"azp"`
	Name      string   `json:"name"`
	// DisplayName is what Lerian's console shows: a user's first and
	// last name, else the username; an application's name.
	DisplayName string `json:"displayName,omitempty"`
	// TenantID and TenantSlug are the subject's tenant, when it has one.
	TenantID   string        `json:"tenantId,omitempty"`
	TenantSlug string        `json:"tenantSlug,omitempty"`
	AuthTime   int64         `json:"auth_time,omitempty"`
	AMR        []string      `json:"amr,omitempty"`
	SessionID  string        `json:"sid,omitempty"`
	Cnf        *Confirmation `json:"cnf,omitempty"`
	// SecretCreated names the client secret an application token was
	// minted with (its creation, Unix nanoseconds): when that secret
	// ends (a rotation's grace is over), so does the token.
	SecretCreated int64 `json:"secret_created,omitempty"`
}

// Confirmation binds a token to a client certificate (RFC 8705 §3.1).
type Confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

// maxTokenLen bounds what is parsed at all: a token of accessd is well
// under 2 KiB even with an RSA signature.
const maxTokenLen = 4096

// errBadToken is every verification failure on the wire: the reason is
// for the log and audit, not for the presenter.
var errBadToken = fmt.Errorf("token: %w: the access token is invalid, expired or revoked", api.ErrUnauthorized)

// sign serialises and signs claims with the active key.
func (k *Keys) sign(c *Claims) (string, string, error) {
	a := k.active.Load()
	payload, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	obj, err := a.signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("token: sign: %w", err)
	}
	s, err := obj.CompactSerialize()
	return s, a.kid, err
}

// parse verifies a token's signature and header against the published
// keys and decodes its claims; time, issuer and revocation are the
// caller's. The reason of a failure is returned for logging.
func (k *Keys) parse(tok string) (*Claims, error) {
	payload, err := k.verifyCompact(tok, "at+jwt")
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return &c, nil
}

// verifyCompact checks a compact JWS of header type typ against the
// published keys and returns its payload.
func (k *Keys) verifyCompact(tok, typ string) ([]byte, error) {
	if len(tok) > maxTokenLen || strings.Count(tok, ".") != 2 {
		return nil, errors.New("not a compact JWS")
	}
	obj, err := jose.ParseSignedCompact(tok, verifyAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(obj.Signatures) != 1 {
		return nil, errors.New("not exactly one signature")
	}
	h := obj.Signatures[0].Protected
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(got, typ) {
		return nil, fmt.Errorf("typ %q is not %s", got, typ)
	}
	key, ok := k.key(h.KeyID)
	if !ok {
		return nil, errors.New("unknown kid")
	}
	if h.Algorithm != key.Algorithm {
		return nil, fmt.Errorf("alg %q is not the key's %q", h.Algorithm, key.Algorithm)
	}
	payload, err := obj.Verify(key.Key)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return payload, nil
}

// verified is a bounded cache of tokens whose signature was checked,
// keyed by the token's SHA-256: lib-auth sends the same token on every
// request its service receives. Only the signature check is cached;
// time, revocation and the subject's epoch are checked on every use.
type verified struct {
	shards [cacheShards]cacheShard
}

const (
	cacheShards   = 32
	cachePerShard = 2048 // 64k tokens in all
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*Claims
}

func (v *verified) get(sum [32]byte) (*Claims, bool) {
	s := &v.shards[sum[0]%cacheShards]
	s.mu.RLock()
	c, ok := s.m[sum]
	s.mu.RUnlock()
	return c, ok
}

func (v *verified) put(sum [32]byte, c *Claims, now time.Time) {
	s := &v.shards[sum[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[[32]byte]*Claims, cachePerShard)
	}
	if len(s.m) >= cachePerShard {
		for k, old := range s.m { // expired first; else any (map order)
			if old.Expiry <= now.Unix() || len(s.m) >= cachePerShard {
				delete(s.m, k)
			}
			if len(s.m) < cachePerShard*3/4 {
				break
			}
		}
	}
	s.m[sum] = c
}

func tokenSum(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }
