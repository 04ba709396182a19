package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

const (
	crashDirEnv   = "ACCESSD_STORE_CRASH_DIR"
	crashRoundEnv = "ACCESSD_STORE_CRASH_ROUND"
)

// TestCrashChild is the writer TestCrashRecovery kills. It writes in a
// loop and prints each write to stdout only after the store acknowledged
// it: "u <id>" for a user created in a transaction that also staged its
// audit entry, "a <seq>" for an entry recorded through the audit log,
// "c <n>" for the counter's failed-login count (its LoginState) after an
// increment.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashRecovery")
	}
	round := os.Getenv(crashRoundEnv)
	q := audit.NewQueue()
	st, err := store.Open(dir, testRoot, store.Options{Audit: q})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, "child", what+":", err)
		os.Exit(3)
	}
	counter, err := st.Users().GetByUsername("counter")
	if errors.Is(err, store.ErrNotFound) {
		counter, err = st.Users().Create(store.User{Username: "counter"})
	}
	if err != nil {
		fail("counter", err)
	}
	log, err := audit.Open(st, q, audit.Options{})
	if err != nil {
		fail("audit open", err)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		var line string
		switch i % 3 {
		case 0:
			var id string
			err := st.Update(func(tx *store.Tx) error {
				u, err := tx.Users().Create(store.User{Username: fmt.Sprintf("crash-%s-%d", round, i), Email: fmt.Sprintf("crash-%s-%d@example.test", round, i)})
				if err != nil {
					return err
				}
				id = u.ID
				if _, err := tx.Credentials().Put(u.ID, func(store.Credential, bool) (store.Credential, error) {
					return store.Credential{ID: u.ID, PasswordHash: phc}, nil
				}); err != nil {
					return err
				}
				return tx.Audit().Stage(store.AuditEntry{Type: "user.create", Target: u.ID})
			})
			if err != nil {
				fail("create", err)
			}
			line = "u " + id
		case 1:
			if err := log.Record(context.Background(), store.AuditEntry{Type: "crash", Time: time.Now()}); err != nil {
				fail("record", err)
			}
			// One goroutine records: the head is at least this entry.
			seq, _ := log.Head()
			line = "a " + strconv.FormatUint(seq, 10)
		case 2:
			l, err := st.Logins().Put(counter.ID, func(l store.LoginState) (store.LoginState, error) { l.FailedLogins++; return l, nil })
			if err != nil {
				fail("update", err)
			}
			line = "c " + strconv.Itoa(l.FailedLogins)
		}
		// Acknowledged: the call returned. Only now may the parent know.
		out.WriteString(line + "\n")
		out.Flush()
	}
}

// TestCrashRecovery SIGKILLs a writing child at random moments, then
// reopens the store and checks that every write the child saw
// acknowledged is there and the store opens cleanly.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns 24 processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	dir := t.TempDir()
	ack := acknowledged{users: map[string]bool{}}
	const rounds = 24
	for round := range rounds {
		// Odd rounds die at a random moment from start, possibly while
		// Badger is still opening or replaying its logs; even rounds
		// after the first acknowledged write.
		wait := time.Duration(rng.IntN(250)) * time.Millisecond
		acked := runUntilKilled(t, dir, strconv.Itoa(round), round%2 == 0, wait)
		ack.add(t, round, acked)
		verifyAfterCrash(t, dir, round, ack.users, ack.maxSeq, ack.maxCounter)
		t.Logf("round %d: killed after %v, %d writes acknowledged", round, wait, len(acked))
	}
	ack.requireSome(t)
}

// acknowledged is what the killed children acknowledged over all rounds:
// the users created, the highest audit sequence and login counter.
type acknowledged struct {
	users      map[string]bool
	maxSeq     uint64
	maxCounter int
}

// add reads one round's acknowledgement lines ("u ID", "a SEQ", "c N").
func (a *acknowledged) add(t *testing.T, round int, lines []string) {
	t.Helper()
	for _, l := range lines {
		kind, val, _ := strings.Cut(l, " ")
		switch kind {
		case "u":
			a.users[val] = true
		case "a":
			n, _ := strconv.ParseUint(val, 10, 64)
			a.maxSeq = max(a.maxSeq, n)
		case "c":
			n, _ := strconv.Atoi(val)
			a.maxCounter = max(a.maxCounter, n)
		default:
			require.FailNow(t, fmt.Sprintf("round %d: unexpected child output %q", round, l))
		}
	}
}

// requireSome fails the test when too little was acknowledged for the
// rounds to prove anything.
func (a *acknowledged) requireSome(t *testing.T) {
	t.Helper()
	const few = "too few acknowledged writes to prove anything: %d users, seq %d, counter %d"
	require.NotEmpty(t, a.users, few, len(a.users), a.maxSeq, a.maxCounter)
	require.NotZero(t, a.maxSeq, few, len(a.users), a.maxSeq, a.maxCounter)
	require.NotZero(t, a.maxCounter, few, len(a.users), a.maxSeq, a.maxCounter)
}

func verifyAfterCrash(t *testing.T, dir string, round int, users map[string]bool, maxSeq uint64, maxCounter int) {
	t.Helper()
	q := audit.NewQueue()
	st, err := store.Open(dir, testRoot, store.Options{Audit: q})
	require.NoError(t, err, "round %d: store does not open after SIGKILL", round)
	defer st.Close()
	for id := range users {
		u, err := st.Users().Get(id)
		require.NoError(t, err, "round %d: acknowledged user %s lost", round, id)
		byName, err := st.Users().GetByUsername(u.Username)
		require.NoError(t, err, "round %d: username index of %s lost", round, id)
		require.Equal(t, id, byName.ID, "round %d: username index of %s lost", round, id)
		c, err := st.Credentials().Get(id)
		require.NoError(t, err, "round %d: credential of acknowledged user %s lost", round, id)
		require.Equal(t, phc, c.PasswordHash, "round %d: credential of acknowledged user %s lost", round, id)
	}
	// Opening the log chains what was staged before the kill; every
	// acknowledged change then has its entry, and the chain verifies.
	log, err := audit.Open(st, q, audit.Options{})
	require.NoError(t, err, "round %d: audit log does not open after SIGKILL", round)
	defer log.Close()
	entries, err := audit.List(st, 1, 0)
	require.NoError(t, err)
	require.GreaterOrEqual(t, uint64(len(entries)), maxSeq, "round %d: audit has %d entries, %d were acknowledged", round, len(entries), maxSeq)
	created := map[string]int{}
	for i, e := range entries {
		require.Equal(t, uint64(i+1), e.Seq, "round %d: audit gap at %d (seq %d)", round, i+1, e.Seq)
		if e.Type == "user.create" {
			created[e.Target]++
		}
	}
	for id := range users {
		require.Equal(t, 1, created[id], "round %d: acknowledged user %s has %d audit entries, want 1", round, id, created[id])
	}
	res, err := audit.Verify(st)
	require.NoError(t, err, "round %d: audit chain after SIGKILL", round)
	require.True(t, res.OK, "round %d: audit chain after SIGKILL: %+v", round, res)
	if maxCounter > 0 {
		c, err := st.Users().GetByUsername("counter")
		require.NoError(t, err)
		l, err := st.Logins().Get(c.ID)
		require.NoError(t, err, "round %d: counter", round)
		require.GreaterOrEqual(t, l.FailedLogins, maxCounter, "round %d: counter = %d, %d was acknowledged", round, l.FailedLogins, maxCounter)
	}
}
