package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Tx is one transaction across every repository: what fn does through
// tx.Users(), tx.Groups(), tx.Audit()… commits together or not at all,
// and is fsynced before Update returns. A Tx is handed explicitly to the
// code that works in it; it is never kept past fn's return and never
// shared between goroutines.
type Tx struct {
	s      *Store
	txn    *badger.Txn
	write  bool
	staged bool // an audit entry was staged: wake the chain writer on commit
	// hold is the first key time this write staged an entry at, shared
	// by its attempts, 0 before it staged one; the write releases it
	// (auditQueue.done) when it ends, committed or not.
	hold *uint64
}

// exec is how a repository reaches Badger: joined to a Tx (every call
// runs in it) or not (every call is its own transaction, retried on
// conflict).
type exec struct {
	s  *Store
	tx *Tx
}

// errReadOnly says a write was attempted inside View.
var errReadOnly = fmt.Errorf("%w: write inside a read-only transaction", ErrInvalid)

func (x exec) update(fn func(txn *badger.Txn) error) error {
	if x.tx != nil {
		if !x.tx.write {
			return errReadOnly
		}
		return fn(x.tx.txn)
	}
	if err := x.s.eng.Acquire(); err != nil {
		return err
	}
	defer x.s.eng.Release()
	return x.s.eng.Retry(fn)
}

func (x exec) view(fn func(txn *badger.Txn) error) error {
	if x.tx != nil {
		return fn(x.tx.txn)
	}
	if err := x.s.eng.Acquire(); err != nil {
		return err
	}
	defer x.s.eng.Release()
	return x.s.eng.DB().View(fn)
}

// Update runs fn in one read-write transaction over all repositories and
// commits it, fsynced, before returning. When a concurrent writer commits
// a conflicting change first, fn is run again on fresh data (up to the
// store's retry limit, then ErrConflict), so fn must have no effect
// outside tx. An error from fn aborts the transaction and is returned as
// is. Audit entries staged in fn (tx.Audit().Stage) commit with the
// change and are chained shortly after by the audit writer.
func (s *Store) Update(fn func(tx *Tx) error) error {
	if err := s.eng.Acquire(); err != nil {
		return fmt.Errorf("store: update: %w", err)
	}
	defer s.eng.Release()
	staged := false
	var hold uint64
	defer s.queue.done(&hold)
	err := s.eng.Retry(func(txn *badger.Txn) error {
		tx := &Tx{s: s, txn: txn, write: true, hold: &hold}
		err := fn(tx)
		staged = tx.staged
		return err
	})
	if staged {
		// Even on an error: the commit may have been written with only
		// its sync failing, and a staged entry that is there must be
		// counted (the queue's Generation), or the chain writer would skip it
		// until its sweep. A wake for nothing costs one read.
		s.queue.committed()
	}
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("store: update: %w: transaction too large; split the change", ErrInvalid)
	}
	return err
}

// View runs fn in a read-only snapshot of all repositories.
func (s *Store) View(fn func(tx *Tx) error) error {
	if err := s.eng.Acquire(); err != nil {
		return fmt.Errorf("store: view: %w", err)
	}
	defer s.eng.Release()
	return s.eng.DB().View(func(txn *badger.Txn) error { return fn(&Tx{s: s, txn: txn}) })
}

// Users is the user repository inside this transaction.
func (tx *Tx) Users() *UserRepo { return &UserRepo{t: tx.s.userT, x: exec{tx.s, tx}} }

// Credentials is the credential repository inside this transaction.
func (tx *Tx) Credentials() *CredentialRepo {
	return &CredentialRepo{t: tx.s.credT, x: exec{tx.s, tx}}
}

// Logins is the login-state repository inside this transaction.
func (tx *Tx) Logins() *LoginStateRepo { return &LoginStateRepo{t: tx.s.loginT, x: exec{tx.s, tx}} }

// Groups is the group repository inside this transaction.
func (tx *Tx) Groups() *GroupRepo { return &GroupRepo{t: tx.s.groupT, x: exec{tx.s, tx}} }

// Applications is the application repository inside this transaction.
func (tx *Tx) Applications() *ApplicationRepo {
	return &ApplicationRepo{t: tx.s.appT, x: exec{tx.s, tx}}
}

// RefreshFamilies is the refresh-family repository inside this
// transaction.
func (tx *Tx) RefreshFamilies() *RefreshFamilyRepo {
	return &RefreshFamilyRepo{t: tx.s.familyT, x: exec{tx.s, tx}}
}

// SigningKeys is the signing-key repository inside this transaction.
func (tx *Tx) SigningKeys() *SigningKeyRepo {
	return &SigningKeyRepo{t: tx.s.signingT, x: exec{tx.s, tx}}
}

// RevokedTokens is the revoked-token repository inside this transaction.
func (tx *Tx) RevokedTokens() *RevokedTokenRepo {
	return &RevokedTokenRepo{t: tx.s.revokedT, x: exec{tx.s, tx}}
}

// Providers is the delivery-provider repository inside this transaction.
func (tx *Tx) Providers() *ProviderRepo { return &ProviderRepo{t: tx.s.providerT, x: exec{tx.s, tx}} }

// Audit stages audit entries that commit with this transaction.
func (tx *Tx) Audit() *AuditStage { return &AuditStage{tx: tx} }
