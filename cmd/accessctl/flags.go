package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDuration reads a positive Go duration ("36h", "90m") or a whole
// number of days ("90d"), which the daemon's Go-duration fields lack but
// rotation and staleness are counted in.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("%q is not a duration: use a number of days such as 90d, or a Go duration such as 36h", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration: use a Go duration such as 36h or 90m, or days such as 90d", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be longer than zero", s)
	}
	return d, nil
}

// durationFlag validates a duration flag and gives the Go duration the
// daemon parses ("2160h0m0s" for "90d").
func durationFlag(path, name, v string) (string, error) {
	d, err := parseDuration(v)
	if err != nil {
		return "", usageErr(path, "--%s: %v", name, err)
	}
	return d.String(), nil
}

// parseSince reads --since: an RFC 3339 time, or a duration meaning that
// long before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration before now (24h, 7d)", s)
	}
	return now.Add(-d).UTC().Truncate(time.Second), nil
}

// parseSPKI checks --cert-spki: the hex SHA-256 of a certificate's
// SubjectPublicKeyInfo (openssl x509 -pubkey -noout | openssl pkey -pubin
// -outform der | sha256sum). Colons are dropped, case is folded.
func parseSPKI(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return "", fmt.Errorf("%q is not a SHA-256 in hex (64 hex digits)", s)
	}
	return h, nil
}

// positive checks a --page or --limit value.
func positive(path, name string, n int) error {
	if n < 1 {
		return usageErr(path, "--%s must be 1 or more, got %d", name, n)
	}
	return nil
}
