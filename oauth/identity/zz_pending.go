package identity

// Placeholders until the TOTP and policy-file work lands from its branches
// (both in progress); they fail loudly and are removed by that merge.

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/accessd/accessd/oauth/api"
)

func NewTOTP(issuer, account string, rnd io.Reader) ([]byte, string, string, error) {
	return nil, "", "", errors.New("pending")
}
func VerifyTOTP(secret []byte, code string, now time.Time, lastStep int64) (int64, error) {
	return 0, errors.New("pending")
}
func (s *Service) Apply(ctx context.Context, a Actor, data []byte, dry bool) (api.ApplyResult, error) {
	return api.ApplyResult{}, errors.New("pending")
}
