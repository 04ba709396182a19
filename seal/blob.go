package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// blobVersion is the first byte of the opaque blob *TPM.Seal returns.
const blobVersion = 1

// tpmBlob is what *TPM.Seal returns, opaque to callers:
//
//	version  u8 (1)
//	srkName  u16 length || TPM2B_NAME contents   (name of the SRK it was sealed under)
//	public   u16 length || TPMT_PUBLIC           (as TPM2B_PUBLIC)
//	private  u16 length || TPM2B_PRIVATE contents
//
// The SRK name lets Unseal tell "another TPM" from "corrupted" before the TPM
// rejects the object; public and private are checked by the TPM itself.
type tpmBlob struct {
	srkName []byte
	public  []byte
	private []byte
}

func encodeBlob(b tpmBlob) []byte {
	out := make([]byte, 0, 1+6+len(b.srkName)+len(b.public)+len(b.private))
	out = append(out, blobVersion)
	for _, f := range [][]byte{b.srkName, b.public, b.private} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

// parseBlob splits a blob into its fields. It checks only the framing: the
// TPM checks the contents.
func parseBlob(data []byte) (tpmBlob, error) {
	if len(data) == 0 {
		return tpmBlob{}, errors.New("empty TPM blob")
	}
	if data[0] != blobVersion {
		return tpmBlob{}, fmt.Errorf("TPM blob version %d, want %d", data[0], blobVersion)
	}
	rest := data[1:]
	var fields [3][]byte
	for i := range fields {
		if len(rest) < 2 {
			return tpmBlob{}, errors.New("TPM blob is truncated")
		}
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n == 0 || n > len(rest) {
			return tpmBlob{}, errors.New("TPM blob field length is out of range")
		}
		fields[i] = rest[:n:n]
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return tpmBlob{}, errors.New("TPM blob has trailing bytes")
	}
	return tpmBlob{srkName: fields[0], public: fields[1], private: fields[2]}, nil
}
