package store

import (
	"encoding/binary"
	"encoding/json"

	"github.com/dgraph-io/badger/v4"
)

// Test-only hooks for the audit tamper tests of package store_test
// (which may import store/audit; package store's own tests may not).
// This file is compiled only into store's test binary: the store's API
// has no way to change or remove an audit entry. The keys are the audit
// log's (store/audit keeps them in the store's audit keyspace).

var metaAuditCheckpoint = []byte("meta/auditcheckpoint")

func auditKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte("audit/"), seq) }

// AuditPutForTest writes e as audit entry seq with a valid record MAC:
// what an insider holding the root key can do, and the hash chain must
// still show.
func AuditPutForTest(s *Store, seq uint64, e AuditEntry) error {
	val, err := json.Marshal(&e)
	if err != nil {
		return err
	}
	return s.eng.DB().Update(func(txn *badger.Txn) error { return s.keys.mac.put(txn, auditKey(seq), val) })
}

// AuditDeleteForTest removes audit entry seq.
func AuditDeleteForTest(s *Store, seq uint64) error {
	return s.eng.DB().Update(func(txn *badger.Txn) error { return txn.Delete(auditKey(seq)) })
}

// AuditFlipForTest flips one bit of byte i of audit entry seq as stored
// (value and MAC), without the MAC key: damage or tampering on disk.
func AuditFlipForTest(s *Store, seq uint64, i int) error {
	return s.eng.DB().Update(func(txn *badger.Txn) error {
		item, err := txn.Get(auditKey(seq))
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		b[i%len(b)] ^= 0x01
		return txn.Set(auditKey(seq), b)
	})
}

// AuditRawLenForTest returns the stored length of audit entry seq.
func AuditRawLenForTest(s *Store, seq uint64) (int, error) {
	n := 0
	err := s.eng.DB().View(func(txn *badger.Txn) error {
		item, err := txn.Get(auditKey(seq))
		if err != nil {
			return err
		}
		n = int(item.ValueSize())
		return nil
	})
	return n, err
}

// AuditCheckpointPutForTest writes cp as the audit checkpoint with a
// valid record MAC and none of Prune's checks: an insider's edit. cp is
// an audit.Checkpoint.
func AuditCheckpointPutForTest(s *Store, cp any) error {
	val, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return s.eng.DB().Update(func(txn *badger.Txn) error { return s.keys.mac.put(txn, metaAuditCheckpoint, val) })
}

// AuditCheckpointDeleteForTest removes the audit checkpoint.
func AuditCheckpointDeleteForTest(s *Store) error {
	return s.eng.DB().Update(func(txn *badger.Txn) error { return txn.Delete(metaAuditCheckpoint) })
}

// AuditCheckpointFlipForTest flips one bit of the stored checkpoint
// without the MAC key.
func AuditCheckpointFlipForTest(s *Store, i int) error {
	return s.eng.DB().Update(func(txn *badger.Txn) error {
		item, err := txn.Get(metaAuditCheckpoint)
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		b[i%len(b)] ^= 0x01
		return txn.Set(metaAuditCheckpoint, b)
	})
}
