package identity

// Placeholder until the policy-file work lands from its branch (in
// progress); it fails loudly and is removed by that merge.

import (
	"context"
	"errors"

	"github.com/accessd/accessd/oauth/api"
)

func (s *Service) Apply(ctx context.Context, a Actor, data []byte, dry bool) (api.ApplyResult, error) {
	return api.ApplyResult{}, errors.New("pending")
}
