package login

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLedgerBoundedWithoutFailingClosed: a flood of (account, source)
// pairs, each failing once, never grows the ledger past ledgerCap, and
// never refuses a pair that has not failed; a pair that failed its
// limit stays refused while it is in use.
func TestLedgerBoundedWithoutFailingClosed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l := newLedger(5, 15*time.Minute)
	for range 5 {
		require.NoError(t, l.reserve("id:victim\x00192.0.2.1", now))
	}
	for i := range ledgerCap + ledgerCap/2 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		require.NoError(t, l.reserve(fmt.Sprintf("id:victim\x002001:db8:%x::/64", i), at), "pair %d", i)
		if i%1024 == 0 { // the throttled pair keeps being used
			require.Error(t, l.reserve("id:victim\x00192.0.2.1", at))
		}
	}
	now = now.Add(time.Duration(ledgerCap+ledgerCap/2) * time.Millisecond)
	require.LessOrEqual(t, l.size(), ledgerCap)
	require.NoError(t, l.reserve("id:owner\x00198.51.100.1", now), "a new pair is admitted when the ledger is full")
	require.Error(t, l.reserve("id:victim\x00192.0.2.1", now), "a throttled pair in use is not forgotten")
}
